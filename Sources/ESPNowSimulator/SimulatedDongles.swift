import ESPNowWire
import NIOConcurrencyHelpers
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One dongle handed out for a test: its port and MACs; `process` is nil for a real device.
public final class DonglePort: @unchecked Sendable {
    public let port: String
    public let staMAC: MACAddress?
    public let apMAC: MACAddress?
    /// The simulator process (nil when the port comes from ESPNOW_PORTS).
    public let process: Process?
    let arguments: [String]

    init(port: String, staMAC: MACAddress?, apMAC: MACAddress?, process: Process?, arguments: [String]) {
        self.port = port
        self.staMAC = staMAC
        self.apMAC = apMAC
        self.process = process
        self.arguments = arguments
    }

    public var isSimulated: Bool { process != nil }

    /// Kills the simulator (the host sees EIO/HUP: an unplug).
    public func unplug() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    func stop() {
        guard let p = process, p.isRunning else { return }
        p.terminate()
        p.waitUntilExit()
    }
}

public struct SimulatorError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// Starts `espnow-sim` dongles sharing one simulated air (each on its own pty), or, when
/// `ESPNOW_PORTS` lists real devices (comma or space separated), hands those out instead.
/// Call ``shutdown()`` (or let it deinit) to stop the simulators and remove the air.
public final class SimulatedDongles: @unchecked Sendable {
    public let airDir: String
    public private(set) var dongles: [DonglePort] = []
    private let lock = NIOLock()
    private var counter = 0
    private let prefix: UInt16

    public init() {
        airDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("espnow-air-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        prefix = UInt16.random(in: 0...0xFFFF)
    }

    deinit { shutdown() }

    /// Real devices from `ESPNOW_PORTS`, if set.
    public static var realPorts: [String]? {
        guard let v = ProcessInfo.processInfo.environment["ESPNOW_PORTS"], !v.isEmpty else { return nil }
        return v.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
    }

    /// Locates `espnow-sim`: `$ESPNOW_SIM_PATH`, else next to the running binary (SwiftPM
    /// puts test bundles and executables in the same products directory).
    public static func simulatorPath() throws -> String {
        if let env = ProcessInfo.processInfo.environment["ESPNOW_SIM_PATH"] { return env }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var dir = exe
        for _ in 0..<4 {
            let c = dir.appendingPathComponent("espnow-sim").path
            if FileManager.default.isExecutableFile(atPath: c) { return c }
            dir = dir.deletingLastPathComponent()
        }
        throw SimulatorError("espnow-sim not found near \(exe.path); run `swift build` or set ESPNOW_SIM_PATH")
    }

    /// Starts `count` dongles (or returns the first `count` real ports).
    public func start(_ count: Int, extraArguments: [String] = []) throws -> [DonglePort] {
        if let real = Self.realPorts {
            guard real.count >= count else { throw SimulatorError("ESPNOW_PORTS lists \(real.count) ports, \(count) needed") }
            let ports = real.prefix(count).map { DonglePort(port: $0, staMAC: nil, apMAC: nil, process: nil, arguments: []) }
            lock.withLock { dongles += ports }
            return ports
        }
        return try (0..<count).map { _ in try startOne(extraArguments: extraArguments) }
    }

    /// Starts one simulated dongle; `link` makes a stable symlink to its pty (replug tests).
    public func startOne(staMAC: MACAddress? = nil, apMAC: MACAddress? = nil, link: String? = nil,
                         extraArguments: [String] = []) throws -> DonglePort {
        let n = lock.withLock { () -> Int in
            counter += 1
            return counter
        }
        let sta = staMAC ?? MACAddress(0x02, UInt8(prefix >> 8), UInt8(prefix & 0xFF), 0, UInt8(n), 1)
        let ap = apMAC ?? MACAddress(0x02, UInt8(prefix >> 8), UInt8(prefix & 0xFF), 0, UInt8(n), 2)
        var args = ["--air-dir", airDir, "--sta-mac", sta.description, "--ap-mac", ap.description]
        // Dongles sharing an air directory ACK each other from their own processes: the
        // simulator's 5 ms default fails unicasts whenever a busy machine does not run the
        // peer's process in time. 200 ms keeps a send to an absent peer quicker than the
        // client's attempt timeout.
        if !extraArguments.contains("--ack-timeout-ms") { args += ["--ack-timeout-ms", "200"] }
        if let l = link { args += ["--link", l] }
        args += extraArguments
        let d = try launch(args)
        lock.withLock { dongles.append(d) }
        return d
    }

    /// Starts a new simulator with the same arguments (same MACs, same `--link`): a replug.
    public func replug(_ old: DonglePort) throws -> DonglePort {
        old.unplug()
        let d = try launch(old.arguments)
        lock.withLock { dongles.append(d) }
        return d
    }

    private func launch(_ args: [String]) throws -> DonglePort {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Self.simulatorPath())
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw SimulatorError("espnow-sim exited before printing its port (args \(args))") }
            line.append(chunk)
        }
        let json = try JSONSerialization.jsonObject(with: line.prefix { $0 != UInt8(ascii: "\n") }) as? [String: Any]
        guard let port = json?["port"] as? String else {
            throw SimulatorError("bad ready line: \(String(decoding: line, as: UTF8.self))")
        }
        let linkIndex = args.firstIndex(of: "--link")
        let path = linkIndex.map { args[$0 + 1] } ?? port
        return DonglePort(port: path, staMAC: (json?["sta_mac"] as? String).flatMap(MACAddress.init),
                          apMAC: (json?["ap_mac"] as? String).flatMap(MACAddress.init), process: p, arguments: args)
    }

    /// Stops every simulator and removes the air directory.
    public func shutdown() {
        let all = lock.withLock { () -> [DonglePort] in
            let a = dongles
            dongles = []
            return a
        }
        for d in all { d.stop() }
        try? FileManager.default.removeItem(atPath: airDir)
    }
}
