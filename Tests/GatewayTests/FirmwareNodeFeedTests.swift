import ESPNowDevice
import ESPNowGateway
import ESPNowSimulator
import ESPNowWire
import Foundation
import GatewayTestSupport
import Testing

/// The gateway fed by firmware nodes: ESP-IDF C code (Tests/Nodes/apps/gwsensor) built with
/// `espnow node build` and run by `espnow-sim --node app=…` as radios on the same air.
@Suite("Gateway fed by firmware nodes")
struct FirmwareNodeFeedTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Builds the node app into a temporary directory; returns the executable.
    static func buildSensor() throws -> String {
        let dir = tempPath("gwsensor-build")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try CommandTests.espnowPath())
        p.arguments = ["node", "build", Self.repo.appendingPathComponent("Tests/Nodes/apps/gwsensor").path, "--build-dir", dir]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let e = Locked(Data())
        let t = Thread { e.set(err.fileHandleForReading.readDataToEndOfFile()) }
        t.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !t.isFinished { usleep(10_000) }
        guard p.terminationStatus == 0, let path = String(decoding: o, as: UTF8.self).split(separator: "\n").last.map(String.init) else {
            throw StoreError("espnow node build gwsensor failed: \(String(decoding: e.get(), as: UTF8.self))")
        }
        return path
    }

    /// What one node logged it sent: seq → (temp centi-degrees, humidity) for the readings
    /// its radio saw acknowledged, and how many were not.
    struct Sent: Sendable {
        var delivered: [Int64: (Int, Int)] = [:]
        var lost = 0
        var done = false
    }

    /// Two nodes (one sending a packed binary layout, one JSON) start when the gateway
    /// says "go" (a broadcast from its dongle, sent by a second client through the
    /// gateway's broker), send 100 numbered readings each, and the gateway stores exactly
    /// the readings their radios saw acknowledged, once each, with the values they sent.
    @Test func gatewayStoresExactlyWhatTheFirmwareNodesSent() async throws {
        let bin = try Self.buildSensor()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: bin).deletingLastPathComponent().path) }
        let layoutNode = try #require(MACAddress("02:00:00:00:00:20"))  // even: binary layout
        let jsonNode = try #require(MACAddress("02:00:00:00:00:31"))    // odd: JSON
        let air = try await SimulatedAir.start(AirOptions(dongles: 1, nodes: ["app=\(bin),mac=\(layoutNode)", "app=\(bin),mac=\(jsonNode)"],
                                                          realtime: true))
        defer { air.shutdown() }
        // The app's Kconfig default names the simulator's first dongle.
        try #require(air.dongles.first { $0.isDongle }?.staMAC == MACAddress("02:5e:b1:f1:00:00"))
        let sent = Locked([MACAddress: Sent]())
        let collector = Task {
            for await ev in air.events {
                guard case .other(let line) = ev,
                      let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                      let log = o["log"] as? String, log.contains("gwsensor: ") else { continue }
                let words = log.split(separator: " ")
                guard let i = words.firstIndex(of: "gwsensor:"), i + 1 < words.count, let mac = MACAddress(String(words[i + 1])) else { continue }
                let rest = Array(words[(i + 2)...])
                var s = sent.get()
                var n = s[mac] ?? Sent()
                if rest.count >= 3, rest[0] == "reading", let seq = Int64(rest[1]) {
                    if rest[2] == "delivered", rest.count >= 5,
                       let t = Int(rest[3].dropFirst(5)), let h = Int(rest[4].dropFirst(4)) {
                        n.delivered[seq] = (t, h)
                    } else if rest[2] == "not" {
                        n.lost += 1
                    }
                } else if rest.first == "done:" {
                    n.done = true
                }
                s[mac] = n
                sent.set(s)
                if s.count == 2 && s.values.allSatisfy(\.done) { return }
            }
        }
        defer { collector.cancel() }

        var config = GatewayConfig()
        config.gatewayID = "fw"
        config.layouts = [try BinaryLayout(name: "th", spec: "<u8 kind=0x54, u32 seq, i16 temp/100 °C, u8 humidity %")]
        config.nodes[layoutNode] = NodeConfig(mac: layoutNode, name: "packed", decoder: .layout("th"))
        var serve = ServeConfig()
        let socket = tempPath("fw.sock")
        serve.socket = socket
        config.serve = serve
        let store = try SQLiteStore(path: tempPath("fw.sqlite"))
        let gateway = try Gateway(config: config, store: store, ports: [air.dongles[0].port!])
        try await GatewayServiceTests.running([gateway]) {
            try await eventually("the gateway listening") { gateway.stats.dongles.values.first?.connected == true }
            let client = try await ESPNowDevice.connect(path: "unix:" + socket)
            defer { Task { await client.close() } }
            try await client.espNowAddPeer(PeerInfo(peerAddr: .broadcast))
            _ = try await client.espNowSend(peer: .broadcast, data: Array("go".utf8), sync: true)
            try await eventually("both nodes finished", timeout: .seconds(120)) { sent.get().values.filter(\.done).count == 2 }
            let total = sent.get().values.reduce(0) { $0 + $1.delivered.count }
            try await eventually("every delivered reading stored") { gateway.stats.stored >= Int64(total) }
        }
        collector.cancel()
        let log = sent.get()
        let check = try SQLiteStore(path: store.path)
        for (mac, decoder) in [(layoutNode, "layout:th"), (jsonNode, "json")] {
            let s = try #require(log[mac])
            #expect(s.delivered.count + s.lost == 100)
            #expect(s.delivered.count > 0)
            let packets = try await check.packets(node: mac, limit: 1000)
            #expect(packets.compactMap(\.seq).sorted() == s.delivered.keys.sorted(), "\(mac)")
            #expect(packets.allSatisfy { $0.decoder == decoder && $0.error == nil }, "\(mac)")
            let temps = try await check.readings(node: mac, field: "temp", sinceUs: nil, limit: 1000)
            let hums = try await check.readings(node: mac, field: decoder == "json" ? "hum" : "humidity", sinceUs: nil, limit: 1000)
            let seqOf = Dictionary(uniqueKeysWithValues: packets.compactMap { p in p.seq.map { (p.id, $0) } })
            for t in temps {
                let seq = try #require(seqOf[t.packetID])
                let want = try #require(s.delivered[seq])
                #expect(abs((t.reading.value ?? -999) - Double(want.0) / 100) < 1e-9)
            }
            for h in hums {
                let seq = try #require(seqOf[h.packetID])
                let want = try #require(s.delivered[seq])
                #expect(h.reading.value == Double(want.1))
            }
            #expect(temps.count == s.delivered.count && hums.count == s.delivered.count)
        }
        #expect(gateway.stats.stored == Int64(log.values.reduce(0) { $0 + $1.delivered.count }))
        #expect(gateway.stats.duplicates == 0 && gateway.stats.decodeErrors == 0)
        await check.close()
    }
}
