import ESPNowGateway
import ESPNowWire
import GatewayTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

func uplink(_ node: MACAddress, _ payload: [UInt8], at t: Int64 = 1_700_000_000_000_000, rssi: Int8 = -50) -> Uplink {
    Uplink(node: node, payload: payload, hostTimeUs: t, deviceTimeUs: 1, rssi: rssi, channel: 1, rate: 0, dongle: "test")
}

func ingest(_ u: Uplink, _ kind: DecoderKind = .auto, gateway: String = "gw1", layouts: [BinaryLayout] = []) -> Ingest {
    Ingest(uplink: u, decoded: PayloadDecoder(layouts: layouts).decode(u.payload, as: kind), gateway: gateway)
}

/// Polls `condition` (a hang guard, not a timing assertion).
func eventually(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("timed out waiting for \(what)")
    throw StoreError("timed out waiting for \(what)")
}

let nodeA = MACAddress(0x02, 0, 0, 0, 0, 0xA1)
let nodeB = MACAddress(0x02, 0, 0, 0, 0, 0xB2)

/// A new handle on the same database (the gateway closes its own when it stops).
func reopen(_ s: any GatewayStore) throws -> any GatewayStore {
    if let q = s as? SQLiteStore { return try SQLiteStore(path: q.path) }
    return try PostgresStore(url: (s as! PostgresStore).url)
}
