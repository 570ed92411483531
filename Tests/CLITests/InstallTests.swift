import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `make install` and the Wireshark extcap, run as a user would.
@Suite(.serialized) struct InstallTests {
    /// The package root (the folder with the Makefile), above the build folder.
    static let root: String = {
        var dir = Harness.buildDir
        for _ in 0..<6 {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Makefile").path) { return dir.path }
            dir = dir.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }()

    static func tmp(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func makeInstallPutsEveryFileInPlace() async throws {
        let dest = try Self.tmp("destdir")
        defer { try? FileManager.default.removeItem(atPath: dest) }
        let r = try await Harness.Running("/usr/bin/make", ["-C", Self.root, "--no-print-directory", "install",
                                                            "DESTDIR=\(dest)", "PREFIX=/usr", "BIN=\(Harness.buildDir.path)"],
                                          bytes: nil).wait()
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let fm = FileManager.default
        for (path, executable) in [("usr/bin/espnow", true), ("usr/bin/espnow-sim", true), ("usr/share/man/man1/espnow.1", false),
                                   ("usr/share/bash-completion/completions/espnow", false),
                                   ("usr/share/zsh/site-functions/_espnow", false),
                                   ("usr/share/fish/vendor_completions.d/espnow.fish", false),
                                   ("usr/lib/udev/rules.d/99-espnow-bridge.rules", false),
                                   ("usr/lib/wireshark/extcap/espnow-extcap", true)] {
            let p = "\(dest)/\(path)"
            #expect(fm.fileExists(atPath: p), "missing \(path)")
            #expect(((try? fm.attributesOfItem(atPath: p)[.size] as? Int) ?? 0) > 100, "empty \(path)")
            #expect(fm.isExecutableFile(atPath: p) == executable, "\(path)")
        }
        // The man page and the completions come from the command's own help.
        let man = try String(contentsOfFile: "\(dest)/usr/share/man/man1/espnow.1", encoding: .utf8)
        #expect(man.hasPrefix(".TH ESPNOW 1"))
        #expect(man.contains(".SH ESPNOW COUNTRY") && man.contains("\\-\\-reconnect"))
        let bash = try String(contentsOfFile: "\(dest)/usr/share/bash-completion/completions/espnow", encoding: .utf8)
        #expect(bash.contains("country") && bash.contains("wifi") && bash.contains("complete"))
        // The installed binary runs.
        let v = try await Harness.Running("\(dest)/usr/bin/espnow", ["--version"], bytes: nil).wait()
        #expect(v.status == 0 && v.stdout.hasPrefix("espnow "))
        // uninstall removes them again.
        let u = try await Harness.Running("/usr/bin/make", ["-C", Self.root, "--no-print-directory", "uninstall",
                                                            "DESTDIR=\(dest)", "PREFIX=/usr"], bytes: nil).wait()
        #expect(u.status == 0)
        #expect(!fm.fileExists(atPath: "\(dest)/usr/bin/espnow"))
    }

    @Test func wiresharkExtcapListsAndCaptures() async throws {
        let extcap = "\(Self.root)/tools/extcap/espnow-extcap"
        let env = ["ESPNOW": Harness.espnow]
        func run(_ args: [String]) async throws -> Harness.Result {
            try await Harness.Running(extcap, args, bytes: nil, environment: env).wait()
        }
        let ifaces = try await run(["--extcap-interfaces"])
        #expect(ifaces.status == 0, "\(ifaces.stderr)")
        #expect(ifaces.stdout.contains("extcap {version=") && ifaces.stdout.contains("interface {value=espnow}{display=ESP-NOW bridge dongle}"))
        let dlts = try await run(["--extcap-dlts", "--extcap-interface", "espnow"])
        #expect(dlts.stdout.contains("dlt {number=127}{name=IEEE802_11_RADIO}"))
        let config = try await run(["--extcap-config", "--extcap-interface", "espnow"])
        #expect(config.stdout.contains("{call=--port}") && config.stdout.contains("{call=--channel}"))
        #expect(try await run(["--extcap-dlts", "--extcap-interface", "eth0"]).status != 0)

        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let (rx, tx) = (air.dongles[0], air.dongles[1])
        let dir = try Self.tmp("extcap")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = "\(dir)/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Wireshark's side: it reads the FIFO.
        let copy = "\(dir)/copy.pcap"
        let reader = try Harness.Running("/bin/sh", ["-c", "cat '\(fifo)' > '\(copy)'"])
        let cap = try Harness.Running(extcap, ["--capture", "--extcap-interface", "espnow", "--fifo", fifo, "--port", rx.port,
                                               "--channel", "1"], bytes: nil, environment: env)
        try await cap.waitForStderr("listening on")
        #expect(try await Harness.run(["send", "--port", tx.port, "broadcast", "into wireshark"]).status == 0)
        // The record reaches the FIFO as the packet arrives; then Wireshark stops the capture.
        var size = 0
        for _ in 0..<600 where size <= 24 + 16 {
            size = ((try? FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int) ?? 0)
            if size <= 24 + 16 { try await Task.sleep(for: .milliseconds(50)) }
        }
        kill(cap.process.processIdentifier, SIGTERM)
        let done = try #require(await LinkTests.finish(cap))
        #expect(done.status == 0, "\(done.stderr)")
        _ = await LinkTests.finish(reader)
        let data = try Data(contentsOf: URL(fileURLWithPath: copy))
        #expect(Array(data.prefix(4)) == [0xD4, 0xC3, 0xB2, 0xA1])
        #expect(data.count > 24 + 16)
        #expect(data.range(of: Data("into wireshark".utf8)) != nil)
        #expect(data[20] == 127)  // LINKTYPE_IEEE802_11_RADIOTAP, little-endian
    }
}
