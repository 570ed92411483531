// `make bench-broker`: what sharing a dongle costs. Prints figures, asserts nothing.
//  1. Added latency through a broker on a Unix socket: PING and a sync send, each measured
//     directly on the dongle and then through the broker (same dongle, same air), p50/p99.
//  2. Eight clients listening through the broker while a remote dongle sends as fast as a
//     realtime air at 54 Mbps allows: packets each client got, and drops (the broker's and
//     the dongle's).
import ESPNowBroker
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Logging

func percentile(_ v: [Double], _ p: Double) -> Double {
    let s = v.sorted()
    guard !s.isEmpty else { return .nan }
    return s[min(s.count - 1, Int(Double(s.count - 1) * p + 0.5))]
}

func us(_ d: Double) -> String { String(format: "%7.1f µs", d * 1e6) }

func timed(_ n: Int, _ body: () async throws -> Void) async throws -> [Double] {
    var out: [Double] = []
    out.reserveCapacity(n)
    for _ in 0..<n {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try await body()
        out.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return out
}

func quietLogger(_ label: String) -> Logger {
    var l = Logger(label: label)
    l.logLevel = .error
    return l
}

@main
struct BrokerBench {
    static func main() async throws {
        let pings = Int(ProcessInfo.processInfo.environment["BENCH_N"] ?? "") ?? 2000
        try await latency(n: pings)
        try await fanOut(clients: 8, seconds: 5)
    }

    static func latency(n: Int) async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 2))
        defer { air.shutdown() }
        var o = DeviceOptions()
        o.logger = quietLogger("bench")
        let remote = try await ESPNowDevice.connect(path: air.dongles[1].port!, options: o)
        try await remote.wifiSetIfActive(.sta, true)
        try await remote.espNowInit()
        let target = remote.info.staMAC

        func measure(_ d: ESPNowDevice) async throws -> (ping: [Double], send: [Double]) {
            try await d.wifiSetIfActive(.sta, true)
            try await d.espNowInit()
            if try await !d.espNowIsPeerExist(target) { try await d.espNowAddPeer(PeerInfo(peerAddr: target)) }
            _ = try await timed(200) { _ = try await d.ping([1, 2, 3, 4]) }  // warm-up
            let p = try await timed(n) { _ = try await d.ping([1, 2, 3, 4]) }
            let s = try await timed(n / 2) { _ = try await d.espNowSend(peer: target, data: [0x42], sync: true) }
            return (p, s)
        }
        let direct0 = try await ESPNowDevice.connect(path: air.dongles[0].port!, options: o)
        let direct = try await measure(direct0)
        await direct0.close()

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("broker-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = BrokerConfiguration(devicePath: air.dongles[0].port!)
        c.socketPath = dir + "/d.sock"
        let broker = try await Broker.start(c, logger: quietLogger("broker"))
        var co = o
        co.autoReconnect = false
        let client = try await ESPNowDevice.connect(url: "unix:\(dir)/d.sock", options: co)
        let brokered = try await measure(client)
        await client.close()
        await broker.close()
        await remote.close()

        print("Added latency through a broker on a Unix socket (simulated dongle on a pty, instant air, \(n) PINGs, \(n / 2) sync sends):")
        print("                      direct p50    p99        broker p50    p99        added p50     p99")
        for (name, d, b) in [("PING", direct.ping, brokered.ping), ("sync send", direct.send, brokered.send)] {
            let (dp50, dp99, bp50, bp99) = (percentile(d, 0.5), percentile(d, 0.99), percentile(b, 0.5), percentile(b, 0.99))
            print("  \(name.padding(toLength: 10, withPad: " ", startingAt: 0))  \(us(dp50)) \(us(dp99))    \(us(bp50)) \(us(bp99))    \(us(bp50 - dp50)) \(us(bp99 - dp99))")
        }
    }

    static func fanOut(clients: Int, seconds: Double) async throws {
        var ao = AirOptions(dongles: 2)
        ao.realtime = true
        let air = try await SimulatedAir.start(ao)
        defer { air.shutdown() }
        var o = DeviceOptions()
        o.logger = quietLogger("bench")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("broker-bench-fan-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = BrokerConfiguration(devicePath: air.dongles[0].port!)
        c.socketPath = dir + "/d.sock"
        let broker = try await Broker.start(c, logger: quietLogger("broker"))
        let dongle = broker.device.info.staMAC
        var listeners: [ESPNowDevice] = []
        var co = o
        co.autoReconnect = false
        co.packetQueueCapacity = 1 << 20
        for _ in 0..<clients {
            let l = try await ESPNowDevice.connect(url: "unix:\(dir)/d.sock", options: co)
            try await l.wifiSetIfActive(.sta, true)
            try await l.espNowInit()
            listeners.append(l)
        }
        _ = try await listeners[0].setRxbuf(16 * 1024)
        let remote = try await ESPNowDevice.connect(path: air.dongles[1].port!, options: o)
        try await remote.wifiSetIfActive(.sta, true)
        try await remote.espNowInit()
        try await remote.wifiConfigESPNowRate(.sta, rate: 0x0C)  // WIFI_PHY_RATE_54M
        try await remote.espNowAddPeer(PeerInfo(peerAddr: dongle))
        let counts = listeners.map { l in
            Task { () -> Int in
                var n = 0
                while let _ = try? await l.packetQueue.next(timeout: .seconds(3)) { n += 1 }
                return n
            }
        }
        let payload = [UInt8](repeating: 0xA5, count: 250)
        let end = Date().addingTimeInterval(seconds)
        let start = Date()
        let sent = try await withThrowingTaskGroup(of: Int.self) { g in
            for _ in 0..<4 {
                g.addTask {
                    var k = 0
                    while Date() < end {
                        _ = try await remote.espNowSend(peer: dongle, data: payload, sync: true)
                        k += 1
                    }
                    return k
                }
            }
            return try await g.reduce(0, +)
        }
        let elapsed = Date().timeIntervalSince(start)
        var got: [Int] = []
        for t in counts { got.append(await t.value) }
        let deviceDropped = listeners[0].hostCounters.deviceDropped[1] ?? 0
        let k = broker.counters
        print("Eight clients listening through a broker, realtime air at 54 Mbps, 250-byte unicasts:")
        print("  sent \(sent) in \(String(format: "%.1f", elapsed)) s = \(Int(Double(sent) / elapsed)) packets/s (acknowledged)")
        print("  received per client: \(got.map(String.init).joined(separator: " "))")
        print("  dropped by the broker for clients: \(k.droppedForClients); by the dongle (rx buffer): \(deviceDropped); "
              + "host queue drops: \(listeners.map { $0.hostCounters.packetsDropped }.reduce(0, +))")
        for l in listeners { await l.close() }
        await remote.close()
        await broker.close()
    }
}
