import ArgumentParser
import ESPNowBroker
import ESPNowDevice
import ESPNowDiscovery
import ESPNowSerial
import ESPNowWire
import Foundation
import Logging
import NIOCore
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Options every device command takes.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp(
        "The dongle: a serial port path, `auto` (the only attached bridge dongle, followed to its new path if it is unplugged and plugged back; its broker if `espnow serve` has it), `sim` (start a simulated dongle with an echo and a sensor node for this call), or a broker: `unix:PATH`, `tcp://HOST:PORT`, `tls://HOST:PORT`.",
        valueName: "PATH|auto|sim|unix:PATH|tls://HOST:PORT"))
    var port: String = ProcessInfo.processInfo.environment["ESPNOW_PORT"] ?? "auto"

    @Flag(name: .long, help: "Machine-readable output: one JSON object per line.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("UART baud rate (USB dongles and the simulator ignore it).", valueName: "RATE"))
    var baud: Int = 921_600

    @Flag(name: .long, help: "Log the device client's activity to stderr.")
    var verbose = false

    func validate() throws {
        guard baud > 0 else { throw ValidationError("--baud must be positive") }
    }
}

/// A MAC address argument (`aa:bb:cc:dd:ee:ff`, `-` separators allowed, or `broadcast`).
struct MACArg: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let mac: MACAddress
    init?(argument: String) {
        if argument.lowercased() == "broadcast" || argument.lowercased() == "bcast" {
            mac = .broadcast
        } else if let m = MACAddress(argument) {
            mac = m
        } else {
            return nil
        }
    }
    var description: String { mac.description }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// Parses hex (`0a1b`, `0a 1b`, `0a:1b`, `0x0a1b`).
func parseHex(_ s: String) -> [UInt8]? {
    var t = s.lowercased()
    if t.hasPrefix("0x") { t.removeFirst(2) }
    let digits = t.filter { !($0 == " " || $0 == ":" || $0 == "-" || $0 == "\n" || $0 == "\t") }
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        guard let b = UInt8(digits[i..<j], radix: 16) else { return nil }
        out.append(b)
        i = j
    }
    return out
}

/// A 16-byte key given as 32 hex digits.
func parseKey(_ s: String, what: String) throws -> [UInt8] {
    guard let k = parseHex(s), k.count == 16 else {
        throw CLIError(.usage, "\(what) must be 16 bytes written as 32 hex digits, e.g. 00112233445566778899aabbccddeeff")
    }
    return k
}

/// The scripted nodes `--port sim` starts next to its dongle.
enum SimDefaults {
    static let seed = "1"
    /// `--port sim`: dongle 0, an echo node (radio 1) and a sensor node (radio 2).
    static let arguments = ["--dongles", "1", "--seed", seed, "--realtime", "--node", "echo", "--node", "sensor,interval=1000"]
    static let expect = 3
}

/// An open dongle (and the simulator behind it, for `--port sim`).
final class Session: Sendable {
    let device: ESPNowDevice
    let port: String
    let air: SimAir?
    let json: Bool

    init(device: ESPNowDevice, port: String, air: SimAir?, json: Bool) {
        self.device = device
        self.port = port
        self.air = air
        self.json = json
    }

    /// The first echo node of the simulated air, if any.
    var echoNode: MACAddress? { air?.nodes.first { $0.script == "echo" }?.staMAC }

    /// Opens the dongle `options.port` names, runs `body`, closes everything. Errors are
    /// mapped to one-sentence `CLIError`s naming the port. `prepare` makes sure Wi-Fi (STA)
    /// is active and ESP-NOW initialised, as a MicroPython script would.
    /// `keepPeers`: through a broker, peers this command adds stay after it exits.
    static func run<T: Sendable>(_ options: ConnectionOptions, prepare: Bool = true, keepPeers: Bool = false,
                                 _ body: @Sendable (Session) async throws -> T) async throws -> T {
        let (path, air) = try await resolve(options)
        return try await run(path: path.path, air: air, follow: path.dongle, options, prepare: prepare,
                             keepPeers: keepPeers, body)
    }

    /// Opens `path` (whose simulator, if any, is `air` and is stopped at the end). With
    /// `follow` (`--port auto` found it through udev), an unplugged dongle is reconnected
    /// wherever it comes back (same USB serial number) and its state restored; otherwise a
    /// lost port ends the command.
    static func run<T: Sendable>(path: String, air: SimAir?, follow: SerialDevice? = nil, _ options: ConnectionOptions,
                                 prepare: Bool = true, keepPeers: Bool = false, _ body: @Sendable (Session) async throws -> T) async throws -> T {
        var devOptions = DeviceOptions()
        devOptions.autoReconnect = false
        if let dongle = follow, let tracker = try? DongleTracker(device: dongle) {
            devOptions.autoReconnect = true
            devOptions.reconnectPath = tracker.reconnectPath
        }
        devOptions.serial.baudRate = options.baud
        devOptions.broker = .fromEnvironment()
        if keepPeers { devOptions.broker.keepPeers = true }
        var logger = Logger(label: "espnow")
        logger.logLevel = options.verbose ? .debug : .critical
        devOptions.logger = logger
        let device: ESPNowDevice
        do {
            device = try await ESPNowDevice.connect(path: path, options: devOptions)
        } catch {
            await air?.stop()
            throw CLIError.from(error, port: path)
        }
        let s = Session(device: device, port: path, air: air, json: options.json)
        do {
            if prepare { try await s.prepare() }
            let r = try await body(s)
            await s.close()
            return r
        } catch {
            await s.close()
            throw CLIError.from(error, port: path)
        }
    }

    func close() async {
        await device.close()
        await air?.stop()
    }

    /// Wi-Fi STA active and ESP-NOW initialised (both idempotent).
    func prepare() async throws {
        // Idempotent, and also starts Wi-Fi when the mode already has STA but the radio is
        // stopped (WIFI_GET_IF_ACTIVE only reports the mode bit).
        try await device.wifiSetIfActive(.sta, true)
        try await device.espNowInit()
    }

    /// A port to open, and for `auto` through udev, the dongle behind it.
    struct Resolved: Sendable {
        var path: String
        var dongle: SerialDevice?
    }

    /// `PATH|auto|sim` to a path (starting the simulator for `sim`).
    static func resolve(_ options: ConnectionOptions) async throws -> (Resolved, SimAir?) {
        switch options.port {
        case "sim":
            let air = try await SimAir.start(arguments: SimDefaults.arguments, expect: SimDefaults.expect)
            guard let d = air.dongles.first, let port = d.port else {
                await air.stop()
                throw CLIError(.device, "the simulator started no dongle")
            }
            if !options.json {
                let nodes = air.nodes.map { "\($0.script ?? "node") \($0.staMAC?.description ?? "?")" }.joined(separator: ", ")
                Out.err("simulated dongle \(d.staMAC?.description ?? "?") on \(port); nodes on its air: \(nodes)")
            }
            return (Resolved(path: port), air)
        case "auto":
            let c = try await PortFinder.auto()
            return (Resolved(path: c.path, dongle: c.device), nil)
        default:
            return (Resolved(path: options.port), nil)
        }
    }
}

/// Finding dongles: udev (ESPNowDiscovery) first, a /dev scan when udev is unavailable.
enum PortFinder {
    struct Candidate: Sendable {
        var path: String
        var device: SerialDevice?
        var outcome: ProbeOutcome
    }

    /// USB serial ports, from udev, or (no udev: containers, minimal systems) from
    /// /dev/serial/by-id and /dev/ttyACM*, /dev/ttyUSB*.
    static func ports() -> (devices: [SerialDevice], scanned: [String], udevError: String?) {
        do {
            return (try SerialDiscovery.devices(matching: .all), [], nil)
        } catch {
            return ([], scanDev(), error.description)
        }
    }

    static func scanDev() -> [String] {
        let fm = FileManager.default
        var seen = Set<String>()
        var out: [String] = []
        if let ids = try? fm.contentsOfDirectory(atPath: "/dev/serial/by-id") {
            for id in ids.sorted() {
                let link = "/dev/serial/by-id/\(id)"
                let real = (try? fm.destinationOfSymbolicLink(atPath: link))
                    .map { URL(fileURLWithPath: $0, relativeTo: URL(fileURLWithPath: "/dev/serial/by-id/")).standardizedFileURL.path }
                if let r = real { seen.insert(r) }
                out.append(link)
            }
        }
        if let devs = try? fm.contentsOfDirectory(atPath: "/dev") {
            for d in devs.sorted() where d.hasPrefix("ttyACM") || d.hasPrefix("ttyUSB") {
                let p = "/dev/\(d)"
                if !seen.contains(p) { out.append(p) }
            }
        }
        return out
    }

    /// Probes every likely port (short HELLO, never resets the board).
    static func probeAll(timeout: Duration = .milliseconds(500)) async -> (candidates: [Candidate], udevError: String?) {
        let (devices, scanned, udevError) = ports()
        let opts = ProbeOptions(timeout: timeout)
        if udevError == nil {
            let probed = await SerialProbe.probe(devices, options: opts)
            return (probed.map { Candidate(path: $0.device.byIDLink ?? $0.device.devnode, device: $0.device, outcome: $0.outcome) }, nil)
        }
        let outcomes = await withTaskGroup(of: (Int, ProbeOutcome).self) { g in
            for (i, p) in scanned.enumerated() { g.addTask { (i, await SerialProbe.probe(path: p, options: opts)) } }
            var r = [ProbeOutcome?](repeating: nil, count: scanned.count)
            for await (i, o) in g { r[i] = o }
            return r
        }
        return (zip(scanned, outcomes).map { Candidate(path: $0, device: nil, outcome: $1 ?? .failed(.cancelled(path: $0))) }, udevError)
    }

    /// A broker (`espnow serve`) to use instead: the one serving the dongle that is busy
    /// because the broker has it (its socket is named after the USB serial number), or,
    /// when no dongle is attached, the only broker socket in the default directories.
    static func runningBroker(_ cands: [Candidate]) -> Candidate? {
        let busy = cands.filter { if case .failed(.busy) = $0.outcome { true } else { false } }
        for c in busy {
            guard let serial = c.device?.serialNumber else { continue }
            let p = BrokerConfiguration.defaultSocketPath(name: serial)
            if FileManager.default.fileExists(atPath: p) { return Candidate(path: "unix:\(p)", device: nil, outcome: c.outcome) }
        }
        guard cands.isEmpty else { return nil }
        let dirs = [BrokerConfiguration.defaultSocketPath(name: "x"), "/run/espnow/x.sock"].map { ($0 as NSString).deletingLastPathComponent }
        var sockets: [String] = []
        for d in Set(dirs) {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? [] where f.hasSuffix(".sock") { sockets.append("\(d)/\(f)") }
        }
        guard sockets.count == 1 else { return nil }
        return Candidate(path: "unix:\(sockets[0])", device: nil, outcome: .noAnswer(bytesReceived: 0, validFrames: 0))
    }

    /// `--port auto`: the only attached bridge dongle (with its udev description, when udev works).
    static func auto() async throws -> Candidate {
        let (cands, _) = await probeAll()
        let bridges = cands.filter { $0.outcome.isBridge }
        if bridges.count == 1 { return bridges[0] }
        if bridges.isEmpty, let b = runningBroker(cands) { return b }
        if bridges.count > 1 {
            throw CLIError(.device, "several bridge dongles are attached (\(bridges.map(\.path).joined(separator: ", "))); pick one with --port PATH")
        }
        if cands.isEmpty {
            throw CLIError(.device, "no dongle found: no USB serial port is attached; plug one in, or try without hardware with --port sim (or `espnow demo`)")
        }
        if let denied = cands.first(where: { if case .failed(.permissionDenied) = $0.outcome { true } else { false } }) {
            throw CLIError(.device, "permission denied opening \(denied.path): \(CLIError.udevRuleHint)")
        }
        if let old = cands.first(where: { if case .foreignProtocol = $0.outcome { true } else { false } }) {
            throw CLIError(.device, "\(old.path): \(old.outcome.description)")
        }
        let list = cands.map { "\($0.path) (\($0.outcome.description))" }.joined(separator: "; ")
        throw CLIError(.device, "no bridge dongle found among the serial ports: \(list); flash the bridge firmware (firmware-bridge/README.md) or pick a port with --port PATH")
    }
}

/// Ctrl-C and SIGTERM: the first one ends the running loop (which then prints its summary
/// and cleans up); outside a loop, or on the second one, stop the simulators and exit 130.
enum Interrupt {
    private static let current = NIOLockedValueBox<(task: Task<Void, Never>?, count: Int)>((nil, 0))
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    private static let installed = NIOLockedValueBox(false)

    static func install() {
        let first = installed.withLockedValue { i -> Bool in
            defer { i = true }
            return !i
        }
        guard first else { return }
        var srcs: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                let task = current.withLockedValue { c -> Task<Void, Never>? in
                    c.count += 1
                    return c.count == 1 ? c.task : nil
                }
                if let t = task {
                    t.cancel()
                } else {
                    Children.terminateAll()
                    if Out.stderrIsTerminal { Out.err("") }
                    exit(ExitStatus.interrupted.rawValue)
                }
            }
            s.resume()
            srcs.append(s)
        }
        sources = srcs
    }

    /// Runs `body` until it returns or the user interrupts; returns whether it was interrupted.
    /// Errors other than cancellation propagate.
    @discardableResult
    static func loop(_ body: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        let t = Task {
            do { try await body() } catch is CancellationError {} catch { failure.withLockedValue { $0 = error } }
        }
        current.withLockedValue { $0 = (t, 0) }
        await t.value
        let interrupted = current.withLockedValue { c -> Bool in
            let i = c.count > 0
            c = (nil, c.count)
            return i
        }
        if let e = failure.withLockedValue({ $0 }) { throw e }
        return interrupted
    }
}

/// Monotonic seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
