import Foundation
import Testing

/// `send` input modes and delivery, `peers mod`.
@Suite(.serialized) struct SendTests {
    /// Listens for `n` packets on `port` while `body` runs; returns their JSON objects.
    static func received(_ n: Int, on port: String, _ body: () async throws -> Void) async throws -> [[String: Any]] {
        let l = try Harness.Running(Harness.espnow, ["listen", "--port", port, "--count", "\(n)", "--timeout", "60", "--json", "--rxbuf", "8192"])
        try await l.waitForStderr("listening on")
        try await body()
        let r = await l.wait()
        #expect(r.status == 0, "\(r.stderr)")
        return try r.json().filter { $0["event"] == nil }
    }

    @Test func stdinModes() async throws {
        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let (rx, tx) = (air.dongles[0], air.dongles[1])
        // Binary stdin: sent as it is (not mangled, not split at 0x0A).
        let bin = try await Self.received(1, on: rx.port) {
            let r = try await Harness.run(["send", "--port", tx.port, "broadcast"], bytes: Data([0x00, 0xFF, 0x0A, 0xFE, 0x0A]))
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(bin.first?["payload_hex"] as? String == "00ff0afe0a")
        // --raw: cut into packets of the maximum size (1470 on this dongle).
        let big = try await Self.received(2, on: rx.port) {
            let r = try await Harness.run(["send", "--port", tx.port, "broadcast", "--raw"], bytes: Data(repeating: 0x41, count: 1500))
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(big.map { $0["len"] as? Int } == [1470, 30])
        // Text: one packet per line, blank lines skipped.
        let text = try await Self.received(2, on: rx.port) {
            let r = try await Harness.run(["send", "--port", tx.port, "broadcast", "--lines"], stdin: "a\n\n  \nb\n")
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(text.map { $0["payload_text"] as? String } == ["a", "b"])
        // An empty message is a usage error before anything is opened (the port does not exist).
        let empty = try await Harness.run(["send", "--port", "/nonexistent/port", "broadcast", ""])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("empty"))
        #expect(try await Harness.run(["send", "--port", "/nonexistent/port", "broadcast"], stdin: "\n\n").status == 1)
    }

    @Test func sendWaitsForDeliveryByDefault() async throws {
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        let port = air.dongles[0].port
        let nobody = try await Harness.run(["send", "--port", port, "02:00:00:00:00:99", "hello"])
        #expect(nobody.status == 3)
        #expect(nobody.stdout.contains("not acknowledged"))
        let queued = try await Harness.run(["send", "--port", port, "02:00:00:00:00:99", "hello", "--no-wait", "--json"])
        #expect(queued.status == 0, "\(queued.stderr)")
        #expect(try queued.json().last?["status"] as? String == "queued")
    }

    @Test func peersModChangesOnlyWhatIsGiven() async throws {
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        let port = air.dongles[0].port
        let mac = "24:6f:28:aa:bb:cc"
        #expect(try await Harness.run(["peers", "add", mac, "--channel", "1", "--port", port]).status == 0)
        func peer() async throws -> [String: Any]? {
            try await Harness.run(["peers", "list", "--port", port, "--json"]).json().first { $0["mac"] as? String == mac }
        }
        #expect(try await Harness.run(["peers", "mod", mac, "--encrypt", "--lmk", "00112233445566778899aabbccddeeff", "--port", port]).status == 0)
        var p = try #require(try await peer())
        #expect(p["channel"] as? Int == 1)
        #expect(p["encrypt"] as? Bool == true)
        #expect(try await Harness.run(["peers", "mod", mac, "--channel", "0", "--port", port]).status == 0)
        p = try #require(try await peer())
        #expect(p["channel"] as? Int == 0)
        #expect(p["encrypt"] as? Bool == true)
        #expect(try await Harness.run(["peers", "mod", mac, "--no-encrypt", "--port", port]).status == 0)
        p = try #require(try await peer())
        #expect(p["encrypt"] as? Bool == false)
        // Nothing to change: a usage error, not a reset.
        #expect(try await Harness.run(["peers", "mod", mac, "--port", port]).status == 1)
    }
}
