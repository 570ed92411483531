import ESPNowGateway
import ESPNowSimulator
import Foundation
import GatewayTestSupport
import Testing

/// `espnow gateway` as a user runs it: the built binary, a simulated air, a real database.
@Suite("espnow gateway command")
struct CommandTests {
    static func espnowPath() throws -> String {
        let sim = try SimulatedDongles.simulatorPath()
        let p = URL(fileURLWithPath: sim).deletingLastPathComponent().appendingPathComponent("espnow").path
        guard FileManager.default.isExecutableFile(atPath: p) else { throw StoreError("espnow not built next to \(sim)") }
        return p
    }

    /// Runs `espnow ARGS`; `whenLines` is called with stdout so far and may signal the process.
    static func run(_ args: [String], until: @escaping @Sendable (String, Process) -> Void = { _, _ in }) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try espnowPath())
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let errText = Locked(Data())
        let errDone = Locked(false)
        let errThread = Thread {
            errText.set(err.fileHandleForReading.readDataToEndOfFile())
            errDone.set(true)
        }
        errThread.start()
        var text = Data()
        while true {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text.append(chunk)
            until(String(decoding: text, as: UTF8.self), p)
        }
        p.waitUntilExit()
        while !errDone.get() { usleep(10_000) }
        return (p.terminationStatus, String(decoding: text, as: UTF8.self), String(decoding: errText.get(), as: UTF8.self))
    }

    /// `--port sim` prints live decoded readings and stores them; SIGTERM writes what is
    /// queued and exits 0 with every printed packet in the database.
    @Test func simIntoSQLiteThenSIGTERM() async throws {
        let db = tempPath("cli.sqlite")
        let sent = Locked(false)
        let r = try Self.run(["gateway", "--port", "sim", "--db", db, "--gateway-id", "cli"]) { out, p in
            let lines = out.split(separator: "\n").filter { $0.contains("temperature=") }
            if lines.count >= 6, !sent.get() {
                sent.set(true)
                kill(p.processIdentifier, SIGTERM)
            }
        }
        #expect(r.status == 0, "stderr: \(r.err)")
        let printed = r.out.split(separator: "\n").filter { $0.contains("[layout:espnow-sim]") }
        #expect(printed.count >= 6)
        #expect(printed.allSatisfy { $0.contains("temperature=") && $0.contains("°C") && $0.contains("humidity=") })
        let store = try SQLiteStore(path: db)
        let packets = try await store.packets(node: nil, limit: 10_000)
        #expect(packets.count == printed.count)
        #expect(packets.allSatisfy { $0.gateway == "cli" && $0.decoder == "layout:espnow-sim" })
        await store.close()
    }

    @Test func sendQueuesADownlinkAndNodesListsTheRegistry() async throws {
        let db = tempPath("cli.sqlite")
        var r = try Self.run(["gateway", "send", "02:00:00:00:00:a1", "hello", "--db", db])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("queued downlink 1"))
        r = try Self.run(["gateway", "send", "not-a-mac", "x", "--db", db])
        #expect(r.status == 1)
        #expect(r.err.contains("not a MAC address"))
        let store = try SQLiteStore(path: db)
        let d = try await store.pendingDownlinks()
        #expect(d.map(\.payload) == [Array("hello".utf8)])
        await store.close()
        r = try Self.run(["gateway", "nodes", "--db", db])
        #expect(r.status == 0)
        #expect(r.out.hasPrefix("MAC"))
    }

    @Test func dryRunStoresNothingAndBadConfigIsAUsageError() throws {
        let db = tempPath("dry.sqlite")
        let r = try Self.run(["gateway", "--port", "sim", "--dry-run", "--db", db, "--for", "2"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.contains("temperature="))
        #expect(!FileManager.default.fileExists(atPath: db))
        let cfg = tempPath("bad.toml")
        try "colour = 1\n".write(toFile: cfg, atomically: true, encoding: .utf8)
        let b = try Self.run(["gateway", "--config", cfg, "--port", "sim"])
        #expect(b.status == 1)
        #expect(b.err.contains("unknown key \"colour\""))
    }
}

final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
}
