import BuiltProducts
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `espnow` binary (and `espnow-sim`) from the build directory next to the
/// test bundle. Everything is asserted on counts, bytes and exit codes, never timings.
enum Harness {
    static var buildDir: URL { BuiltProducts.directory }

    static var espnow: String { buildDir.appendingPathComponent("espnow").path }
    static var sim: String { buildDir.appendingPathComponent("espnow-sim").path }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutData = Data()
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        /// Every stdout line parsed as a JSON object (fails the test if one is not).
        func json() throws -> [[String: Any]] {
            try lines.map { l in
                let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any]
                return try #require(o, "not a JSON object: \(l)")
            }
        }
    }

    /// A started process whose output goes to temporary files.
    final class Running: @unchecked Sendable {
        let process = Process()
        let outURL: URL
        let errURL: URL

        convenience init(_ path: String, _ args: [String], stdin: String? = nil) throws {
            try self.init(path, args, bytes: stdin.map { Data($0.utf8) })
        }

        init(_ path: String, _ args: [String], bytes stdin: Data?, environment: [String: String] = [:]) throws {
            let tmp = FileManager.default.temporaryDirectory
            let tag = UUID().uuidString
            outURL = tmp.appendingPathComponent("espnow-test-\(tag).out")
            errURL = tmp.appendingPathComponent("espnow-test-\(tag).err")
            FileManager.default.createFile(atPath: outURL.path, contents: nil)
            FileManager.default.createFile(atPath: errURL.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = args
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            }
            process.standardOutput = try FileHandle(forWritingTo: outURL)
            process.standardError = try FileHandle(forWritingTo: errURL)
            if let s = stdin {
                let p = Pipe()
                process.standardInput = p
                try process.run()
                p.fileHandleForWriting.write(s)
                try p.fileHandleForWriting.close()
            } else {
                process.standardInput = FileHandle.nullDevice
                try process.run()
            }
        }

        var stderrText: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

        /// Waits (off the cooperative pool) for the exit.
        func wait() async -> Result {
            let p = process
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                Thread { p.waitUntilExit(); c.resume() }.start()
            }
            let data = (try? Data(contentsOf: outURL)) ?? Data()
            let r = Result(status: p.terminationStatus,
                           stdout: String(decoding: data, as: UTF8.self),
                           stderr: stderrText, stdoutData: data)
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
            return r
        }

        /// Waits until stderr contains `text` (the process announces readiness there); a hang
        /// guard: the whole parallel suite beside a CPU hog took over 20 s to start one.
        func waitForStderr(_ text: String, seconds: Double = 90) async throws {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if stderrText.contains(text) { return }
                if !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("no '\(text)' on stderr; got: \(stderrText)")
        }
    }

    static func run(_ args: [String], stdin: String? = nil) async throws -> Result {
        try await Running(espnow, args, stdin: stdin).wait()
    }

    static func run(_ args: [String], bytes: Data) async throws -> Result {
        try await Running(espnow, args, bytes: bytes).wait()
    }

    /// With extra environment variables (a temporary config home, a forced scan).
    static func run(_ args: [String], environment: [String: String]) async throws -> Result {
        try await Running(espnow, args, bytes: nil, environment: environment).wait()
    }
}

/// A simulated air started by the test itself (`espnow-sim` coordinator).
final class TestAir: @unchecked Sendable {
    let process = Process()
    var dongles: [(port: String, mac: String)] = []
    var nodes: [(script: String, mac: String)] = []

    /// With `controlled`, the coordinator has a control socket (``control(_:)``) and
    /// stable `--link-dir` paths that survive a replug (``dongles`` then lists those).
    let dir: String?

    init(dongles n: Int, nodes: [String] = [], seed: Int = 3, controlled: Bool = false, extra more: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: Harness.sim)
        var extra: [String] = []
        if controlled {
            let d = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-cli-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            dir = d
            extra = ["--link-dir", "\(d)/links", "--control", "\(d)/ctl"]
        } else {
            dir = nil
        }
        process.arguments = extra + more + ["--dongles", "\(n)", "--seed", "\(seed)"] + nodes.flatMap { ["--node", $0] }
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var buffer = Data()
        var ready: [[String: Any]] = []
        while ready.count < n + nodes.count {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw SimFailed() }
            buffer.append(chunk)
            while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<nl]
                buffer.removeSubrange(buffer.startIndex...nl)
                if let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any], o["index"] != nil { ready.append(o) }
            }
        }
        ready.sort { ($0["index"] as? Int ?? 0) < ($1["index"] as? Int ?? 0) }
        for o in ready {
            if var p = o["port"] as? String {
                if let d = dir { p = "\(d)/links/dongle\(o["index"] as? Int ?? 0)" }
                dongles.append((p, o["sta_mac"] as? String ?? ""))
            }
            else { self.nodes.append((o["script"] as? String ?? "", o["sta_mac"] as? String ?? "")) }
        }
    }

    struct SimFailed: Error {}

    /// One control-socket command (`unplug 0`, `replug 0`); returns the reply line.
    @discardableResult
    func control(_ command: String) throws -> String {
        guard let d = dir else { throw SimFailed() }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SimFailed() }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array("\(d)/ctl".utf8CString)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, c) in path.enumerated() where i < raw.count { raw[i] = UInt8(bitPattern: c) }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { throw SimFailed() }
        let line = Array((command + "\n").utf8)
        guard write(fd, line, line.count) == line.count else { throw SimFailed() }
        var reply: [UInt8] = []
        var b = [UInt8](repeating: 0, count: 256)
        while !reply.contains(UInt8(ascii: "\n")) {
            let n = read(fd, &b, b.count)
            guard n > 0 else { break }
            reply += b.prefix(n)
        }
        return String(decoding: reply, as: UTF8.self)
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        if let d = dir { try? FileManager.default.removeItem(atPath: d) }
    }
}
