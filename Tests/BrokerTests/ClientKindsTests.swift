// The other kinds of clients through a broker: the MicroPython-style API, and the `espnow`
// command itself (`espnow serve` with `listen`, `info` and `send` on the same dongle at once).
import ESPNow
import ESPNowBroker
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs `espnow ARGS` to the end; returns status, stdout and stderr. Output goes to files and
/// the wait happens on a thread of its own: blocking reads on the cooperative pool would
/// starve other tasks (two long-running commands fill a 2-core pool).
func espnow(_ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32, out: String, err: String) {
    let tmp = FileManager.default.temporaryDirectory
    let tag = UUID().uuidString
    let outURL = tmp.appendingPathComponent("espnow-broker-test-\(tag).out")
    let errURL = tmp.appendingPathComponent("espnow-broker-test-\(tag).err")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: espnowBinary)
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    p.standardOutput = try FileHandle(forWritingTo: outURL)
    p.standardError = try FileHandle(forWritingTo: errURL)
    p.standardInput = FileHandle.nullDevice
    try p.run()
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        Thread { p.waitUntilExit(); c.resume() }.start()
    }
    return (p.terminationStatus, (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
            (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
}

@Suite("broker: MicroPython API and the espnow command as clients", .serialized)
struct ClientKindsTests {
    /// `ESPNow.open("unix:...")` behaves as on a local dongle.
    @Test func micropythonAPIThroughTheBroker() async throws {
        try await BrokerFixture.with { f in
            var o = DeviceOptions()
            o.autoReconnect = false
            let e = try await ESPNow.open(f.url, options: o)
            try await WLAN(.sta, e).active(true)
            try await e.initialize()
            let remote = f.remote.info.staMAC.bytes
            try await e.addPeer(remote)
            #expect(try await e.send(remote, "from micropython", true))
            #expect(try await f.remote.packetQueue.next(timeout: .seconds(20)).map { Array($0.data.readableBytesView) }
                    == Array("from micropython".utf8))
            _ = try await f.remote.espNowSend(peer: f.brokeredMAC, data: Array("to micropython".utf8), sync: true)
            let (mac, msg) = try await e.recv(20_000)
            #expect(mac == remote)
            #expect(msg == Array("to micropython".utf8))
            await e.device.close()
        }
    }

    /// `espnow serve` owns dongle 0; `listen` and `info` run through it at the same time,
    /// while `espnow send` on dongle 1 sends to it; `serve` stops cleanly on SIGTERM.
    @Test func espnowServeWithOtherCommandsAtOnce() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 2))
        defer { air.shutdown() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-serve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sock = dir + "/d0.sock"
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: espnowBinary)
        serve.arguments = ["serve", "--port", air.dongles[0].port!, "--socket", sock, "--json", "--verbose"]
        let serveOut = Pipe()
        serve.standardOutput = serveOut
        FileManager.default.createFile(atPath: dir + "/serve.err", contents: nil)
        serve.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/serve.err"))
        try serve.run()
        defer { if serve.isRunning { kill(serve.processIdentifier, SIGKILL) } }
        let serving = await withCheckedContinuation { (c: CheckedContinuation<String, Never>) in
            Thread {
                var line = Data()
                while true {
                    let b = serveOut.fileHandleForReading.readData(ofLength: 1)
                    if b.isEmpty || b == Data([0x0A]) { break }
                    line.append(b)
                }
                c.resume(returning: String(decoding: line, as: UTF8.self))
            }.start()
        }
        #expect(serving.contains("\"event\":\"serving\"") && serving.contains("unix:\(sock)"))

        let listen = Task { try await espnow(["listen", "--port", "unix:\(sock)", "--count", "2", "--timeout", "60", "--json"]) }
        let info = try await espnow(["info", "--port", "unix:\(sock)", "--json"])
        #expect(info.status == 0)
        let mac = try #require(air.dongles[0].staMAC)
        #expect(info.out.contains(mac.description))
        // Send until the listener (which may attach late) has its two packets and exits.
        let finished = Finished()
        let waiter = Task { () -> (status: Int32, out: String, err: String) in
            let r = try await listen.value
            await finished.set()
            return r
        }
        var sends = 0
        while await !finished.value, sends < 200 {
            let r = try await espnow(["send", "--port", air.dongles[1].port!, "--sync", mac.description, "hello"])
            #expect(r.status == 0)
            sends += 1
        }
        let l = try await waiter.value
        #expect(l.status == 0, "listen: \(l.err)\nserve: \((try? String(contentsOfFile: dir + "/serve.err", encoding: .utf8)) ?? "")")
        let packets = l.out.split(separator: "\n").filter { $0.contains("\"payload_hex\"") }
        #expect(packets.count == 2)
        #expect(packets.allSatisfy { $0.contains("68656c6c6f") })  // "hello"
        kill(serve.processIdentifier, SIGTERM)
        serve.waitUntilExit()
        #expect(serve.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: sock))
    }

    /// Without `--socket` the broker serves `$XDG_RUNTIME_DIR/espnow/NAME.sock` (NAME: the
    /// USB serial number, here the simulated dongle's MAC), mode 0660; with no dongle
    /// attached, `--port auto` finds that socket.
    @Test func defaultSocketAndAutoFindIt() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 1))
        defer { air.shutdown() }
        let runtime = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-xdg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        let mac = try #require(air.dongles[0].staMAC)
        let expected = runtime + "/espnow/" + mac.description.filter { $0 != ":" } + ".sock"
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: espnowBinary)
        serve.arguments = ["serve", "--port", air.dongles[0].port!]
        serve.environment = ProcessInfo.processInfo.environment.merging(["XDG_RUNTIME_DIR": runtime]) { $1 }
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer { if serve.isRunning { kill(serve.processIdentifier, SIGKILL) } }
        #expect(try await eventually { FileManager.default.fileExists(atPath: expected) })
        var st = stat()
        #expect(stat(expected, &st) == 0 && st.st_mode & 0o777 == 0o660)
        let info = try await espnow(["info", "--port", "auto", "--json"], environment: ["XDG_RUNTIME_DIR": runtime])
        // Assumes no real dongle is attached (CI, containers): `auto` would prefer it.
        #expect(info.status == 0, "\(info.err)")
        #expect(info.out.contains(mac.description))
        kill(serve.processIdentifier, SIGTERM)
        serve.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: expected))
    }
}

actor Finished {
    private(set) var value = false
    func set() { value = true }
}
