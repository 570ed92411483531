import BuiltProducts
import ESPNow
import ESPNowSimulator
import Foundation
import Testing

struct NodeTestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Arduino sketches written like the common ESP-NOW tutorials (Tests/Nodes/sketches), built
/// with the node runtime and run as firmware nodes beside a dongle driven from Swift.
@Suite struct FirmwareNodeTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The `espnow` executable built next to this test bundle.
    static let espnow = BuiltProducts.path("espnow")

    /// Runs `espnow node build ARGS`; returns (status, stdout, stderr).
    static func nodeBuild(_ args: [String]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: espnow)
        p.arguments = ["node", "build"] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Builds a sketch with `espnow node build` into a temporary directory (removed with
    /// `removeBuild`); returns the executable.
    static func build(_ sketch: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("node-\(sketch)-\(getpid())-\(UUID().uuidString)").path
        let (status, out, err) = try nodeBuild([repo.appendingPathComponent("Tests/Nodes/sketches/\(sketch)/\(sketch).ino").path,
                                                "--build-dir", dir])
        guard status == 0, let path = out.split(separator: "\n").last.map(String.init) else {
            throw NodeTestError("espnow node build \(sketch) failed (status \(status)): \(err)")
        }
        return path
    }

    static func removeBuild(_ executable: String) {
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: executable).deletingLastPathComponent().path)
    }

    @Test func nodeBuildRefusesWhatIsNotAProject() throws {
        let (status, out, err) = try Self.nodeBuild(["/nonexistent/project"])
        #expect(status == 1 && out.isEmpty)
        #expect(err.contains("not an ESP-IDF project (no main/ directory)"))
        let (s2, _, e2) = try Self.nodeBuild(["/nonexistent/sketch.ino"])
        #expect(s2 == 1 && e2.contains("no such sketch"))
    }

    /// The tutorials' struct_message: char a[32]; int b; float c; bool d (44 bytes with padding).
    static func message(_ a: String, _ b: Int32, _ c: Float, _ d: Bool) -> [UInt8] {
        var out = Array(a.utf8.prefix(31)) + [UInt8](repeating: 0, count: 32 - min(a.utf8.count, 31))
        withUnsafeBytes(of: b.littleEndian) { out += $0 }
        withUnsafeBytes(of: c.bitPattern.littleEndian) { out += $0 }
        out += [d ? 1 : 0, 0, 0, 0]
        return out
    }

    /// Console lines of firmware node `node` until `done` holds for them (60 s hang guard).
    static func lines(_ air: SimulatedAir, node: Int, until done: @escaping @Sendable ([String]) -> Bool) async throws -> [String] {
        try await withThrowingTaskGroup(of: [String]?.self) { g in
            g.addTask {
                var got: [String] = []
                for await ev in air.events {
                    guard case .other(let line) = ev,
                          let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                          o["node"] as? Int == node, let log = o["log"] as? String else { continue }
                    got.append(log)
                    if done(got) { return got }
                }
                return got
            }
            g.addTask {
                try await Task.sleep(for: .seconds(60))
                return nil
            }
            let first = try await g.next()!
            g.cancelAll()
            guard let got = first else { throw NodeTestError("node \(node) did not print the expected lines") }
            return got
        }
    }

    @Test func receiverSketchGetsTheStructFromADongle() async throws {
        let receiver = try Self.build("receiver")
        defer { Self.removeBuild(receiver) }
        var o = AirOptions(dongles: 1, nodes: ["app=\(receiver),mac=02:00:00:00:00:50"])
        o.realtime = true
        try await withAir(o) { air, es in
            let e = es[0]
            try await WLAN(.sta, e).active(true)
            try await e.initialize()
            let to: [UInt8] = [0x02, 0, 0, 0, 0, 0x50]
            try await e.addPeer(to)
            let msg = Self.message("FROM THE DONGLE", 4242, 3.5, true)
            #expect(msg.count == 44)
            // The sketch may still be booting: the send is acknowledged once its radio is up.
            var acked = false
            for _ in 0..<300 where !acked {
                acked = try await e.send(to, msg)
                if !acked { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(acked)
            let got = try await Self.lines(air, node: 1) { $0.contains { $0.hasPrefix("From: ") } }
            #expect(got.contains("Bytes received: 44"))
            #expect(got.contains("Char: FROM THE DONGLE"))
            #expect(got.contains("Int: 4242"))
            #expect(got.contains("Float: 3.50"))
            let myMAC = try await WLAN(.sta, e).config("mac").map { String(format: "%02x", $0) }.joined(separator: ":")
            #expect(got.contains { $0.hasPrefix("From: \(myMAC) at ") })
        }
    }

    @Test func senderSketchReachesADongleAndAReceiverSketch() async throws {
        let sender = try Self.build("sender")
        let receiver = try Self.build("receiver")
        defer {
            Self.removeBuild(sender)
            Self.removeBuild(receiver)
        }
        // The dongle takes the address the sender sketch sends to; the receiver sketch overhears nothing.
        var o = AirOptions(nodes: ["app=\(sender),mac=02:00:00:00:00:40"])
        o.sceneJSON = #"{"dongles": [{"sta_mac": "02:00:00:00:00:50"}]}"#
        o.expectRadios = 2
        o.realtime = true
        try await withAir(o) { air, es in
            let e = es[0]
            try await WLAN(.sta, e).active(true)
            try await e.initialize()
            var counters: [Int32] = []
            for _ in 0..<3 {
                let (from, msg) = try await e.recv(20_000)
                #expect(from == [0x02, 0, 0, 0, 0, 0x40])
                guard let m = msg, m.count == 44 else {
                    Issue.record("expected the 44-byte struct, got \(msg?.count ?? -1) bytes")
                    return
                }
                #expect(String(decoding: m.prefix(while: { $0 != 0 }), as: UTF8.self) == "THIS IS A CHAR")
                counters.append(m[32..<36].withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(as: Int32.self)) })
                #expect(m[36..<40].withUnsafeBytes { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) } == 1.2)
                #expect(m[40] == 0)
            }
            #expect(counters.count == 3 && zip(counters, counters.dropFirst()).allSatisfy { $1 == $0 + 1 })
            let got = try await Self.lines(air, node: 1) { $0.filter { $0.contains("Delivery Success") }.count >= 1 }
            #expect(got.contains("Last Packet Send Status: Delivery Success"))
        }
        // Sketch to sketch, no dongle needed for them to talk.
        var o2 = AirOptions(dongles: 1, nodes: ["app=\(sender),mac=02:00:00:00:00:40", "app=\(receiver),mac=02:00:00:00:00:50"])
        o2.realtime = true
        let air = try await SimulatedAir.start(o2)
        defer { air.shutdown() }
        let got = try await Self.lines(air, node: 2) { $0.contains { $0.hasPrefix("From: 02:00:00:00:00:40") } }
        #expect(got.contains("Char: THIS IS A CHAR") && got.contains("Float: 1.20") && got.contains("Bool: 0"))
    }
}
