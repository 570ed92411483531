import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `espnow sim`, captures to stdout and FIFOs, the sensor decoder.
@Suite(.serialized) struct ToolTests {
    static func tmp(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("espnow-\(name)-\(UUID().uuidString.prefix(8))").path
    }

    static func waitForStdout(_ r: Harness.Running, _ text: String) async throws {
        for _ in 0..<400 {
            if ((try? String(contentsOf: r.outURL, encoding: .utf8)) ?? "").contains(text) { return }
            if !r.process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("no '\(text)' on stdout")
    }

    /// Ctrl-C on a terminal reaches the whole process group (espnow and its simulator): exit 0.
    @Test func simCtrlCExitsZero() async throws {
        let r = try Harness.Running(Harness.espnow, ["sim", "--dongles", "1"])
        try await Self.waitForStdout(r, "Ctrl-C stops the simulator")
        // As a terminal does: the signal to espnow and to its simulator (same process group).
        let pid = r.process.processIdentifier
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let children = tasks.flatMap { t in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Int32($0) }
        }
        #expect(!children.isEmpty)
        for c in children { kill(c, SIGINT) }
        kill(pid, SIGINT)
        let res = try #require(await LinkTests.finish(r))
        #expect(res.status == 0, "\(res.stderr)")
        #expect(!res.stderr.contains("unexpectedly"))
    }

    @Test func simHonoursTheScenesSeed() async throws {
        let scene = Self.tmp("scene") + ".json"
        defer { try? FileManager.default.removeItem(atPath: scene) }
        try #"{"seed": 42, "dongles": 1}"#.write(toFile: scene, atomically: true, encoding: .utf8)
        func mac(_ args: [String]) async throws -> String? {
            let r = try await Harness.run(["sim", "--json", "--for", "0.2"] + args)
            #expect(r.status == 0, "\(r.stderr)")
            return try r.json().first { $0["port"] != nil }?["sta_mac"] as? String
        }
        let fromScene = try await mac(["--scene", scene])
        #expect(fromScene != nil)
        #expect(fromScene == (try await mac(["--dongles", "1", "--seed", "42"])))
        #expect(fromScene != (try await mac(["--dongles", "1"])))
    }

    @Test func linkDirInUseIsRefused() async throws {
        let dir = Self.tmp("links")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try Harness.Running(Harness.espnow, ["sim", "--dongles", "1", "--link-dir", dir])
        try await Self.waitForStdout(first, "Ctrl-C stops the simulator")
        let second = try await Harness.run(["sim", "--dongles", "1", "--link-dir", dir, "--for", "0.2"])
        #expect(second.status == 2)
        #expect(second.stderr.contains("link dir \(dir) in use by pid"), "\(second.stderr)")
        // The first one's link still works.
        let info = try await Harness.run(["info", "--port", "\(dir)/dongle0", "--json"])
        #expect(info.status == 0, "\(info.stderr)")
        kill(first.process.processIdentifier, SIGTERM)
        _ = await first.wait()
        let v = try await Harness.Running(Harness.sim, ["--version"]).wait()
        #expect(v.status == 0)
        #expect(v.stdout.hasPrefix("espnow-sim (bridge protocol ") && v.stdout.contains("ESP-IDF emulation "))
    }

    @Test func pcapToStdoutAndFIFO() async throws {
        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let (rx, tx) = (air.dongles[0], air.dongles[1])
        let l = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--count", "1", "--pcap", "-"])
        try await l.waitForStderr("listening on")
        #expect(try await Harness.run(["send", "--port", tx.port, "broadcast", "to stdout"]).status == 0)
        let r = try #require(await LinkTests.finish(l))
        #expect(r.status == 0, "\(r.stderr)")
        let out = r.stdoutData
        #expect(Array(out.prefix(4)) == [0xD4, 0xC3, 0xB2, 0xA1])
        #expect(out.count > 24 + 16)
        #expect(r.stderr.contains("\"to stdout\""))  // the packet line moved to stderr

        let fifo = Self.tmp("fifo")
        defer { try? FileManager.default.removeItem(atPath: fifo) }
        #expect(mkfifo(fifo, 0o600) == 0)
        let copy = Self.tmp("copy")
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let cat = try Harness.Running("/bin/sh", ["-c", "cat '\(fifo)' > '\(copy)'"])
        let l2 = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--count", "1", "--pcap", fifo])
        try await l2.waitForStderr("listening on")
        #expect(try await Harness.run(["send", "--port", tx.port, "broadcast", "to fifo"]).status == 0)
        #expect(try #require(await LinkTests.finish(l2)).status == 0)
        _ = await LinkTests.finish(cat)
        var st = stat()
        #expect(stat(fifo, &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO)  // still a FIFO
        let copied = try Data(contentsOf: URL(fileURLWithPath: copy))
        #expect(Array(copied.prefix(4)) == [0xD4, 0xC3, 0xB2, 0xA1])
        #expect(copied.count > 24 + 16)
    }

    @Test func sensorDecoderOnlyOnItsFormat() async throws {
        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let (rx, tx) = (air.dongles[0], air.dongles[1])
        func listen(_ extra: [String], hex: String) async throws -> [String: Any]? {
            let l = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--count", "1", "--json"] + extra)
            try await l.waitForStderr("listening on")
            #expect(try await Harness.run(["send", "--port", tx.port, "broadcast", hex, "--hex"]).status == 0)
            let r = try #require(await LinkTests.finish(l))
            return try r.json().first
        }
        let reading = "530101000000d0073200"  // seq 1, 20.00 °C, 50 %, node 0
        let decoded = try await listen([], hex: reading)
        #expect((decoded?["sensor"] as? [String: Any])?["humidity"] as? Int == 50)
        #expect(try await listen(["--raw"], hex: reading)?["sensor"] == nil)
        // Right magic and length, impossible values (humidity 255): not a reading.
        #expect(try await listen([], hex: "5301ffffffff0080ff00")?["sensor"] == nil)
    }

    /// The smaller items: --version, help for unknown commands, aliases, devices --json,
    /// $ESPNOW_PORT, the peers del hint, reset reason names, ping to broadcast.
    @Test func smallerItems() async throws {
        let v = try await Harness.run(["--version"])
        #expect(v.status == 0 && v.stdout.contains("bridge protocol "))
        #expect(try await Harness.run(["help", "bogus"]).status == 1)
        let typo = try await Harness.run(["help", "lisen"])
        #expect(typo.status == 1 && typo.stderr.contains("did you mean 'listen'"))
        let devices = try await Harness.run(["devices", "--json", "--no-probe"])
        #expect(devices.status == 0)
        #expect((try JSONSerialization.jsonObject(with: Data(devices.stdout.utf8))) is [Any])
        // An empty $ESPNOW_PORT is as if unset; a bad one is named as coming from there.
        let fromEnv = try await Harness.Running(Harness.espnow, ["info"], bytes: nil, environment: ["ESPNOW_PORT": "/nonexistent/p"]).wait()
        #expect(fromEnv.status == 2 && fromEnv.stderr.contains("came from $ESPNOW_PORT"))
        let empty = try await Harness.Running(Harness.espnow, ["info"], bytes: nil, environment: ["ESPNOW_PORT": ""]).wait()
        #expect(!empty.stderr.contains("no such device: \n") && !empty.stderr.contains("no such device:  "))

        let air = try TestAir(dongles: 1, nodes: ["echo"])
        defer { air.stop() }
        let port = air.dongles[0].port
        let del = try await Harness.run(["peers", "rm", "24:6f:28:00:00:01", "--port", port])
        #expect(del.status == 3 && del.stderr.contains("no such peer"), "\(del.stderr)")
        #expect(try await Harness.run(["peers", "ls", "--port", port]).status == 0)
        let info = try await Harness.run(["info", "--port", port, "--json"])
        #expect((try info.json().first?["reset_reason_name"] as? String)?.hasPrefix("ESP_RST_") == true)
        let ping = try await Harness.run(["ping", "broadcast", "--port", port, "-c", "2", "-i", "0.01", "-W", "2"])
        #expect(ping.stdout.contains("broadcast (never acknowledged)"), "\(ping.stdout)")
        #expect(!ping.stdout.contains("acknowledged, "))
    }

    @Test func jsonErrorsChannelHintAndSeveralFrom() async throws {
        let e = try await Harness.run(["info", "--port", "/nonexistent/p", "--json"])
        #expect(e.status == 2)
        let o = try JSONSerialization.jsonObject(with: Data(e.stderr.split(separator: "\n").last!.utf8)) as? [String: Any]
        #expect(o?["exit"] as? Int == 2 && (o?["error"] as? String)?.contains("/nonexistent/p") == true)

        let air = try TestAir(dongles: 3)
        defer { air.stop() }
        let (rx, a, b) = (air.dongles[0], air.dongles[1], air.dongles[2])
        let ch = try await Harness.run(["channel", "13", "--port", rx.port])
        #expect(ch.status == 3)
        #expect(ch.stderr.contains("allows 1-11") && ch.stderr.contains("--country CC"), "\(ch.stderr)")
        // Two --from: packets from both are shown.
        let l = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--count", "2", "--json", "--from", a.mac, "--from", b.mac])
        try await l.waitForStderr("listening on")
        #expect(try await Harness.run(["send", "--port", a.port, "broadcast", "from a"]).status == 0)
        #expect(try await Harness.run(["send", "--port", b.port, "broadcast", "from b"]).status == 0)
        let r = try #require(await LinkTests.finish(l))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Set(try r.json().compactMap { $0["src"] as? String }) == [a.mac, b.mac])
    }
}
