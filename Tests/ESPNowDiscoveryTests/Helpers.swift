import ESPNowWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A pseudo-terminal pair: the test holds the master, the code under test opens `slave`.
final class PTY {
    let master: Int32
    let slave: String
    /// The test's own slave descriptor, raw, so that bytes written to the master before the
    /// code under test opens the port are not cooked by the default line discipline
    /// (ICRNL, ISIG on 0x03, ...), as a USB CDC port would not cook them either.
    private let slaveFD: Int32

    init() throws {
        // posix_openpt/unlockpt/ptsname, spelled as the ioctls they are on Linux
        // (Swift's Glibc module does not export the XOPEN declarations).
        let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0
        var n: UInt32 = 0
        guard master >= 0, ioctl(master, TIOCSPTLCK, &unlock) == 0, ioctl(master, TIOCGPTN, &n) == 0 else {
            throw UMockdevUnavailable(description: "cannot create a pty: \(String(cString: strerror(errno)))")
        }
        slave = "/dev/pts/\(n)"
        slaveFD = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC)
        var t = termios()
        guard slaveFD >= 0, tcgetattr(slaveFD, &t) == 0 else {
            throw UMockdevUnavailable(description: "cannot open \(slave): \(String(cString: strerror(errno)))")
        }
        cfmakeraw(&t)
        _ = tcsetattr(slaveFD, TCSANOW, &t)
        // Keep the master readable without blocking.
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(slaveFD)
        close(master)
    }

    func write(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.write(master, $0.baseAddress, $0.count) }
    }

    /// Everything the slave side wrote so far.
    func drain() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            if n <= 0 { return out }
            out += buf[0..<n]
        }
    }
}

/// One `espnow-sim` dongle on its own pty, launched without the umockdev preload.
final class SimDongle {
    let process: Process
    let port: String
    let airDir: String
    private let ownsAir: Bool

    /// `air`: another dongle's `airDir`, so that the two hear each other.
    init(staMAC: String, air: String? = nil) throws {
        let sim = try Self.path()
        ownsAir = air == nil
        airDir = air ?? NSTemporaryDirectory() + "espnow-disc-air-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sim)
        p.arguments = ["--air-dir", airDir, "--sta-mac", staMAC, "--ack-timeout-ms", "200"]  // a busy machine can miss 5 ms
        var env = ProcessInfo.processInfo.environment
        env["LD_PRELOAD"] = nil
        env["UMOCKDEV_DIR"] = nil
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw UMockdevUnavailable(description: "espnow-sim exited before printing its port") }
            line.append(chunk)
        }
        let json = try JSONSerialization.jsonObject(with: line.prefix { $0 != UInt8(ascii: "\n") }) as? [String: Any]
        guard let port = json?["port"] as? String else {
            throw UMockdevUnavailable(description: "bad espnow-sim ready line \(String(decoding: line, as: UTF8.self))")
        }
        self.process = p
        self.port = port
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        if ownsAir { try? FileManager.default.removeItem(atPath: airDir) }
    }

    deinit { stop() }

    /// `$ESPNOW_SIM_PATH`, else next to the test binary (`swift build --build-tests` puts it there).
    static func path() throws -> String {
        if let env = ProcessInfo.processInfo.environment["ESPNOW_SIM_PATH"] { return env }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let c = dir.appendingPathComponent("espnow-sim").path
            if FileManager.default.isExecutableFile(atPath: c) { return c }
            dir = dir.deletingLastPathComponent()
        }
        throw UMockdevUnavailable(description: "espnow-sim not found; run `swift build --product espnow-sim` first")
    }
}

/// A HELLO event of protocol version `version` (frame version nibble too), as firmware of
/// another protocol generation would send at boot: only the frozen offsets matter.
func foreignHelloEvent(version: UInt8, fw: (UInt8, UInt8, UInt8)) -> [UInt8] {
    var decoded: [UInt8] = [(version << 4) | FrameKind.event.rawValue, EventCode.hello.rawValue,
                            version, fw.0, fw.1, fw.2, 0x05, 0x00]
    let crc = CRC32.checksum(decoded)
    decoded += [UInt8(crc & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8((crc >> 16) & 0xFF), UInt8(crc >> 24)]
    return COBS.encode(decoded) + [0]
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing after `seconds` (a test guard, not part of any data path).
func within<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { g in
        g.addTask { try await body() }
        g.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return nil
        }
        defer { g.cancelAll() }
        guard let first = try await g.next(), let v = first else { throw TimedOut(what: what) }
        return v
    }
}
