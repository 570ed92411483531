import ESPNowWire
import Foundation
import TOMLKit

/// A node's configured properties (config file `[[node]]`).
public struct NodeConfig: Sendable, Hashable {
    public var mac: MACAddress
    public var name: String?
    public var decoder: DecoderKind?
    /// 16-byte local master key: the node is added as an encrypted peer.
    public var lmk: [UInt8]?
    /// The node always listens: downlinks go out as soon as they are queued, not after an uplink.
    public var alwaysOn = false

    public init(mac: MACAddress, name: String? = nil, decoder: DecoderKind? = nil, lmk: [UInt8]? = nil, alwaysOn: Bool = false) {
        self.mac = mac
        self.name = name
        self.decoder = decoder
        self.lmk = lmk
        self.alwaysOn = alwaysOn
    }
}

/// Everything `espnow gateway` is configured with (flags override the TOML file; the keys
/// are listed in docs/GATEWAY.md).
public struct GatewayConfig: Sendable {
    /// Names this gateway in the database (several gateways may share one).
    public var gatewayID: String = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "gateway"
    /// Serial ports, `auto`, or `sim`.
    public var ports: [String] = []
    /// Channel every dongle listens on (nil: leave the dongle's).
    public var channel: Int?
    /// A file path (SQLite, the default `gateway.sqlite`), `sqlite:PATH`, or `postgres://…`.
    public var database: String = "gateway.sqlite"
    /// Where packets wait while PostgreSQL is unreachable (nil: next to nothing, in the
    /// working directory, `gateway-spool.sqlite`).
    public var spoolPath: String?
    public var spoolLimit: Int = 1_000_000
    /// Packets between the radios and the writer.
    public var queueCapacity: Int = 100_000
    public var batchSize: Int = 5_000
    public var dedup = DedupPolicy()
    public var retainRawUs: Int64?
    public var retainReadingsUs: Int64?
    /// Only these senders are stored (nil: everyone; others are counted as `not_allowed`).
    public var allow: Set<MACAddress>?
    public var nodes: [MACAddress: NodeConfig] = [:]
    public var layouts: [BinaryLayout] = []
    public var defaultDecoder: DecoderKind = .auto
    public var downlinkAttempts: Int = 3
    /// How often the database is checked for downlinks queued by others (`espnow gateway send`, HTTP).
    public var downlinkPollUs: Int64 = 1_000_000
    /// Print decoded readings, store nothing.
    public var dryRun = false
    /// Where committed readings are POSTed (`[[webhook]]`).
    public var webhooks: [WebhookConfig] = []
    /// How long a stopping gateway lets webhooks send what is queued.
    public var webhookGraceUs: Int64 = 2_000_000
    /// Scripted nodes of the simulated air for `--port sim`.
    public var simNodes: [String] = ["sensor,interval=1000", "sensor,interval=1500"]
    /// Share the dongles through a broker each (`--serve`, `[serve]`), nil: the gateway
    /// holds them alone.
    public var serve: ServeConfig?
    /// The HTTP API (`[http]`).
    public var http = HTTPSettings()

    public init() {}

    public var decoder: PayloadDecoder { PayloadDecoder(layouts: layouts) }

    public func decoderKind(for mac: MACAddress) -> DecoderKind { nodes[mac]?.decoder ?? defaultDecoder }

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// `30d`, `12h`, `15m`, `10s`, `500ms` (a bare number is seconds) → microseconds.
    public static func parseDuration(_ s: String) throws(Error) -> Int64 {
        let t = s.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [("ms", 1_000), ("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)]
        for (suffix, mul) in units where t.hasSuffix(suffix) {
            let number = t.dropLast(suffix.count)
            if let v = Int64(number), v >= 0, v < Int64.max / mul { return v * mul }
            if let v = Double(number), v >= 0, v * Double(mul) < 9e18 { return Int64((v * Double(mul)).rounded()) }
        }
        if let v = Int64(t), v >= 0, v < Int64.max / 1_000_000 { return v * 1_000_000 }
        if let v = Double(t), v >= 0, v < 9e12 { return Int64((v * 1e6).rounded()) }
        throw Error("\"\(s)\" is not a duration (e.g. 30d, 12h, 15m, 10s, 500ms)")
    }

    static func parseMAC(_ s: String, _ what: String) throws(Error) -> MACAddress {
        guard let m = MACAddress(s) else { throw Error("\(what): \"\(s)\" is not a MAC address (aa:bb:cc:dd:ee:ff)") }
        return m
    }

    static func parseLMK(_ s: String, _ what: String) throws(Error) -> [UInt8] {
        let hex = s.filter { $0 != ":" && $0 != " " }
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            guard let b = UInt8(hex[i..<j], radix: 16) else { break }
            out.append(b)
            i = j
        }
        guard out.count == 16, hex.count == 32 else { throw Error("\(what): an LMK is 16 bytes written as 32 hex digits") }
        return out
    }

    static let topKeys: Set<String> = ["gateway_id", "ports", "channel", "db", "spool", "spool_limit", "queue", "batch",
                                       "dedup_window", "dedup_seq_window", "retain_raw", "retain_readings", "allow",
                                       "decoder", "downlink_attempts", "downlink_poll", "sim_nodes", "node", "layout", "webhook", "http", "serve"]
    static let nodeKeys: Set<String> = ["mac", "name", "decoder", "lmk", "always_on"]
    static let webhookKeys: Set<String> = ["url", "secret", "secret_env", "batch", "max_retries", "queue", "backoff",
                                           "max_backoff", "timeout", "name"]

    /// Reads a TOML configuration; unknown keys and wrongly typed values are errors that
    /// name the key.
    public static func load(toml text: String, file: String = "config") throws(Error) -> GatewayConfig {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw Error("\(file): \(e.description) at line \(e.source.begin.line), column \(e.source.begin.column)")
        } catch {
            throw Error("\(file): \(error)")
        }
        var c = GatewayConfig()
        for k in table.keys where !topKeys.contains(k) {
            throw Error("\(file): unknown key \"\(k)\" (known: \(topKeys.sorted().joined(separator: ", ")))")
        }
        func str(_ k: String, in t: TOMLTable = table, _ ctx: String = "") throws(Error) -> String? {
            guard let v = t[k] else { return nil }
            guard let s = v.string else { throw Error("\(file): \(ctx)\(k) must be a string") }
            return s
        }
        func int(_ k: String) throws(Error) -> Int? {
            guard let v = table[k] else { return nil }
            guard let i = v.int else { throw Error("\(file): \(k) must be an integer") }
            return i
        }
        func strings(_ k: String) throws(Error) -> [String]? {
            guard let v = table[k] else { return nil }
            guard let a = v.array else { throw Error("\(file): \(k) must be an array of strings") }
            var out: [String] = []
            for e in a {
                guard let s = e.string else { throw Error("\(file): \(k) must be an array of strings") }
                out.append(s)
            }
            return out
        }
        if let v = try str("gateway_id") { c.gatewayID = v }
        if let v = try strings("ports") { c.ports = v }
        if let v = try int("channel") {
            guard (1...14).contains(v) else { throw Error("\(file): channel must be 1...14") }
            c.channel = v
        }
        if let v = try str("db") { c.database = v }
        if let v = try str("spool") { c.spoolPath = v }
        if let v = try int("spool_limit") { c.spoolLimit = v }
        if let v = try int("queue") { c.queueCapacity = v }
        if let v = try int("batch") { c.batchSize = v }
        if let v = try int("downlink_attempts") { c.downlinkAttempts = v }
        func duration(_ k: String) throws(Error) -> Int64? {
            guard let v = try str(k) else { return nil }
            do {
                return try parseDuration(v)
            } catch {
                throw Error("\(file): \(k): \(error.description)")
            }
        }
        if let v = try duration("downlink_poll") { c.downlinkPollUs = v }
        if let v = try duration("dedup_window") { c.dedup.hashWindowUs = v }
        if let v = try duration("dedup_seq_window") { c.dedup.seqWindowUs = v }
        if let v = try duration("retain_raw") { c.retainRawUs = v }
        if let v = try duration("retain_readings") { c.retainReadingsUs = v }
        if let v = try strings("sim_nodes") { c.simNodes = v }
        if let v = try strings("allow") {
            var s = Set<MACAddress>()
            for m in v { s.insert(try parseMAC(m, "\(file): allow")) }
            c.allow = s
        }
        if let v = try str("decoder") {
            guard let k = DecoderKind(v) else { throw Error("\(file): decoder \"\(v)\" is not one of auto, raw, text, json, cayenne, fdrs, layout:NAME") }
            c.defaultDecoder = k
        }
        if let l = table["layout"] {
            guard let lt = l.table else { throw Error("\(file): layout must be a table of name = \"spec\"") }
            for name in lt.keys.sorted() {
                guard let spec = lt[name]?.string else { throw Error("\(file): layout.\(name) must be a string") }
                do {
                    c.layouts.append(try BinaryLayout(name: name, spec: spec))
                } catch {
                    throw Error("\(file): \(error.description)")
                }
            }
        }
        if let v = table["serve"] {
            guard let t = v.table else { throw Error("\(file): serve must be a table ([serve])") }
            c.serve = try ServeConfig.load(t, file: file)
        }
        if let h = table["http"] { c.http = try HTTPSettings.load(h, file: file) }
        if let n = table["node"] {
            guard let arr = n.array else { throw Error("\(file): write nodes as [[node]] tables") }
            for (i, e) in arr.enumerated() {
                guard let t = e.table else { throw Error("\(file): node \(i + 1) must be a table") }
                let ctx = "node \(i + 1): "
                for k in t.keys where !nodeKeys.contains(k) { throw Error("\(file): \(ctx)unknown key \"\(k)\"") }
                guard let macText = try str("mac", in: t, ctx) else { throw Error("\(file): \(ctx)mac is required") }
                var nc = NodeConfig(mac: try parseMAC(macText, "\(file): \(ctx)mac"))
                nc.name = try str("name", in: t, ctx)
                if let d = try str("decoder", in: t, ctx) {
                    guard let k = DecoderKind(d) else { throw Error("\(file): \(ctx)decoder \"\(d)\" is unknown") }
                    nc.decoder = k
                }
                if let l = try str("lmk", in: t, ctx) { nc.lmk = try parseLMK(l, "\(file): \(ctx)lmk") }
                if let a = t["always_on"] {
                    guard let b = a.bool else { throw Error("\(file): \(ctx)always_on must be true or false") }
                    nc.alwaysOn = b
                }
                c.nodes[nc.mac] = nc
            }
        }
        if let w = table["webhook"] {
            guard let arr = w.array else { throw Error("\(file): write webhooks as [[webhook]] tables") }
            for (i, e) in arr.enumerated() {
                guard let t = e.table else { throw Error("\(file): webhook \(i + 1) must be a table") }
                c.webhooks.append(try webhook(t, "\(file): webhook \(i + 1): "))
            }
        }
        do {
            try c.validate()
        } catch {
            throw Error("\(file): \(error.description)")
        }
        return c
    }

    static func webhook(_ t: TOMLTable, _ ctx: String) throws(Error) -> WebhookConfig {
        for k in t.keys where !webhookKeys.contains(k) {
            throw Error("\(ctx)unknown key \"\(k)\" (known: \(webhookKeys.sorted().joined(separator: ", ")))")
        }
        func str(_ k: String) throws(Error) -> String? {
            guard let v = t[k] else { return nil }
            guard let s = v.string else { throw Error("\(ctx)\(k) must be a string") }
            return s
        }
        func int(_ k: String, _ range: ClosedRange<Int>) throws(Error) -> Int? {
            guard let v = t[k] else { return nil }
            guard let i = v.int, range.contains(i) else { throw Error("\(ctx)\(k) must be an integer in \(range.lowerBound)...\(range.upperBound)") }
            return i
        }
        func duration(_ k: String) throws(Error) -> Int64? {
            guard let v = try str(k) else { return nil }
            do {
                return try parseDuration(v)
            } catch {
                throw Error("\(ctx)\(k): \(error.description)")
            }
        }
        guard let url = try str("url") else { throw Error("\(ctx)url is required") }
        guard let u = URLComponents(string: url), let scheme = u.scheme?.lowercased(), ["http", "https"].contains(scheme), u.host?.isEmpty == false else {
            throw Error("\(ctx)url \"\(url)\" is not an http:// or https:// URL")
        }
        var w = WebhookConfig(url: url)
        w.secret = try str("secret")
        if let env = try str("secret_env") {
            guard let v = ProcessInfo.processInfo.environment[env], !v.isEmpty else { throw Error("\(ctx)secret_env: $\(env) is not set") }
            w.secret = v
        }
        if let b = try str("batch") {
            guard let k = WebhookConfig.Batching(rawValue: b) else { throw Error("\(ctx)batch must be \"reading\" or \"node\", not \"\(b)\"") }
            w.batching = k
        }
        if let v = try int("max_retries", 0...100) { w.maxRetries = v }
        if let v = try int("queue", 1...10_000_000) { w.queueCapacity = v }
        if let v = try duration("backoff") { w.backoffUs = max(1, v) }
        if let v = try duration("max_backoff") { w.maxBackoffUs = max(1, v) }
        if let v = try duration("timeout") { w.timeoutUs = max(1000, v) }
        w.name = try str("name")
        return w
    }

    /// Consistency checks shared by the file and the flags.
    public func validate() throws(Error) {
        let names = Set(layouts.map(\.name)).union([BinaryLayout.simulatorSensor.name])
        for n in nodes.values {
            if case .layout(let l)? = n.decoder, !names.contains(l) {
                throw Error("node \(n.mac): decoder layout:\(l) names no [layout] entry")
            }
        }
        if case .layout(let l) = defaultDecoder, !names.contains(l) { throw Error("decoder layout:\(l) names no [layout] entry") }
        guard queueCapacity > 0, batchSize > 0, spoolLimit > 0 else { throw Error("queue, batch and spool_limit must be positive") }
        guard downlinkAttempts > 0 else { throw Error("downlink_attempts must be positive") }
        guard !gatewayID.isEmpty else { throw Error("gateway_id must not be empty") }
        try serve?.validate()
    }
}
