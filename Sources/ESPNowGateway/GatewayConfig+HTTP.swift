import TOMLKit

/// The `[http]` table of the configuration file: where the HTTP API listens and who may use
/// it (the server itself lives in ESPNowGatewayHTTP; docs/GATEWAY.md "Security").
public struct HTTPSettings: Sendable, Hashable {
    /// `HOST:PORT`; nil: no HTTP server unless `--http` asks for one.
    public var listen: String?
    /// Bearer token (the environment's ESPNOW_GATEWAY_TOKEN is used when this is unset).
    public var token: String?
    public var corsOrigins: [String] = []
    public var maxBodyBytes: Int?
    public var rateLimit: Double?
    public var rateBurst: Double?
    public var streamBuffer: Int?

    public init() {}

    static let keys: Set<String> = ["listen", "token", "cors_origins", "max_body", "rate_limit", "rate_burst", "stream_buffer"]

    static func load(_ value: TOMLValueConvertible, file: String) throws(GatewayConfig.Error) -> HTTPSettings {
        guard let t = value.table else { throw GatewayConfig.Error("\(file): http must be a table ([http])") }
        for k in t.keys where !keys.contains(k) {
            throw GatewayConfig.Error("\(file): http: unknown key \"\(k)\" (known: \(keys.sorted().joined(separator: ", ")))")
        }
        var s = HTTPSettings()
        func string(_ k: String) throws(GatewayConfig.Error) -> String? {
            guard let v = t[k] else { return nil }
            guard let str = v.string else { throw GatewayConfig.Error("\(file): http.\(k) must be a string") }
            return str
        }
        func positive(_ k: String) throws(GatewayConfig.Error) -> Double? {
            guard let v = t[k] else { return nil }
            guard let d = v.double ?? v.int.map(Double.init), d > 0 else { throw GatewayConfig.Error("\(file): http.\(k) must be a positive number") }
            return d
        }
        s.listen = try string("listen")
        s.token = try string("token")
        if let v = t["cors_origins"] {
            guard let a = v.array, a.allSatisfy({ $0.string != nil }) else {
                throw GatewayConfig.Error("\(file): http.cors_origins must be an array of strings")
            }
            s.corsOrigins = a.compactMap(\.string)
        }
        s.maxBodyBytes = try positive("max_body").map { Int($0) }
        s.rateLimit = try positive("rate_limit")
        s.rateBurst = try positive("rate_burst")
        s.streamBuffer = try positive("stream_buffer").map { Int($0) }
        return s
    }
}
