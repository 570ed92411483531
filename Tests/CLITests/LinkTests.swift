import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The dongle going away, another program on the port, drops and closed pipes: the
/// command ends with a documented code and a summary, never hangs, never crashes.
@Suite(.serialized) struct LinkTests {
    /// Waits for `r` (hang guard: a hang fails the test instead of blocking the suite).
    static func finish(_ r: Harness.Running, seconds: Double = 60) async -> Harness.Result? {
        let done = Task { await r.wait() }
        for _ in 0..<Int(seconds * 20) {
            if !r.process.isRunning { return await done.value }
            try? await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("still running after \(seconds) s; stderr: \(r.stderrText)")
        kill(r.process.processIdentifier, SIGKILL)
        _ = await done.value
        return nil
    }

    @Test func listenEndsWithSummaryWhenTheSimulatorExits() async throws {
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        let l = try Harness.Running(Harness.espnow, ["listen", "--port", air.dongles[0].port, "--json"])
        try await l.waitForStderr("listening on")
        air.stop()
        let r = try #require(await Self.finish(l))
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("went away"))
        let summary = try #require(try r.json().last)
        #expect(summary["event"] as? String == "summary")
        #expect(summary["ended"] as? String == "unplugged")
        #expect(summary["received"] as? Int == 0)
        #expect(summary["dropped_device"] as? Int == 0 && summary["dropped_host"] as? Int == 0)
    }

    @Test func listenPingBenchEndWhenUnplugged() async throws {
        let air = try TestAir(dongles: 1, nodes: ["echo"], controlled: true)
        defer { air.stop() }
        let port = air.dongles[0].port
        let echo = try #require(air.nodes.first).mac
        // Human output: the partial summary on stderr, exit 2.
        let l = try Harness.Running(Harness.espnow, ["listen", "--port", port])
        try await l.waitForStderr("listening on")
        try air.control("unplug 0")
        let lr = try #require(await Self.finish(l))
        #expect(lr.status == 2, "\(lr.stderr)")
        #expect(lr.stderr.contains("0 packets received, 0 dropped by the dongle, 0 by the host (ended early: the dongle went away)"))
        try air.control("replug 0")

        let p = try Harness.Running(Harness.espnow, ["ping", echo, "--port", port, "-c", "100000", "-i", "0.02"])
        for _ in 0..<400 where !((try? String(contentsOf: p.outURL, encoding: .utf8)) ?? "").contains("bytes from") {
            try await Task.sleep(for: .milliseconds(50))
        }
        try air.control("unplug 0")
        let pr = try #require(await Self.finish(p))
        #expect(pr.status == 2, "\(pr.stderr)")
        #expect(pr.stdout.contains("ping statistics"))
        #expect(pr.stderr.contains("went away"))
        try air.control("replug 0")

        let b = try Harness.Running(Harness.espnow, ["bench", echo, "--port", port, "--duration", "600"])
        try await ToolTests.waitForStdout(b, "bench: ")
        try air.control("unplug 0")
        let br = try #require(await Self.finish(b))
        #expect(br.status == 2, "\(br.stderr)")
        #expect(br.stdout.contains(" sent, "), "\(br.stdout)")
        #expect(br.stdout.contains("unfinished in"))
        #expect(br.stdout.contains("dropped: 0 by the dongle, 0 by the host"))
    }

    @Test func listenReconnectsWithFlag() async throws {
        let air = try TestAir(dongles: 2, controlled: true)
        defer { air.stop() }
        let (rx, tx) = (air.dongles[0], air.dongles[1])
        let l = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--reconnect", "--count", "1", "--json"])
        try await l.waitForStderr("listening on")
        try air.control("unplug 0")
        try await l.waitForStderr("{\"event\":\"unplugged\"")
        try air.control("replug 0")
        try await l.waitForStderr("{\"event\":\"restored\"")
        let sent = try await Harness.run(["send", "--port", tx.port, "broadcast", "after replug"])
        #expect(sent.status == 0, "\(sent.stderr)")
        let r = try #require(await Self.finish(l))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try r.json()
        #expect(lines.first?["payload_text"] as? String == "after replug")
        #expect(lines.last?["ended"] as? String == "count")
    }

    /// `cat PORT` already reading: refused, naming it; no crash.
    @Test func foreignReaderIsNamed() async throws {
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        let port = air.dongles[0].port
        let cat = Process()
        cat.executableURL = URL(fileURLWithPath: "/bin/cat")
        cat.arguments = [port]
        cat.standardOutput = FileHandle.nullDevice
        try cat.run()
        defer { kill(cat.processIdentifier, SIGKILL); cat.waitUntilExit() }
        try await Task.sleep(for: .milliseconds(300))  // let cat open it (the check below retries anyway)
        var r = try await Harness.run(["info", "--port", port])
        for _ in 0..<20 where r.status == 0 {
            try await Task.sleep(for: .milliseconds(200))
            r = try await Harness.run(["info", "--port", port])
        }
        #expect(r.status == 2)
        #expect(r.stderr.contains("another program is reading \(port) (pid \(cat.processIdentifier), cat)"), "\(r.stderr)")
    }

    /// A reader appearing while `listen` runs ends it with a clear error (exit 2), no crash.
    @Test func foreignReaderMidRunEndsListen() async throws {
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        let port = air.dongles[0].port
        let l = try Harness.Running(Harness.espnow, ["listen", "--port", port])
        try await l.waitForStderr("listening on")
        let cat = Process()
        cat.executableURL = URL(fileURLWithPath: "/bin/cat")
        cat.arguments = [port]
        cat.standardOutput = FileHandle.nullDevice
        try cat.run()
        defer { kill(cat.processIdentifier, SIGKILL); cat.waitUntilExit() }
        let r = try #require(await Self.finish(l))
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("another program is reading \(port) (pid \(cat.processIdentifier), cat)"), "\(r.stderr)")
    }

    /// A packet longer than the listener's receive buffer: a DROPPED line on stderr without
    /// --verbose, and the count in the summary.
    @Test func dropsAreVisible() async throws {
        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let (rx, tx) = (air.dongles[0], air.dongles[1])
        let l = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--rxbuf", "600", "--json", "--timeout", "600",
                                                     "--count", "1"])
        try await l.waitForStderr("listening on")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-big-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        FileManager.default.createFile(atPath: file, contents: Data(repeating: 0x41, count: 1470))
        let big = try await Harness.run(["send", "--port", tx.port, "broadcast", "--file", file])
        #expect(big.status == 0, "\(big.stderr)")
        try await l.waitForStderr("\"event\":\"dropped\"")
        let small = try await Harness.run(["send", "--port", tx.port, "broadcast", "small"])
        #expect(small.status == 0, "\(small.stderr)")
        let r = try #require(await Self.finish(l))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try r.json()
        #expect(lines.first?["payload_text"] as? String == "small")
        #expect(lines.last?["event"] as? String == "summary")
        #expect(lines.last?["dropped_device"] as? Int == 1)
        // The same without --json: a human line.
        let h = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--rxbuf", "600", "--count", "1", "--timeout", "600"])
        try await h.waitForStderr("listening on")
        _ = try await Harness.run(["send", "--port", tx.port, "broadcast", "--file", file])
        try await h.waitForStderr("the dongle dropped 1 received packets")
        _ = try await Harness.run(["send", "--port", tx.port, "broadcast", "small"])
        let hr = try #require(await Self.finish(h))
        #expect(hr.stderr.contains("1 packet received, 1 dropped by the dongle, 0 by the host"), "\(hr.stderr)")
    }

    /// `espnow listen | head -1` ends once head has gone (EPIPE), quietly.
    @Test func listenEndsWhenItsReaderGoes() async throws {
        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let (rx, tx) = (air.dongles[0], air.dongles[1])
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-pipe-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let sh = try Harness.Running("/bin/bash", ["-c",
            "'\(Harness.espnow)' listen --port '\(rx.port)' 2>'\(tmp)/err' | head -1 >'\(tmp)/out'; echo ${PIPESTATUS[0]} >'\(tmp)/status'"])
        for _ in 0..<400 where !(((try? String(contentsOfFile: "\(tmp)/err", encoding: .utf8)) ?? "").contains("listening on")) {
            try await Task.sleep(for: .milliseconds(50))
        }
        // The header goes to head; each packet after it meets the closed pipe.
        for i in 0..<200 where sh.process.isRunning {
            _ = try await Harness.run(["send", "--port", tx.port, "broadcast", "p\(i)"])
        }
        let r = try #require(await Self.finish(sh))
        #expect(r.status == 0)
        let status = try String(contentsOfFile: "\(tmp)/status", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(status == "0")
        let err = try String(contentsOfFile: "\(tmp)/err", encoding: .utf8)
        #expect(!err.contains("espnow: "), "\(err)")
    }
}
