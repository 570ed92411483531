import ESPNowBroker
import Foundation
import TOMLKit

/// How the gateway shares its dongles (`--serve`, `[serve]` in the config file): each dongle
/// gets a broker (`espnow serve`'s, PROTOCOL.md section 12) and the gateway is one client
/// of it, so other programs use the dongle through the same socket at the same time.
public struct ServeConfig: Sendable, Hashable {
    /// The Unix socket (one dongle only). Default: `$XDG_RUNTIME_DIR/espnow/SERIAL.sock`
    /// (or /run/espnow/), SERIAL being the USB serial number, else the dongle's MAC.
    public var socket: String?
    /// Also serve on TCP, `HOST:PORT` (one dongle only): TLS unless `insecure` on loopback.
    public var tcp: String?
    public var tlsCert: String?
    public var tlsKey: String?
    public var clientCA: String?
    /// Clients must present the first line of this file as their token.
    public var tokenFile: String?
    public var insecure = false
    /// Let clients reset the dongle, deinit ESP-NOW or change the channel while the
    /// gateway (or anyone else) is attached.
    public var allowAdmin = false
    public var maxClients = 32
    public var clientQueue = 4096

    public init() {}

    static let keys: Set<String> = ["socket", "tcp", "tls_cert", "tls_key", "client_ca", "token_file", "insecure",
                                    "allow_admin", "max_clients", "client_queue"]

    static func load(_ t: TOMLTable, file: String) throws(GatewayConfig.Error) -> ServeConfig {
        typealias E = GatewayConfig.Error
        for k in t.keys where !keys.contains(k) {
            throw E("\(file): serve: unknown key \"\(k)\" (known: \(keys.sorted().joined(separator: ", ")))")
        }
        func str(_ k: String) throws(E) -> String? {
            guard let v = t[k] else { return nil }
            guard let s = v.string else { throw E("\(file): serve.\(k) must be a string") }
            return s
        }
        func bool(_ k: String) throws(E) -> Bool? {
            guard let v = t[k] else { return nil }
            guard let b = v.bool else { throw E("\(file): serve.\(k) must be true or false") }
            return b
        }
        func int(_ k: String) throws(E) -> Int? {
            guard let v = t[k] else { return nil }
            guard let i = v.int else { throw E("\(file): serve.\(k) must be an integer") }
            return i
        }
        var s = ServeConfig()
        s.socket = try str("socket")
        s.tcp = try str("tcp")
        s.tlsCert = try str("tls_cert")
        s.tlsKey = try str("tls_key")
        s.clientCA = try str("client_ca")
        s.tokenFile = try str("token_file")
        if let b = try bool("insecure") { s.insecure = b }
        if let b = try bool("allow_admin") { s.allowAdmin = b }
        if let i = try int("max_clients") { s.maxClients = i }
        if let i = try int("client_queue") { s.clientQueue = i }
        return s
    }

    /// Checks what can be checked before any dongle is opened.
    public func validate() throws(GatewayConfig.Error) {
        typealias E = GatewayConfig.Error
        guard maxClients > 0, clientQueue >= 2 else { throw E("serve: max_clients must be positive and client_queue at least 2") }
        if (tlsCert == nil) != (tlsKey == nil) { throw E("serve: tls_cert and tls_key go together") }
        if let t = tcp {
            _ = try Self.hostPort(t)
            if tlsCert == nil && !insecure { throw E("serve: tcp needs TLS (tls_cert, tls_key) or insecure = true (loopback only)") }
        }
    }

    /// Settings that name one place (a socket path, a TCP port) cannot serve several dongles.
    func validate(dongles: Int) throws(GatewayConfig.Error) {
        if dongles > 1 && (socket != nil || tcp != nil) {
            throw GatewayConfig.Error("serve: socket and tcp name one place, but the gateway has \(dongles) dongles "
                                      + "(leave them out: each dongle then gets its own socket named after its serial number)")
        }
    }

    static func hostPort(_ t: String) throws(GatewayConfig.Error) -> (String, Int) {
        guard let colon = t.lastIndex(of: ":"), let port = Int(t[t.index(after: colon)...]), (0...65535).contains(port) else {
            throw GatewayConfig.Error("serve: tcp wants HOST:PORT, e.g. 127.0.0.1:7600, not \"\(t)\"")
        }
        return (String(t[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    /// The broker's configuration for the dongle at `path` (`serial`: its USB serial
    /// number, which names the default socket). The gateway always serves a Unix socket:
    /// it is the gateway's own way in.
    func broker(devicePath path: String, serial: String?) throws -> BrokerConfiguration {
        var c = BrokerConfiguration(devicePath: path)
        c.socketPath = socket
        c.defaultSocket = socket == nil
        c.socketName = serial
        c.allowAdmin = allowAdmin
        c.maxClients = maxClients
        c.clientQueueLimit = clientQueue
        c.insecure = insecure
        if let t = tcp {
            let (h, p) = try Self.hostPort(t)
            c.tcpHost = h
            c.tcpPort = p
        }
        if let cert = tlsCert, let key = tlsKey { c.tls = .init(certificateFile: cert, keyFile: key, clientCAFile: clientCA) }
        if let f = tokenFile {
            guard let text = try? String(contentsOfFile: f, encoding: .utf8),
                  let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !line.isEmpty else {
                throw GatewayConfig.Error("serve: cannot read a token from \(f) (its first line is the token)")
            }
            c.token = Array(line.utf8)
        }
        return c
    }
}
