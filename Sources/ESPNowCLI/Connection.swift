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
        "The dongle: a serial port path, `auto` (the only attached bridge dongle, its broker if `espnow serve` has it; with --reconnect followed to its new path if it is unplugged and plugged back), `sim` (start a simulated dongle with an echo and a sensor node for this call), `id:SERIAL` (the dongle with this USB serial number), a name from the config file's [ports], or a broker: `unix:PATH`, `tcp://HOST:PORT`, `tls://HOST:PORT`. Default: $ESPNOW_PORT, else the config file's port, else auto.",
        valueName: "PATH|auto|sim|id:SERIAL|NAME|unix:PATH|tls://HOST:PORT"))
    var port: String = ConnectionOptions.environmentPort ?? ConfigFile.current.port ?? "auto"

    /// `$ESPNOW_PORT`, when set and not empty.
    static var environmentPort: String? {
        guard let v = ProcessInfo.processInfo.environment["ESPNOW_PORT"], !v.isEmpty else { return nil }
        return v
    }

    @Flag(name: .long, help: "Machine-readable output: one JSON object per line.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Raise a UART dongle's link to RATE baud after connecting (SET_BAUD; the dongle starts at its firmware's rate, 921600 by default, and goes back to it 2 seconds after the command ends). USB dongles have no baud rate: ignored there, with a note on stderr.", valueName: "RATE"))
    var baud: Int?

    @Flag(name: .long, help: "Log the device client's activity to stderr.")
    var verbose = false

    @Flag(name: .long, help: "If the dongle goes away, wait for it to come back (the same USB serial number when udev knows it, else the same path), restore its state and go on, saying so on stderr. Without it a lost dongle ends the command with exit 2.")
    var reconnect = false

    func validate() throws {
        if let b = baud, !(9600...5_000_000).contains(b) { throw ValidationError("--baud must be 9600...5000000") }
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

/// A 16-byte key (PMK or LMK). Exactly 32 hex digits are hex; exactly 16 characters
/// (16 UTF-8 bytes) are the bytes of that text, as MicroPython's `set_pmk(b'...')`;
/// The lengths differ, so no key reads both ways; `hex:` and `ascii:` say which is meant
/// and turn a wrong length into an error about that reading.
func parseKey(_ s: String, what: String) throws -> [UInt8] {
    let usage = "\(what) must be 16 bytes: 32 hex digits (00112233445566778899aabbccddeeff) or 16 ASCII characters (`hex:`/`ascii:` force one)"
    if s.hasPrefix("hex:") {
        let body = String(s.dropFirst(4))
        guard body.count == 32, let k = parseHex(body), k.count == 16 else { throw CLIError(.usage, "\(usage); hex: needs exactly 32 hex digits") }
        return k
    }
    if s.hasPrefix("ascii:") {
        let k = Array(s.dropFirst(6).utf8)
        guard k.count == 16 else { throw CLIError(.usage, "\(usage); ascii: needs exactly 16 bytes, got \(k.count)") }
        return k
    }
    if s.count == 32, s.allSatisfy(\.isHexDigit), let k = parseHex(s) { return k }
    let bytes = Array(s.utf8)
    if bytes.count == 16, s.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F }) { return bytes }
    throw CLIError(.usage, "\(usage); got \(bytes.count) characters")
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

    /// Opens `path` (whose simulator, if any, is `air` and is stopped at the end). A lost
    /// port ends the command, unless `--reconnect`: then the dongle is waited for where it
    /// comes back (same USB serial number when udev knows it, `follow` or looked up; else
    /// the same path) and its state restored.
    static func run<T: Sendable>(path: String, air: SimAir?, follow: SerialDevice? = nil, _ options: ConnectionOptions,
                                 prepare: Bool = true, keepPeers: Bool = false, _ body: @Sendable (Session) async throws -> T) async throws -> T {
        var devOptions = DeviceOptions()
        devOptions.autoReconnect = options.reconnect
        if options.reconnect, let dongle = follow ?? PortFinder.udevDevice(at: path), let tracker = try? DongleTracker(device: dongle) {
            devOptions.reconnectPath = tracker.reconnectPath
        }
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
            var e = CLIError.from(error, port: path)
            if let env = ConnectionOptions.environmentPort, env == options.port, env == path {
                e.message += " (the port came from $ESPNOW_PORT)"
            }
            throw e
        }
        let s = Session(device: device, port: path, air: air, json: options.json)
        do {
            if let b = options.baud { try await s.raiseBaud(b) }
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
        await watcher.value?.value
        await air?.stop()
    }

    private let watcher = Locked<Task<Void, Never>?>(nil)

    /// For long-running commands: says on stderr what happens to the dongle while the
    /// command runs — every DROPPED report (at most one line a second, the counts added
    /// up), and with --reconnect, the dongle going away and coming back. Call once.
    func watch() {
        let (d, json, port) = (device, json, port)
        let t = Task {
            var pending: [UInt8: UInt64] = [:]
            var totals: [UInt8: UInt32] = [:]
            var last = 0.0
            func flush() {
                for (what, n) in pending.sorted(by: { $0.key < $1.key }) where n > 0 {
                    DropReport.line(what: what, count: n, total: totals[what] ?? 0, json: json)
                }
                pending = [:]
                last = now()
            }
            for await e in d.events {
                switch e {
                case .dropped(let what, let count, let total):
                    pending[what, default: 0] += UInt64(count)
                    totals[what] = total
                    if now() - last >= 1 { flush() }
                case .unplugged(let p, _):
                    flush()
                    Out.err(json ? JSON.object([("event", .string("unplugged")), ("port", .string(p))]).text
                            : "espnow: \(p) went away; waiting for it to come back (--reconnect)")
                case .replugged(let info):
                    Out.err(json ? JSON.object([("event", .string("replugged")), ("port", .string(d.path)),
                                                ("boot_count", .int(info.bootCount))]).text
                            : "espnow: the dongle is back on \(d.path); restoring its state")
                case .restored(let steps, let failed):
                    if json {
                        Out.err(JSON.object([("event", .string("restored")), ("steps", .int(steps)),
                                             ("failed", .array(failed.map { .string($0) }))]).text)
                    } else {
                        Out.err(failed.isEmpty ? "espnow: state restored (\(steps) steps); going on"
                                : "espnow: state restored with \(failed.count) failed steps: \(failed.joined(separator: "; "))")
                    }
                default:
                    break
                }
                if !pending.isEmpty, now() - last >= 1 { flush() }
            }
            flush()
            _ = port
        }
        watcher.update { $0 = t }
    }

    /// Packets and reports this connection lost: the dongle's DROPPED reports and the
    /// host queue's overflow.
    var drops: (device: UInt64, host: UInt64) {
        let c = device.hostCounters
        return (c.deviceDropped.values.reduce(0, +), c.packetsDropped)
    }

    /// Wi-Fi STA active and ESP-NOW initialised (both idempotent); then the config file's
    /// country and channel, if it has them (not through a broker: others share the radio).
    func prepare() async throws {
        // Idempotent, and also starts Wi-Fi when the mode already has STA but the radio is
        // stopped (WIFI_GET_IF_ACTIVE only reports the mode bit).
        try await device.wifiSetIfActive(.sta, true)
        try await device.espNowInit()
        let config = ConfigFile.current
        guard !device.info.isBrokered else { return }
        if let c = config.country { try await device.wifiSetCountryCode(c) }
        if let ch = config.channel, try await device.wifiGetChannel().primary != ch { try await device.wifiSetChannel(primary: ch) }
    }

    /// `--baud`: SET_BAUD on a UART dongle; a note elsewhere.
    func raiseBaud(_ rate: Int) async throws {
        let i = device.info
        guard i.transport == 2, i.caps & 2 != 0 else {
            let what = i.isBrokered ? "a broker owns its serial line" : "its link (\(transportNames[i.transport] ?? "transport \(i.transport)")) has no baud rate"
            Out.err("espnow: --baud ignored: \(what)")
            return
        }
        guard UInt32(rate) != i.baud else { return }
        try await device.setBaud(rate)
        baud.update { $0 = UInt32(rate) }
    }

    /// The UART rate in force (HELLO's, or the one --baud switched to).
    var linkBaud: UInt32 { baud.value ?? device.info.baud }
    private let baud = Locked<UInt32?>(nil)

    /// A port to open, and for `auto` through udev, the dongle behind it.
    struct Resolved: Sendable {
        var path: String
        var dongle: SerialDevice?
    }

    /// `PATH|auto|sim` to a path (starting the simulator for `sim`).
    static func resolve(_ options: ConnectionOptions) async throws -> (Resolved, SimAir?) {
        let port = try PortName.expand(options.port)
        if port.hasPrefix("id:") {
            let found = try PortName.bySerial(String(port.dropFirst(3)))
            return (Resolved(path: found.path, dongle: found.device), nil)
        }
        switch port {
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
            return (Resolved(path: port), nil)
        }
    }
}

/// A DROPPED report for humans (or as JSON on stderr).
enum DropReport {
    static func name(_ what: UInt8) -> String {
        switch what {
        case 1: "received packets (its receive buffer was full)"
        case 2: "events (its link queue was full)"
        case 3: "log lines"
        default: "items of kind \(what)"
        }
    }

    static func line(what: UInt8, count: UInt64, total: UInt32, json: Bool) {
        if json {
            Out.err(JSON.object([("event", .string("dropped")), ("what", .int(what)), ("count", .int(count)),
                                 ("total", .int(total))]).text)
        } else {
            let hint = what == 1 ? "; raise --rxbuf or send less" : ""
            Out.err(Style.yellow("espnow:") + " the dongle dropped \(count) \(name(what)) (total \(total) since boot)\(hint)")
        }
    }
}

/// Finding dongles: udev (ESPNowDiscovery) first, a /dev scan when udev is unavailable.
enum PortFinder {
    /// The udev description of the serial port at `path` (for following it by serial number).
    static func udevDevice(at path: String) -> SerialDevice? {
        guard let devices = try? SerialDiscovery.devices(matching: .all) else { return nil }
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return devices.first { $0.devnode == real || $0.byIDLink == path }
    }

    struct Candidate: Sendable {
        var path: String
        var device: SerialDevice?
        var outcome: ProbeOutcome
    }

    /// USB serial ports, from udev, or (no udev: containers, minimal systems, or
    /// `ESPNOW_NO_UDEV=1`) from a scan of /dev and /sys (``scanDev()``).
    static func ports() -> (devices: [SerialDevice], scanned: [String], udevError: String?) {
        let env = ProcessInfo.processInfo.environment
        if let v = env["ESPNOW_NO_UDEV"], !v.isEmpty, v != "0" {
            return ([], scanDev(), "ESPNOW_NO_UDEV is set")
        }
        do {
            return (try SerialDiscovery.devices(matching: .all), [], nil)
        } catch {
            return ([], scanDev(), error.description)
        }
    }

    /// /dev/serial/by-id links, /dev/ttyUSB* and /dev/ttyACM*, and the USB serial ports
    /// /sys/class/tty knows (a tty whose `device` is a USB interface) when /dev has no
    /// name for them under those prefixes. `ESPNOW_SCAN_ROOT` puts the root elsewhere
    /// (tests, chroots); the paths returned are under it.
    static func scanDev() -> [String] {
        let fm = FileManager.default
        let root = ProcessInfo.processInfo.environment["ESPNOW_SCAN_ROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? ""
        let dev = "\(root)/dev"
        var seen = Set<String>()
        var out: [String] = []
        func real(_ p: String) -> String { URL(fileURLWithPath: p).resolvingSymlinksInPath().path }
        if let ids = try? fm.contentsOfDirectory(atPath: "\(dev)/serial/by-id") {
            for id in ids.sorted() {
                let link = "\(dev)/serial/by-id/\(id)"
                seen.insert(real(link))
                out.append(link)
            }
        }
        var names = Set<String>()
        if let devs = try? fm.contentsOfDirectory(atPath: dev) {
            for d in devs where d.hasPrefix("ttyACM") || d.hasPrefix("ttyUSB") { names.insert(d) }
        }
        // /sys/class/tty/NAME/device -> a USB interface (…/usbN/…): a USB serial port,
        // whatever its driver calls it.
        if let ttys = try? fm.contentsOfDirectory(atPath: "\(root)/sys/class/tty") {
            for t in ttys {
                // `device` is a symbolic link to the bus device; virtual ttys have none.
                guard let target = try? fm.destinationOfSymbolicLink(atPath: "\(root)/sys/class/tty/\(t)/device") else { continue }
                if t.hasPrefix("ttyACM") || t.hasPrefix("ttyUSB") || target.contains("usb") { names.insert(t) }
            }
        }
        for d in names.sorted() {
            let p = "\(dev)/\(d)"
            guard fm.fileExists(atPath: p), !seen.contains(real(p)) else { continue }
            seen.insert(real(p))
            out.append(p)
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
    /// The running loop, how many interrupts it got, and whether a loop is about to start
    /// (a Ctrl-C then waits for it instead of exiting at once).
    private static let current = NIOLockedValueBox<(task: Task<Void, Never>?, count: Int, armed: Bool)>((nil, 0, false))
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
                let (task, deferred) = current.withLockedValue { c -> (Task<Void, Never>?, Bool) in
                    c.count += 1
                    return (c.count == 1 ? c.task : nil, c.count == 1 && c.task == nil && c.armed)
                }
                if let t = task {
                    t.cancel()
                } else if deferred {
                    // The loop has been announced (e.g. "Ctrl-C stops ...") but not entered yet:
                    // it ends as soon as it starts, cleanly.
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

    /// Announces that a loop follows: a Ctrl-C from now on ends that loop cleanly rather
    /// than exiting before it starts.
    static func arm() {
        current.withLockedValue { $0 = (nil, 0, true) }
    }

    /// Ends the running loop as the first Ctrl-C would (a command without a loop ends by
    /// itself; its later output is dropped).
    static func stopQuietly() {
        let task = current.withLockedValue { c -> Task<Void, Never>? in
            c.count += 1
            return c.task
        }
        task?.cancel()
    }

    /// How a long loop ended.
    struct Outcome: Sendable {
        var interrupted = false
        /// The dongle went away (or the link ended): the command prints its partial
        /// summary, then fails with this (exit 2).
        var lost: CLIError?
    }

    /// Like `loop`, but a lost dongle ends the loop the way Ctrl-C does, and is returned.
    static func loopUntilLost(port: String, _ body: @escaping @Sendable () async throws -> Void) async throws -> Outcome {
        let lost = Locked<CLIError?>(nil)
        let interrupted = try await loop {
            do {
                try await body()
            } catch let e as ESPNowError where e.isLinkLoss {
                lost.update { $0 = CLIError.from(e, port: port) }
            }
        }
        return Outcome(interrupted: interrupted, lost: lost.value)
    }

    /// Runs `body` until it returns or the user interrupts; returns whether it was interrupted.
    /// Errors other than cancellation propagate.
    @discardableResult
    static func loop(_ body: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        let t = Task {
            do { try await body() } catch is CancellationError {} catch { failure.withLockedValue { $0 = error } }
        }
        let pending = current.withLockedValue { c -> Bool in
            let p = c.armed && c.count > 0
            c = (t, p ? c.count : 0, false)
            return p
        }
        if pending { t.cancel() }
        await t.value
        let interrupted = current.withLockedValue { c -> Bool in
            let i = c.count > 0
            c = (nil, c.count, false)
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

extension ESPNowError {
    /// The dongle or the link is gone (as opposed to a command failing).
    var isLinkLoss: Bool {
        switch self {
        case .unplugged, .closed, .serial: true
        default: false
        }
    }
}
