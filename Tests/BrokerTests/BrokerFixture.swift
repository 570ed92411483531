import ESPNowBroker
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A simulated air with two dongles: dongle 0 is owned by a broker on a Unix socket in a
/// fresh directory, dongle 1 ("remote") is opened directly and talks to it over the air.
struct BrokerFixture {
    let air: SimulatedAir
    let broker: Broker
    let remote: ESPNowDevice
    let socket: String
    var url: String { "unix:\(socket)" }
    var brokeredMAC: MACAddress { broker.device.info.staMAC }

    static func with(realtime: Bool = false, dongles: Int = 2, configure: (inout BrokerConfiguration) -> Void = { _ in },
                     _ body: (BrokerFixture) async throws -> Void) async throws {
        var o = AirOptions(dongles: dongles)
        o.realtime = realtime
        let air = try await SimulatedAir.start(o)
        defer { air.shutdown() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-broker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = BrokerConfiguration(devicePath: air.dongles[0].port!)
        c.socketPath = dir + "/dongle.sock"
        configure(&c)
        var log = Logger(label: "espnow.broker")
        log.logLevel = .warning
        let broker = try await Broker.start(c, logger: log)
        let remote: ESPNowDevice
        do {
            remote = try await ESPNowDevice.connect(path: air.dongles[1].port!)
        } catch {
            await broker.close()
            throw error
        }
        let f = BrokerFixture(air: air, broker: broker, remote: remote, socket: c.socketPath!)
        do {
            try await remote.wifiSetIfActive(.sta, true)
            try await remote.espNowInit()
            try await remote.espNowAddPeer(PeerInfo(peerAddr: f.brokeredMAC))
            try await body(f)
        } catch {
            await remote.close()
            await broker.close()
            throw error
        }
        await remote.close()
        await broker.close()
    }

    /// A client of the broker, with STA active and ESP-NOW initialised (idempotent, as every
    /// CLI command does it).
    func client(_ options: DeviceOptions = DeviceOptions()) async throws -> ESPNowDevice {
        var o = options
        o.autoReconnect = false
        let d = try await ESPNowDevice.connect(url: url, options: o)
        try await d.wifiSetIfActive(.sta, true)
        try await d.espNowInit()
        return d
    }
}

/// Waits (polling, hang-guarded by `tries`) until `condition` holds.
func eventually(tries: Int = 200, _ condition: () async throws -> Bool) async throws -> Bool {
    for _ in 0..<tries {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return false
}

/// Reads `n` packets from `d` (hang guard: a generous timeout per packet).
func receive(_ d: ESPNowDevice, _ n: Int) async throws -> [[UInt8]] {
    var out: [[UInt8]] = []
    while out.count < n {
        guard let p = try await d.packetQueue.next(timeout: .seconds(20)) else { break }
        out.append(Array(p.data.readableBytesView))
    }
    return out
}
