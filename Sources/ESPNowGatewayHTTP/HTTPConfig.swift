import Foundation

/// How the HTTP server listens and who may use it (`--http`, `[http]` in the TOML file;
/// docs/GATEWAY.md "Security").
public struct GatewayHTTPConfig: Sendable {
    /// Address to bind; loopback by default.
    public var host: String = "127.0.0.1"
    /// Port (0: any free port, reported through `onListening`).
    public var port: Int = 8080
    /// Bearer token. Required to bind a non-loopback address; when set, writes always need it.
    public var token: String?
    /// Origins allowed to call the API from a browser page served elsewhere (none: CORS off).
    public var corsOrigins: [String] = []
    /// Largest request body accepted (413 beyond).
    public var maxBodyBytes: Int = 64 * 1024
    /// Requests per second per client address, with `rateBurst` allowed at once (429 beyond).
    public var rateLimit: Double = 50
    public var rateBurst: Double = 200
    /// Readings a live-stream client may fall behind by before the oldest are dropped (and
    /// the drop signalled to it).
    public var streamBuffer: Int = 4096
    /// The most a client may ask for with `?buffer=` (memory per client is bounded by it).
    public var streamBufferMax: Int = 65_536

    public init() {}

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// `HOST:PORT`, `[IPv6]:PORT`, `:PORT` (loopback) or `PORT`.
    public mutating func setListen(_ s: String) throws(Error) {
        var host = self.host
        var portText = s
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { throw Error("--http \(s): an IPv6 address goes in brackets, e.g. [::1]:8080") }
            host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":") else { throw Error("--http \(s): write [ADDRESS]:PORT") }
            portText = String(rest.dropFirst())
        } else if let colon = s.lastIndex(of: ":") {
            let h = String(s[..<colon])
            if !h.isEmpty { host = h }
            portText = String(s[s.index(after: colon)...])
        }
        guard let p = Int(portText), (0...65535).contains(p) else {
            throw Error("--http \(s): \"\(portText)\" is not a port (0-65535); write HOST:PORT, e.g. 127.0.0.1:8080")
        }
        self.host = host
        self.port = p
    }

    /// Whether `host` only accepts connections from this machine.
    public var isLoopback: Bool { Self.isLoopback(host) }

    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        var a = in_addr()
        if inet_pton(AF_INET, host, &a) == 1 { return UInt32(bigEndian: a.s_addr) >> 24 == 127 }
        return false
    }

    /// Refuses what would expose the API: a non-loopback bind without a token, a weak token,
    /// nonsensical limits.
    public func validate() throws(Error) {
        if let t = token {
            guard t.count >= 16 else { throw Error("the HTTP token must be at least 16 characters (e.g. `openssl rand -hex 32`)") }
            guard t.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
                throw Error("the HTTP token must be printable ASCII without spaces")
            }
        }
        if !isLoopback && token == nil {
            throw Error("--http \(host):\(port) is not a loopback address: set a token (ESPNOW_GATEWAY_TOKEN or [http] token) or bind 127.0.0.1")
        }
        for o in corsOrigins where !(o.hasPrefix("http://") || o.hasPrefix("https://")) || o.hasSuffix("/") {
            throw Error("cors_origins: \"\(o)\" is not an origin (scheme://host[:port], no path)")
        }
        guard maxBodyBytes > 0, rateLimit > 0, rateBurst >= 1, streamBuffer > 0, streamBufferMax >= streamBuffer else {
            throw Error("the HTTP body limit, rate limit, burst and stream buffer must be positive")
        }
    }
}
