import ESPNowDevice
import ESPNowGateway
import ESPNowSimulator
import ESPNowWire
import Foundation
import GatewayTestSupport
import Testing

/// Node keys (LMKs) the gateway gives its dongles.
@Suite("Gateway node keys")
struct GatewayLMKTests {
    /// A key set while the gateway runs (the HTTP API's PATCH) is in the node registry: a
    /// restarted gateway gives it to a dongle that has forgotten its peers, and the node's
    /// encrypted packets are received again. Without the key they are not received at all.
    @Test(arguments: Backend.allCases)
    func aKeySetWhileRunningOutlivesARestart(_ backend: Backend) async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 2))
        defer { air.shutdown() }
        let gwPort = air.dongles[0].port!
        let gwMAC = try #require(air.dongles[0].staMAC)
        let node = try await GatewayServiceTests.nodeDevice(air.dongles[1].port!)
        defer { Task { await node.close() } }
        let lmk: [UInt8] = Array(0x10..<0x20)
        try await node.espNowAddPeer(PeerInfo(peerAddr: gwMAC, lmk: lmk, channel: 0, encrypt: true))
        let store = try await backend.makeStore()
        var config = GatewayConfig()
        config.gatewayID = "keys"
        config.spoolPath = tempPath("spool.sqlite")  // PostgreSQL is remote: the gateway spools
        var seq: UInt32 = 0
        func send() async throws {
            seq += 1
            _ = try await node.espNowSend(peer: gwMAC, data: GatewayServiceTests.simPayload(seq: seq), sync: true)
        }

        let first = try Gateway(config: config, store: try reopen(store), ports: [gwPort])
        try await GatewayServiceTests.running([first]) {
            try await eventually("the dongle listening") { first.stats.dongles[gwPort]?.connected == true }
            try await first.updateNode(node.info.staMAC, name: nil, decoder: nil, lmk: lmk)
            try await eventually("an encrypted reading stored") {
                try await send()
                return first.stats.stored >= 1
            }
        }
        // The dongle reboots while no gateway runs: its peers are gone.
        try await air.reboot(0)

        let second = try Gateway(config: config, store: try reopen(store), ports: [gwPort])
        try await GatewayServiceTests.running([second]) {
            try await eventually("the dongle listening") { second.stats.dongles[gwPort]?.connected == true }
            try await eventually("an encrypted reading stored after the restart") {
                try await send()
                return second.stats.stored >= 1
            }
        }
        #expect(try await store.nodeLMKs() == [node.info.staMAC: lmk])
        await store.close()
    }
}
