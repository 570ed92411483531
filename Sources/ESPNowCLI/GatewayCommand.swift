import ArgumentParser
import ESPNowDiscovery
import ESPNowGateway
import ESPNowGatewayHTTP
import ESPNowSimulator
import ESPNowWire
import Foundation
import Logging
import ServiceLifecycle

/// `espnow gateway`: the sensor gateway (docs/GATEWAY.md).
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Receive, decode and store every sensor reading (SQLite by default, PostgreSQL for fleets).",
        discussion: "Try it: `espnow gateway --port sim`. See docs/GATEWAY.md.",
        subcommands: [GatewayRun.self, GatewaySend.self, GatewayNodes.self],
        defaultSubcommand: GatewayRun.self)
}

/// Options shared by the gateway commands that open the database.
struct GatewayDBOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A TOML configuration file (docs/GATEWAY.md).", valueName: "FILE"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The database: a SQLite file path (default gateway.sqlite) or postgres://USER@HOST/DB.", valueName: "PATH|URL"))
    var db: String?

    func load() throws -> GatewayConfig {
        var c = GatewayConfig()
        if let f = config {
            guard let text = try? String(contentsOfFile: f, encoding: .utf8) else {
                throw CLIError(.io, "cannot read the configuration file \(f)")
            }
            do {
                c = try GatewayConfig.load(toml: text, file: f)
            } catch {
                throw CLIError(.usage, error.description)
            }
        }
        if let d = db { c.database = d }
        return c
    }

    static func openStore(_ c: GatewayConfig, logger: Logger) throws -> any GatewayStore {
        do {
            if c.database.hasPrefix("postgres://") || c.database.hasPrefix("postgresql://") {
                return try PostgresStore(url: c.database, logger: logger)
            }
            let path = c.database.hasPrefix("sqlite:") ? String(c.database.dropFirst(7)) : c.database
            return try SQLiteStore(path: path)
        } catch {
            throw CLIError(.io, "\(error)")
        }
    }
}

struct GatewayRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the gateway until Ctrl-C or SIGTERM (then it writes what is queued and exits 0).")

    @OptionGroup var dbOptions: GatewayDBOptions

    @Option(name: [.short, .long], help: ArgumentHelp("A dongle (repeatable): a serial port, `auto` (every bridge found) or `sim` (a simulated air with sensor nodes).", valueName: "PATH|auto|sim"))
    var port: [String] = []

    @Option(name: .long, help: "This gateway's name in the database (default: the host name).")
    var gatewayID: String?

    @Option(name: .long, help: "Channel the dongles listen on (1-14).")
    var channel: Int?

    @Option(name: .long, help: ArgumentHelp("Decoder for nodes without one: auto, raw, text, json, cayenne, fdrs, layout:NAME.", valueName: "NAME"))
    var decoder: String?

    @Option(name: .long, help: ArgumentHelp("A node's decoder (repeatable), e.g. aa:bb:cc:dd:ee:ff=cayenne.", valueName: "MAC=DECODER"))
    var node: [String] = []

    @Option(name: .long, help: ArgumentHelp("A binary layout (repeatable), e.g. 'th=<u32 seq, i16 temp/100 °C, u8 hum %'.", valueName: "NAME=SPEC"))
    var layout: [String] = []

    @Option(name: .long, help: ArgumentHelp("Store only these senders (repeatable).", valueName: "MAC"))
    var allow: [String] = []

    @Option(name: .long, help: ArgumentHelp("The spool file used while PostgreSQL is unreachable.", valueName: "PATH"))
    var spool: String?

    @Option(name: .long, help: ArgumentHelp("Delete raw packets older than this (e.g. 30d).", valueName: "DURATION"))
    var retainRaw: String?

    @Option(name: .long, help: ArgumentHelp("Delete readings older than this (e.g. 365d).", valueName: "DURATION"))
    var retainReadings: String?

    @Option(name: .long, help: ArgumentHelp("Same payload from the same node within this time is one packet (formats without seq).", valueName: "DURATION"))
    var dedupWindow: String?

    @Option(name: .long, help: ArgumentHelp("Serve the HTTP API, live stream and dashboard here (e.g. 127.0.0.1:8080). A non-loopback address needs a token: $ESPNOW_GATEWAY_TOKEN or [http] token.", valueName: "HOST:PORT"))
    var http: String?

    @Option(name: .customLong("for"), help: ArgumentHelp("Stop after this many seconds.", valueName: "SECONDS"))
    var seconds: Double?

    @Flag(help: "Share the dongles while the gateway runs: each is served by a broker, as `espnow serve` does (a Unix socket named after its USB serial number; [serve] in the config file for TCP/TLS), and other espnow commands use it with --port unix:PATH or --port auto.")
    var serve = false

    @Option(name: .long, help: ArgumentHelp("With --serve and one dongle: the Unix socket to serve on.", valueName: "PATH"))
    var serveSocket: String?

    @Flag(help: "Print decoded readings, store nothing.")
    var dryRun = false

    @Flag(help: "Print nothing per reading.")
    var quiet = false

    @Flag(help: "One JSON object per stored packet.")
    var json = false

    @Flag(help: "Log the gateway's and the device client's activity to stderr.")
    var verbose = false

    func validate() throws {
        if let c = channel, !(1...14).contains(c) { throw ValidationError("--channel must be 1...14") }
        if let s = seconds, !(s > 0) { throw ValidationError("--for must be positive") }
    }

    func buildConfig() throws -> GatewayConfig {
        var c = try dbOptions.load()
        do {
            if !port.isEmpty { c.ports = port }
            if c.ports.isEmpty { c.ports = [ProcessInfo.processInfo.environment["ESPNOW_PORT"] ?? "auto"] }
            if let g = gatewayID { c.gatewayID = g }
            if let ch = channel { c.channel = ch }
            if let d = decoder {
                guard let k = DecoderKind(d) else { throw CLIError(.usage, "--decoder \(d): use auto, raw, text, json, cayenne, fdrs or layout:NAME") }
                c.defaultDecoder = k
            }
            for l in layout {
                guard let eq = l.firstIndex(of: "=") else { throw CLIError(.usage, "--layout \(l): write NAME=SPEC") }
                do {
                    c.layouts.append(try BinaryLayout(name: String(l[..<eq]), spec: String(l[l.index(after: eq)...])))
                } catch {
                    throw CLIError(.usage, error.description)
                }
            }
            for n in node {
                guard let eq = n.firstIndex(of: "="), let mac = MACAddress(String(n[..<eq])),
                      let k = DecoderKind(String(n[n.index(after: eq)...])) else {
                    throw CLIError(.usage, "--node \(n): write MAC=DECODER, e.g. aa:bb:cc:dd:ee:ff=cayenne")
                }
                var nc = c.nodes[mac] ?? NodeConfig(mac: mac)
                nc.decoder = k
                c.nodes[mac] = nc
            }
            if !allow.isEmpty {
                var s = Set<MACAddress>()
                for a in allow {
                    guard let m = MACAddress(a) else { throw CLIError(.usage, "--allow \(a) is not a MAC address") }
                    s.insert(m)
                }
                c.allow = s
            }
            if let s = spool { c.spoolPath = s }
            if let r = retainRaw { c.retainRawUs = try GatewayConfig.parseDuration(r) }
            if let r = retainReadings { c.retainReadingsUs = try GatewayConfig.parseDuration(r) }
            if let w = dedupWindow { c.dedup.hashWindowUs = try GatewayConfig.parseDuration(w) }
            c.dryRun = dryRun
            if serve || serveSocket != nil {
                var sc = c.serve ?? ServeConfig()
                if let p = serveSocket { sc.socket = p }
                c.serve = sc
            }
            if let h = http { c.http.listen = h }
            try c.validate()
        } catch let e as GatewayConfig.Error {
            throw CLIError(.usage, e.description)
        }
        return c
    }

    func run() async throws {
        let config = try buildConfig()
        let httpConfig = try Self.httpConfig(config)
        var logger = Logger(label: "espnow.gateway")
        logger.logLevel = verbose ? .debug : .notice
        // Simulated dongles and `auto` become device paths; dongles udev knows are followed
        // by their USB serial number when they come back at another path.
        var paths: [String] = []
        var dongles: [GatewayDongle] = []
        var air: SimulatedAir?
        for p in config.ports {
            switch p {
            case "sim":
                if air != nil { throw CLIError(.usage, "--port sim may be given once") }
                do {
                    var o = AirOptions(dongles: 1, nodes: config.simNodes, realtime: true)
                    if let ch = config.channel { o.channel = ch }
                    let a = try await SimulatedAir.start(o)
                    air = a
                    paths += a.dongles.compactMap(\.port)
                    dongles += a.dongles.compactMap(\.port).map { GatewayDongle(path: $0) }
                    let nodes = a.nodes.map { "\($0.script ?? "node") \($0.staMAC?.description ?? "?")" }.joined(separator: ", ")
                    if !json { Out.err("simulated air: dongle on \(paths.last ?? "?"); sensor nodes: \(nodes)") }
                } catch {
                    throw CLIError(.device, "cannot start the simulator: \(error)")
                }
            case "auto":
                let (cands, _) = await PortFinder.probeAll()
                let bridges = cands.filter { $0.outcome.isBridge }
                if bridges.isEmpty { Out.err("espnow gateway: no bridge dongle found for --port auto; waiting for none (plug one in and restart, or use --port PATH)") }
                paths += bridges.map(\.path)
                dongles += bridges.map { Self.followed($0.path, $0.device) }
            default:
                paths.append(p)
                dongles.append(Self.followed(p, SerialDiscovery.device(at: p) ?? PortFinder.udevDevice(at: p)))
            }
        }
        defer { air?.shutdown() }
        let store: (any GatewayStore)? = config.dryRun ? nil : try GatewayDBOptions.openStore(config, logger: logger)
        let gateway: Gateway
        do {
            gateway = try Gateway(config: config, store: store, dongles: dongles, logger: logger)
        } catch let e as GatewayConfig.Error {
            throw CLIError(.usage, e.description)
        } catch {
            throw CLIError(.io, "\(error)")
        }
        let httpServer = try Self.httpServer(httpConfig, gateway: gateway, logger: logger)
        if !quiet {
            let json = json
            gateway.onCommit { batch in
                for i in batch { Out.line(json ? Self.jsonLine(i) : Self.textLine(i)) }
            }
        }
        if !json {
            Out.err("gateway \(config.gatewayID): \(paths.count) dongle(s); \(config.dryRun ? "dry run, storing nothing" : "storing into \(store!.kind) \(config.database)"); Ctrl-C stops")
        }
        let seconds = seconds
        let failure = LockedError()
        let groupLogger = logger
        try await Interrupt.loop {
            // SIGINT/SIGTERM cancel this task (the CLI's handler); the gateway treats that as
            // a graceful shutdown: radios closed, queue written, then it returns.
            // The API stops first (services stop in reverse order), then the gateway drains.
            let services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: gateway)] + (httpServer.map { [.init(service: $0)] } ?? [])
            let group = ServiceGroup(configuration: .init(services: services, logger: groupLogger))
            try await withThrowingTaskGroup(of: Void.self) { g in
                g.addTask {
                    do { try await group.run() } catch is CancellationError {} catch { failure.set(error) }
                }
                if let s = seconds {
                    g.addTask {
                        try await Task.sleep(for: .seconds(s))
                        await group.triggerGracefulShutdown()
                        // The group's task ends the wait once the gateway has written everything.
                        while true { try await Task.sleep(for: .seconds(3600)) }
                    }
                }
                try await g.next()
                g.cancelAll()
            }
        }
        if let e = failure.get() { throw CLIError(.io, "gateway: \(e)") }
        let s = gateway.stats
        Out.err("gateway stopped: \(s.received) received, \(s.stored) stored, \(s.duplicates) duplicates, \(s.readings) readings, "
                + "\(s.decodeErrors) decode errors, drops \(s.drops.isEmpty ? "none" : s.drops.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))")
    }

    /// A dongle followed by its USB serial number (udev), else by its path.
    static func followed(_ path: String, _ device: SerialDevice?) -> GatewayDongle {
        guard let d = device, let tracker = try? DongleTracker(device: d) else { return GatewayDongle(path: path) }
        return GatewayDongle(path: path, serialNumber: d.serialNumber, reconnectPath: tracker.reconnectPath)
    }

    /// The HTTP settings `--http` / `[http] listen` ask for (nil when neither does), checked
    /// before anything starts.
    static func httpConfig(_ c: GatewayConfig) throws -> GatewayHTTPConfig? {
        guard let listen = c.http.listen else { return nil }
        if c.dryRun { throw CLIError(.usage, "--http needs a database: it cannot run with --dry-run") }
        var h = GatewayHTTPConfig()
        do {
            try h.setListen(listen)
            h.token = c.http.token ?? ProcessInfo.processInfo.environment["ESPNOW_GATEWAY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            h.corsOrigins = c.http.corsOrigins
            if let v = c.http.maxBodyBytes { h.maxBodyBytes = v }
            if let v = c.http.rateLimit { h.rateLimit = v }
            if let v = c.http.rateBurst { h.rateBurst = v }
            if let v = c.http.streamBuffer { h.streamBuffer = v; h.streamBufferMax = max(h.streamBufferMax, v) }
            try h.validate()
        } catch {
            throw CLIError(.usage, error.description)
        }
        return h
    }

    static func httpServer(_ h: GatewayHTTPConfig?, gateway: Gateway, logger: Logger) throws -> GatewayHTTPServer? {
        guard let h else { return nil }
        let auth = h.token == nil ? "no token: writes open to local users" : "token required for writes\(h.isLoopback ? "" : " and reads")"
        do {
            return try GatewayHTTPServer(gateway: gateway, config: h, version: cliVersion, logger: logger, onListening: { port in
                let shown = h.host.contains(":") ? "[\(h.host)]" : h.host
                Out.err("HTTP API and dashboard on http://\(shown):\(port)/ (\(auth))")
            })
        } catch let e as GatewayHTTPConfig.Error {
            throw CLIError(.usage, e.description)
        }
    }

    static func textLine(_ i: Ingest) -> String {
        let u = i.uplink
        var s = "\(Fmt.clock(Date(timeIntervalSince1970: Double(u.hostTimeUs) / 1e6))) \(u.node) rssi \(u.rssi) [\(i.decoded.decoder)]"
        if let q = i.decoded.seq { s += " seq=\(q)" }
        for r in i.decoded.readings { s += " \(r)" }
        if let e = i.decoded.error { s += " decode error: \(e); raw \(Fmt.hex(u.payload.prefix(32)))" }
        if i.decoded.readings.isEmpty && i.decoded.error == nil { s += " raw \(Fmt.hex(u.payload.prefix(32)))" }
        return s
    }

    static func jsonLine(_ i: Ingest) -> String {
        var o: [(String, JSON)] = [("time_us", .i64(i.uplink.hostTimeUs)), ("node", .string(i.uplink.node.description)),
                                   ("rssi", .int(i.uplink.rssi)), ("channel", .int(i.uplink.channel)),
                                   ("decoder", .string(i.decoded.decoder))]
        if let q = i.decoded.seq { o.append(("seq", .i64(Int64(bitPattern: q)))) }
        o.append(("readings", .array(i.decoded.readings.map { r in
            var f: [(String, JSON)] = [("field", .string(r.field))]
            if let v = r.value { f.append(("value", .double(v))) } else { f.append(("text", .string(r.text ?? ""))) }
            if let u = r.unit { f.append(("unit", .string(u))) }
            return .object(f)
        })))
        if let e = i.decoded.error { o.append(("error", .string(e))); o.append(("payload", .string(Fmt.hex(i.uplink.payload)))) }
        return JSON.object(o).text
    }
}

struct GatewaySend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Queue a downlink message for a node; the running gateway delivers it right after the node's next uplink.")

    @OptionGroup var dbOptions: GatewayDBOptions

    @Argument(help: "The node's MAC address.")
    var node: String

    @Argument(help: "The message (text, or hex with --hex).")
    var message: String

    @Flag(help: "The message is hex.")
    var hex = false

    @Option(name: .long, help: "Attempts before the message is marked failed.")
    var attempts: Int?

    func run() async throws {
        guard let mac = MACAddress(node) else { throw CLIError(.usage, "\(node) is not a MAC address (aa:bb:cc:dd:ee:ff)") }
        let payload: [UInt8]
        if hex {
            guard let b = parseHex(message) else { throw CLIError(.usage, "--hex: \(message) is not hex") }
            payload = b
        } else {
            payload = Array(message.utf8)
        }
        guard (1...1470).contains(payload.count) else { throw CLIError(.usage, "a downlink is 1 to 1470 bytes, not \(payload.count)") }
        let c = try dbOptions.load()
        let store = try GatewayDBOptions.openStore(c, logger: Logger(label: "espnow.gateway"))
        do {
            try await store.migrate()
            let id = try await store.queueDownlink(node: mac, payload: payload, maxAttempts: attempts ?? c.downlinkAttempts, nowUs: Self.now())
            await store.close()
            Out.line("queued downlink \(id) for \(mac) (\(payload.count) bytes); state: pending")
        } catch {
            await store.close()
            throw CLIError(.io, "cannot queue the downlink in \(c.database): \(error)")
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e6) }
}

struct GatewayNodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nodes", abstract: "List the node registry.")

    @OptionGroup var dbOptions: GatewayDBOptions

    func run() async throws {
        let c = try dbOptions.load()
        let store = try GatewayDBOptions.openStore(c, logger: Logger(label: "espnow.gateway"))
        do {
            try await store.migrate()
            let nodes = try await store.nodes()
            await store.close()
            var rows = [["MAC", "NAME", "DECODER", "PACKETS", "DUPLICATES", "ERRORS", "RSSI", "CH", "LAST SEEN"]]
            for n in nodes {
                rows.append([n.mac.description, n.name ?? "-", n.decoder ?? "auto", "\(n.packets)", "\(n.duplicates)", "\(n.decodeErrors)",
                             n.lastRSSI.map { "\($0)" } ?? "-", n.lastChannel.map { "\($0)" } ?? "-",
                             n.lastSeenUs.map { Fmt.clock(Date(timeIntervalSince1970: Double($0) / 1e6)) } ?? "-"])
            }
            for l in table(rows) { Out.line(l) }
        } catch let e as CLIError {
            throw e
        } catch {
            await store.close()
            throw CLIError(.io, "cannot read \(c.database): \(error)")
        }
    }
}

final class LockedError: @unchecked Sendable {
    private let lock = NSLock()
    private var error: (any Error)?
    func set(_ e: any Error) { lock.withLock { error = e } }
    func get() -> (any Error)? { lock.withLock { error } }
}
