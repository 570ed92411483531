import ESPNowWire
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// An access point of the simulated air (`--ap SSID:PASSWORD:CHANNEL`).
public struct SimAccessPoint: Sendable, Hashable {
    public var ssid: String
    /// Empty: an open network; else 8...64 characters.
    public var password: String
    public var channel: Int

    public init(ssid: String, password: String = "", channel: Int) {
        self.ssid = ssid
        self.password = password
        self.channel = channel
    }
}

/// Faults of every dongle's serial link (probabilities per bit / per byte).
public struct SerialFaults: Sendable, Hashable {
    public var berH2D: Double = 0
    public var berD2H: Double = 0
    public var dropH2D: Double = 0
    public var dropD2H: Double = 0

    public init(berH2D: Double = 0, berD2H: Double = 0, dropH2D: Double = 0, dropD2H: Double = 0) {
        self.berH2D = berH2D
        self.berD2H = berD2H
        self.dropH2D = dropH2D
        self.dropD2H = dropD2H
    }
}

/// How to start a coordinator (`espnow-sim --dongles N` or `--scene FILE`, docs/SIMULATOR.md).
public struct AirOptions: Sendable {
    /// Number of dongles (`--dongles`); nil with a scene: the scene's.
    public var dongles: Int?
    /// A scene file (`--scene`); flags given too override it.
    public var sceneFile: String?
    /// A scene as JSON text, written to a private file (alternative to `sceneFile`).
    public var sceneJSON: String?
    public var accessPoints: [SimAccessPoint] = []
    /// Scripted nodes, as `--node` specs: `echo`, `sensor,interval=100`, `flood,len=250,rate=12`...
    public var nodes: [String] = []
    /// Airtime elapses (`--realtime`); default instant.
    public var realtime = false
    public var faults = SerialFaults()
    /// Pacing of every serial link like a UART bridge (`--baud`); nil/0: an unpaced pty.
    public var baud: Int?
    /// Channel every dongle starts on (`--channel`).
    public var channel: Int?
    /// Seed of MACs, loss and faults (`--seed`).
    public var seed: UInt64?
    /// Anything else, passed as is (e.g. `["--retries", "1"]`).
    public var extraArguments: [String] = []
    /// Radios to wait for when that cannot be derived (a scene plus `--node` flags).
    public var expectRadios: Int?
    public var readyTimeout: Duration = .seconds(20)

    public init(dongles: Int? = nil, accessPoints: [SimAccessPoint] = [], nodes: [String] = [],
                realtime: Bool = false, faults: SerialFaults = SerialFaults()) {
        self.dongles = dongles
        self.accessPoints = accessPoints
        self.nodes = nodes
        self.realtime = realtime
        self.faults = faults
    }

    var needsSimulator: Bool {
        sceneFile != nil || sceneJSON != nil || !accessPoints.isEmpty || !nodes.isEmpty || realtime
            || faults != SerialFaults() || (baud ?? 0) != 0 || channel != nil || !extraArguments.isEmpty
    }
}

/// One radio of the air, as its JSON line announced it.
public struct AirRadio: Sendable, Hashable {
    public var index: Int
    /// The path to open: the stable `--link-dir` symlink when there is one, else the pty
    /// (a real device's path for `ESPNOW_PORTS`). Nil for scripted nodes.
    public var port: String?
    /// The pseudo-terminal itself (changes on replug).
    public var pty: String?
    public var staMAC: MACAddress?
    public var apMAC: MACAddress?
    public var pid: Int?
    public var channel: Int?
    public var bootCount: Int?
    /// `echo`, `sensor` or `flood` for scripted nodes.
    public var script: String?

    public var isDongle: Bool { script == nil }

    init?(json obj: [String: Any]) {
        guard let i = obj["index"] as? Int else { return nil }
        index = i
        pty = obj["port"] as? String
        port = (obj["link"] as? String) ?? pty
        staMAC = (obj["sta_mac"] as? String).flatMap(MACAddress.init)
        apMAC = (obj["ap_mac"] as? String).flatMap(MACAddress.init)
        pid = obj["pid"] as? Int
        channel = obj["channel"] as? Int
        bootCount = obj["boot_count"] as? Int
        script = obj["script"] as? String
    }

    init(realPort: String, index: Int) {
        self.index = index
        port = realPort
        pty = nil
    }
}

/// A line the coordinator printed after the ready lines.
public enum AirEvent: Sendable, Hashable {
    /// Rebooted through the control socket (same pty, boot_count + 1).
    case reboot(AirRadio)
    /// Plugged in again (a new pty; the symlink points at it again).
    case replug(AirRadio)
    /// The dongle process died by itself and was restarted (reason `panic`).
    case crash(AirRadio)
    case unplug(index: Int)
    case other(String)
}

/// Per-radio figures of the control socket's `stats` command (docs/SIMULATOR.md).
public struct AirStats: Sendable, Decodable {
    public struct Serial: Sendable, Decodable {
        public var bytes: Int
        public var dropped: Int
        public var flippedBits: Int
    }

    public struct Radio: Sendable, Decodable {
        public var index: Int
        public var kind: String
        public var on: Bool
        public var channel: Int
        public var tx: Int
        public var txOk: Int
        public var txFail: Int
        /// Frames on the air including retries.
        public var attempts: Int
        public var rx: Int
        public var rxLost: Int
        public var rxPhy: Int
        public var rxOverflow: Int
        public var pid: Int?
        public var plugged: Bool?
        public var bootCount: Int?
        public var respawns: Int?
        public var baud: Int?
        public var h2d: Serial?
        public var d2h: Serial?
    }

    public var frames: Int
    public var burstLost: Int
    public var realtime: Bool
    public var radios: [Radio]

    public subscript(_ index: Int) -> Radio? { radios.first { $0.index == index } }
}

public enum SerialDirection: String, Sendable { case h2d, d2h, both }

/// A running `espnow-sim` coordinator: a simulated air with dongles (each on its own pty,
/// with a stable symlink), scripted nodes, access points, serial faults and a control
/// socket; or, when `ESPNOW_PORTS` lists real devices and nothing simulator-only is asked
/// for, those devices (control commands then throw).
///
/// ```swift
/// let air = try await SimulatedAir.start(AirOptions(dongles: 2, accessPoints: [.init(ssid: "lab", password: "password", channel: 6)]))
/// defer { air.shutdown() }
/// let e = try await ESPNow.open(air.dongles[0].port!)
/// try await air.reboot(0)
/// ```
public final class SimulatedAir: Sendable {
    /// Dongles in index order, as first announced (their `port` stays valid across replugs).
    public let dongles: [AirRadio]
    /// Scripted nodes in index order.
    public let nodes: [AirRadio]
    /// Coordinator lines after the ready lines (one consumer).
    public let events: AsyncStream<AirEvent>
    public let controlPath: String?
    public let workDir: String?
    public var isSimulated: Bool { process != nil }

    private let process: ProcessBox?
    private let controlFD = NIOLockedValueBox<Int32>(-1)
    private let controlQueue = DispatchQueue(label: "espnow-sim-control")
    private let latest: RadioTable
    private let stopped = NIOLockedValueBox(false)

    private init(process: ProcessBox?, radios: [AirRadio], events: AsyncStream<AirEvent>, controlPath: String?,
                 workDir: String?, latest: RadioTable = RadioTable()) {
        self.process = process
        dongles = radios.filter(\.isDongle).sorted { $0.index < $1.index }
        nodes = radios.filter { !$0.isDongle }.sorted { $0.index < $1.index }
        self.events = events
        self.controlPath = controlPath
        self.workDir = workDir
        self.latest = latest
        latest.table.withLockedValue { t in
            for r in radios where t[r.index] == nil { t[r.index] = r }
        }
    }

    deinit { shutdown() }

    /// The latest announcement of radio `index` (new pty and boot count after reboot/replug).
    public func radio(_ index: Int) -> AirRadio? { latest.table.withLockedValue { $0[index] } }

    /// The arguments `start` passes to `espnow-sim` (besides `--link-dir`/`--control`).
    public static func arguments(for o: AirOptions, scenePath: String?) -> [String] {
        var a: [String] = []
        if let s = scenePath { a += ["--scene", s] }
        if let n = o.dongles { a += ["--dongles", String(n)] } else if scenePath == nil { a += ["--dongles", "2"] }
        for ap in o.accessPoints { a += ["--ap", "\(ap.ssid):\(ap.password):\(ap.channel)"] }
        for n in o.nodes { a += ["--node", n] }
        if o.realtime { a.append("--realtime") }
        let f = o.faults
        if f.berH2D > 0 { a += ["--ber-h2d", "\(f.berH2D)"] }
        if f.berD2H > 0 { a += ["--ber-d2h", "\(f.berD2H)"] }
        if f.dropH2D > 0 { a += ["--drop-h2d", "\(f.dropH2D)"] }
        if f.dropD2H > 0 { a += ["--drop-d2h", "\(f.dropD2H)"] }
        if let b = o.baud, b > 0 { a += ["--baud", String(b)] }
        if let c = o.channel { a += ["--channel", String(c)] }
        if let s = o.seed { a += ["--seed", String(s)] }
        return a + o.extraArguments
    }

    /// Radios to wait for: dongles + nodes, from the options and the scene.
    static func expectedRadios(_ o: AirOptions, sceneText: String?) throws -> Int {
        if let e = o.expectRadios { return e }
        var dongles = o.dongles ?? 2
        var nodes = o.nodes.count
        if let text = sceneText {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw SimulatorError("the scene is not a JSON object (espnow-sim reports where)")
            }
            if o.dongles == nil {
                if let n = obj["dongles"] as? Int { dongles = n } else if let a = obj["dongles"] as? [Any] { dongles = a.count }
            }
            if o.nodes.isEmpty, let a = obj["nodes"] as? [Any] { nodes = a.count } else if !o.nodes.isEmpty && obj["nodes"] != nil {
                throw SimulatorError("scene nodes plus --node flags: set AirOptions.expectRadios")
            }
        }
        return dongles + nodes
    }

    /// Starts the coordinator and waits until every radio announced itself.
    public static func start(_ options: AirOptions = AirOptions(dongles: 2)) async throws -> SimulatedAir {
        if let real = SimulatedDongles.realPorts {
            guard !options.needsSimulator else {
                throw SimulatorError("ESPNOW_PORTS is set but this test needs the simulator (APs, nodes, faults, realtime or a scene)")
            }
            let n = options.dongles ?? 2
            guard real.count >= n else { throw SimulatorError("ESPNOW_PORTS lists \(real.count) ports, \(n) needed") }
            let radios = real.prefix(n).enumerated().map { AirRadio(realPort: $1, index: $0) }
            return SimulatedAir(process: nil, radios: radios, events: AsyncStream { $0.finish() }, controlPath: nil, workDir: nil)
        }
        let fm = FileManager.default
        var base = fm.temporaryDirectory.path
        if base.utf8.count > 60 { base = "/tmp" }  // sun_path is 108 bytes
        let dir = "\(base)/espnow-air-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var scenePath = options.sceneFile
        var sceneText = try options.sceneFile.map { try String(contentsOfFile: $0, encoding: .utf8) }
        if let json = options.sceneJSON {
            scenePath = "\(dir)/scene.json"
            try json.write(toFile: scenePath!, atomically: true, encoding: .utf8)
            sceneText = json
        }
        let expect: Int
        do {
            expect = try expectedRadios(options, sceneText: sceneText)
        } catch {
            try? fm.removeItem(atPath: dir)
            throw error
        }
        let control = "\(dir)/ctl"
        let args = ["--link-dir", "\(dir)/links", "--control", control] + arguments(for: options, scenePath: scenePath)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: try SimulatedDongles.simulatorPath())
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        let errPath = "\(dir)/stderr.log"
        _ = fm.createFile(atPath: errPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        try p.run()
        let box = ProcessBox(p)
        let (events, cont) = AsyncStream.makeStream(of: AirEvent.self, bufferingPolicy: .bufferingNewest(1024))
        let handle = out.fileHandleForReading
        let latest = RadioTable()
        let ready = ReadyHandOver()
        let radios: [AirRadio]? = await withCheckedContinuation { (c: CheckedContinuation<[AirRadio]?, Never>) in
            ready.set(c)
            // Blocking reads stay off the cooperative pool: the coordinator's stdout has its own thread.
            let t = Thread {
                var buffer = Data()
                var found: [AirRadio] = []
                var handedOver = false
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = buffer[buffer.startIndex..<nl]
                        buffer.removeSubrange(buffer.startIndex...nl)
                        guard let obj = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                            if handedOver { cont.yield(.other(String(decoding: line, as: UTF8.self))) }
                            continue
                        }
                        let event = obj["event"] as? String
                        if !handedOver, event == nil, let r = AirRadio(json: obj) {
                            found.append(r)
                            if found.count >= expect {
                                handedOver = true
                                ready.resume(found)
                            }
                            continue
                        }
                        let radio = AirRadio(json: obj)
                        if let r = radio, r.pty != nil || r.script != nil { latest.table.withLockedValue { $0[r.index] = r } }
                        guard handedOver else { continue }
                        switch (event, radio) {
                        case ("reboot", let r?): cont.yield(.reboot(r))
                        case ("replug", let r?): cont.yield(.replug(r))
                        case ("crash", let r?): cont.yield(.crash(r))
                        case ("unplug", let r?): cont.yield(.unplug(index: r.index))
                        default: cont.yield(.other(String(decoding: line, as: UTF8.self)))
                        }
                    }
                }
                cont.finish()
                ready.resume(nil)
            }
            t.name = "espnow-sim-stdout"
            t.start()
            let pid = p.processIdentifier
            let timeout = options.readyTimeout
            ready.setTimer(Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled && ready.pending { kill(pid, SIGTERM) }
            })
        }
        guard let radios else {
            box.terminateAndWait()
            let why = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            try? fm.removeItem(atPath: dir)
            throw SimulatorError("espnow-sim exited before \(expect) radios were ready (status \(p.terminationStatus)): "
                                 + "\(why.trimmingCharacters(in: .whitespacesAndNewlines)) [espnow-sim \(args.joined(separator: " "))]")
        }
        return SimulatedAir(process: box, radios: radios, events: events, controlPath: control, workDir: dir, latest: latest)
    }

    // MARK: Control socket

    /// Sends one control command; returns what followed `OK` (may be empty), throws on `ERR`.
    @discardableResult
    public func control(_ command: String) async throws -> String {
        guard let path = controlPath else { throw SimulatorError("no control socket: real devices from ESPNOW_PORTS") }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<String, any Error>) in
            controlQueue.async {
                c.resume(with: Result { try self.controlBlocking(command, path: path) })
            }
        }
    }

    /// Runs on `controlQueue` only (one command at a time; the reply is immediate).
    private func controlBlocking(_ command: String, path: String) throws -> String {
        var fd = controlFD.withLockedValue { $0 }
        if fd < 0 {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw SimulatorError("control socket: \(String(cString: strerror(errno)))") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw SimulatorError("control path too long: \(path)") }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else {
                let e = String(cString: strerror(errno))
                close(fd)
                throw SimulatorError("cannot connect to the control socket \(path): \(e)")
            }
            let f = fd
            controlFD.withLockedValue { $0 = f }
        }
        let line = Array((command + "\n").utf8)
        var sent = 0
        while sent < line.count {
            let n = line[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SimulatorError("control socket write: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !reply.contains(UInt8(ascii: "\n")) {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SimulatorError("control socket closed while waiting for the reply to '\(command)'") }
            reply += chunk[0..<n]
        }
        let text = String(decoding: reply.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        if text == "OK" { return "" }
        if text.hasPrefix("OK ") { return String(text.dropFirst(3)) }
        throw SimulatorError("espnow-sim control '\(command)': \(text)")
    }

    /// Kills and restarts dongle `index` on the same pty (boot_count + 1; HELLO follows).
    public func reboot(_ index: Int, reason: String = "ext") async throws { try await control("reboot \(index) \(reason)") }
    /// The dongle loses power and its pty closes (the host sees a hangup).
    public func unplug(_ index: Int) async throws { try await control("unplug \(index)") }
    /// A new pty behind the same symlink and a power-on boot.
    public func replug(_ index: Int) async throws { try await control("replug \(index)") }
    public func setBitErrorRate(_ index: Int, _ direction: SerialDirection, _ p: Double) async throws {
        try await control("ber \(index) \(direction.rawValue) \(p)")
    }
    public func setDropRate(_ index: Int, _ direction: SerialDirection, _ p: Double) async throws {
        try await control("drop \(index) \(direction.rawValue) \(p)")
    }
    /// The coordinator's counters (air and serial link, per radio).
    public func stats() async throws -> AirStats {
        let json = try await control("stats")
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return try d.decode(AirStats.self, from: Data(json.utf8))
    }

    // MARK: Shutdown

    /// SIGTERM to the coordinator (it stops every dongle and removes its links and socket),
    /// waits for it, and removes the work directory. Idempotent.
    public func shutdown() {
        guard !stopped.withLockedValue({ s in defer { s = true }; return s }) else { return }
        let fd = controlFD.withLockedValue { f in defer { f = -1 }; return f }
        if fd >= 0 { close(fd) }
        process?.terminateAndWait()
        if let d = workDir { try? FileManager.default.removeItem(atPath: d) }
    }
}

/// Foundation's Process is not Sendable; this box only signals and waits.
final class ProcessBox: @unchecked Sendable {
    let process: Process
    init(_ p: Process) { process = p }
    func terminateAndWait() {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

/// The latest announcement of each radio (updated by the stdout reader).
final class RadioTable: Sendable {
    let table = NIOLockedValueBox<[Int: AirRadio]>([:])
}

/// Resumes the start continuation exactly once.
final class ReadyHandOver: Sendable {
    private let c = NIOLockedValueBox<CheckedContinuation<[AirRadio]?, Never>?>(nil)
    private let done = NIOLockedValueBox(false)
    func set(_ k: CheckedContinuation<[AirRadio]?, Never>) { c.withLockedValue { $0 = k } }
    var pending: Bool { !done.withLockedValue { $0 } }
    private let timer = NIOLockedValueBox<Task<Void, Never>?>(nil)
    func setTimer(_ t: Task<Void, Never>) {
        timer.withLockedValue { $0 = t }
        if !pending { t.cancel() }
    }
    func resume(_ v: [AirRadio]?) {
        let k = c.withLockedValue { $0.take() }
        done.withLockedValue { $0 = true }
        timer.withLockedValue { $0 }?.cancel()
        k?.resume(returning: v)
    }
}
