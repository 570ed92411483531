import ESPNow
import ESPNowDevice
import ESPNowSerial
import ESPNowSimulator
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body`, but gives up (cancelling it, returning nil) after `seconds`: a guard so a
/// hang fails the test instead of the whole suite. Not a timing assertion: generous.
func unlessHung<T: Sendable>(_ seconds: Double = 60, _ body: @escaping @Sendable () async -> T) async -> T? {
    await withTaskGroup(of: T?.self) { g in
        g.addTask { await body() }
        g.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = await g.next()!
        g.cancelAll()
        return first
    }
}

/// What a waiting call ended with.
enum Ending: Sendable, Equatable {
    case error(ESPNowError)
    case other(String)
    case returned
}

func ending(_ body: @escaping @Sendable () async throws -> Void) async -> Ending {
    do {
        try await body()
        return .returned
    } catch let e as ESPNowError {
        return .error(e)
    } catch {
        return .other("\(error)")
    }
}

/// Every waiting receive of one `ESPNow`: recv(-1), irecv(-1), recvPacket, the ESPNow
/// iterator, the device's packet sequence, StreamReader.read1, and the event stream (which
/// must end too). Each returns how it ended.
func startWaiters(_ e: ESPNow) -> [(String, Task<Ending, Never>)] {
    [
        ("recv(-1)", Task { await ending { _ = try await e.recv(-1) } }),
        ("irecv(-1)", Task { await ending { _ = try await e.irecv(-1) } }),
        ("recvPacket(-1)", Task { await ending { _ = try await e.recvPacket(-1) } }),
        ("for try await in ESPNow", Task {
            await ending {
                try await e.config(timeout: -1)
                for try await _ in e {}
            }
        }),
        ("device.packets", Task { await ending { for try await _ in e.device.packets {} } }),
        ("StreamReader.read1", Task { await ending { _ = try await StreamReader(e).read1() } }),
        ("device.events", Task {
            for await _ in e.device.events {}
            return .returned
        }),
    ]
}

/// Waits for each waiter (hang-guarded); returns name → ending, "hung" when it did not end.
func collect(_ waiters: [(String, Task<Ending, Never>)]) async -> [String: String] {
    var out: [String: String] = [:]
    for (name, t) in waiters {
        let r = await unlessHung { await t.value }
        if r == nil { t.cancel() }
        out[name] = r.map { "\($0)" } ?? "hung"
    }
    return out
}

@Suite("waiting calls end when the link is gone", .serialized)
struct EndingTests {
    static func noReconnect() -> DeviceOptions {
        var o = DeviceOptions()
        o.autoReconnect = false
        return o
    }

    /// Unplugged through the simulator's control socket, auto-reconnect off.
    @Test func unplugWithoutReconnectEndsEveryWait() async throws {
        try await withAir(AirOptions(dongles: 1), device: Self.noReconnect()) { air, es in
            let e = es[0]
            try await WLAN(.sta, e).active(true)
            try await e.initialize()
            let waiters = startWaiters(e)
            try await air.unplug(0)
            let ended = await collect(waiters)
            let unplugged = "\(Ending.error(.unplugged(path: e.device.path)))"
            for (name, _) in waiters where name != "device.events" {
                #expect(ended[name] == unplugged, "\(name)")
            }
            #expect(ended["device.events"] == "\(Ending.returned)")
            // Later waits end at once too (not only the ones that were waiting).
            #expect(await unlessHung { await ending { _ = try await e.recv(-1) } } == .error(.unplugged(path: e.device.path)))
        }
    }

    /// The simulator process exits (the pty's other end closes).
    @Test func simulatorExitEndsEveryWait() async throws {
        let sim = SimulatedDongles()
        defer { sim.shutdown() }
        let d = try sim.startOne()
        let e = try await ESPNow.open(d.port, options: Self.noReconnect())
        try await WLAN(.sta, e).active(true)
        try await e.initialize()
        let waiters = startWaiters(e)
        d.unplug()  // SIGKILL
        let ended = await collect(waiters)
        for (name, _) in waiters where name != "device.events" {
            #expect(ended[name] == "\(Ending.error(.unplugged(path: d.port)))", "\(name)")
        }
        #expect(ended["device.events"] == "\(Ending.returned)")
        await e.device.close()
    }

    /// `device.close()` ends every wait, with or without auto-reconnect.
    @Test(arguments: [false, true]) func closeEndsEveryWait(reconnect: Bool) async throws {
        var o = DeviceOptions()
        o.autoReconnect = reconnect
        try await withAir(AirOptions(dongles: 1), device: o) { _, es in
            let e = es[0]
            try await WLAN(.sta, e).active(true)
            try await e.initialize()
            let waiters = startWaiters(e)
            await e.device.close()
            let ended = await collect(waiters)
            for (name, _) in waiters where name != "device.events" {
                #expect(ended[name] == "\(Ending.error(.closed))", "\(name)")
            }
            #expect(ended["device.events"] == "\(Ending.returned)")
            #expect(await unlessHung { await ending { _ = try await e.irecv(-1) } } == .error(.closed))
        }
    }

    /// Packets that arrived before the link went away are still handed out, then the error.
    @Test func queuedPacketsComeBeforeTheError() async throws {
        try await withAir(AirOptions(dongles: 2), device: Self.noReconnect()) { air, es in
            let (a, b) = (es[0], es[1])
            try await activateAll(es)
            let peer = try await sta(b)
            try await a.addPeer(peer)
            #expect(try await a.send(peer, "one"))
            #expect(try await a.send(peer, "two"))
            // Both are in b's host queue once this STATS round trip (behind them on the link) returns.
            while b.device.packetQueue.count < 2 { _ = try await b.device.stats() }
            try await air.unplug(1)
            let r = await unlessHung { () -> [String] in
                var got: [String] = []
                do {
                    while true {
                        let (_, msg) = try await b.recv(-1)
                        got.append(String(decoding: msg ?? [], as: UTF8.self))
                    }
                } catch {
                    got.append("\(error)")
                }
                return got
            }
            #expect(r == ["one", "two", "\(ESPNowError.unplugged(path: b.device.path))"])
        }
    }
}

/// The serial link when another program reads the same port.
@Suite("foreign readers", .serialized)
struct ForeignReaderTests {
    /// Opens `path` read-only in a child process that reads it (like `cat PORT > f`);
    /// returns the process.
    static func cat(_ path: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/cat")
        p.arguments = [path]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits until `pid` has `path`'s device open (its /proc/PID/fd shows it).
    static func waitOpened(_ pid: Int32, _ path: String) async throws {
        var want = stat()
        guard stat(path, &want) == 0 else { return }
        for _ in 0..<400 {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            for f in fds {
                var s = stat()
                if stat("/proc/\(pid)/fd/\(f)", &s) == 0 && s.st_rdev == want.st_rdev { return }
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("pid \(pid) never opened \(path)")
    }

    @Test func openRefusedNamingTheReader() async throws {
        let sim = SimulatedDongles()
        defer { sim.shutdown() }
        let d = try sim.startOne()
        let reader = try Self.cat(d.port)
        defer { kill(reader.processIdentifier, SIGKILL); reader.waitUntilExit() }
        try await Self.waitOpened(reader.processIdentifier, d.port)
        let r: Result<ESPNowDevice, ESPNowError>
        do throws(ESPNowError) {
            r = .success(try await ESPNowDevice.connect(path: d.port))
        } catch {
            r = .failure(error)
        }
        switch r {
        case .success(let dev):
            await dev.close()
            Issue.record("connect succeeded beside a foreign reader")
        case .failure(let e):
            #expect(e == .serial(.foreignReader(path: d.port, reader: PortUsers.Reader(pid: reader.processIdentifier, name: "cat"))))
            #expect(e.description.contains("pid \(reader.processIdentifier), cat"))
        }
    }

    /// A reader appearing mid-run (as root, the exclusive locks do not stop it): the link
    /// ends with `foreignReader` (no crash), waiting receives end with that error.
    @Test func foreignReaderMidRunEndsTheLinkCleanly() async throws {
        let sim = SimulatedDongles()
        defer { sim.shutdown() }
        let (d, other) = (try sim.startOne(), try sim.startOne())
        let e = try await ESPNow.open(d.port, options: EndingTests.noReconnect())
        let tx = try await ESPNow.open(other.port)
        for x in [e, tx] {
            try await WLAN(.sta, x).active(true)
            try await x.initialize()
        }
        let peer = try await sta(e)
        try await tx.addPeer(peer)
        let waiting = Task { await ending { while true { _ = try await e.recv(-1) } } }
        let reader = try Self.cat(d.port)
        defer { kill(reader.processIdentifier, SIGKILL); reader.waitUntilExit() }
        try await Self.waitOpened(reader.processIdentifier, d.port)
        // Traffic until the link notices the bytes it did not get.
        let sender = Task {
            for i in 0..<100_000 {
                if Task.isCancelled { return }
                _ = try? await tx.send(peer, "packet \(i)")
            }
        }
        let r = await unlessHung { await waiting.value }
        sender.cancel()
        if case .error(.serial(.foreignReader(let p, let who)))? = r {
            #expect(p == d.port)
            #expect(who?.pid == reader.processIdentifier)
        } else {
            Issue.record("ended with \(String(describing: r))")
        }
        await e.device.close()
        await tx.device.close()
    }
}
