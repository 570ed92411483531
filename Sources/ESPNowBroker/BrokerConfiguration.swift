import ESPNowSerial
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// How a broker serves its dongle.
public struct BrokerConfiguration: Sendable {
    /// The dongle's serial port.
    public var devicePath: String
    /// The Unix stream socket to serve on (nil: none, unless ``defaultSocket``).
    public var socketPath: String?
    /// Serve on ``defaultSocketPath(name:)`` when no `socketPath` is given, named after
    /// ``socketName`` (the dongle's USB serial number) or else the dongle's STA MAC.
    public var defaultSocket = false
    public var socketName: String?
    /// TCP listener (nil: none). TLS unless ``insecure``.
    public var tcpHost: String?
    public var tcpPort: Int = 0
    public var tls: TLS?
    /// Plaintext TCP, allowed only on a loopback address.
    public var insecure = false
    /// Clients must send this token in BROKER_OPEN (compared in constant time).
    public var token: [UInt8]?
    /// Let clients RESET the dongle, deinit ESP-NOW or change the channel while others are
    /// attached.
    public var allowAdmin = false
    /// Connection limit: clients beyond it are closed at once.
    public var maxClients = 32
    /// Each client's window (announced in its HELLO): requests beyond it are answered BUSY.
    public var clientWindow = 8
    /// Events queued towards one client before further ones are dropped for it.
    public var clientQueueLimit = 4096
    public var device = DeviceOptionsOverride()

    /// Server certificate and key, and optionally the CA that client certificates must
    /// chain to (mutual TLS).
    public struct TLS: Sendable {
        public var certificateFile: String
        public var keyFile: String
        public var clientCAFile: String?
        public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.clientCAFile = clientCAFile
        }
    }

    /// Device-client settings the broker passes on.
    public struct DeviceOptionsOverride: Sendable {
        public var serial = SerialOptions()
        public var autoReconnect = true
        /// Where the dongle is after an unplug (e.g. `DongleTracker.reconnectPath`, which
        /// follows its USB serial number); nil: the same path again.
        public var reconnectPath: (@Sendable (_ lastPath: String) async -> String?)?
        public init() {}
    }

    public init(devicePath: String) {
        self.devicePath = devicePath
    }

    /// `$XDG_RUNTIME_DIR/espnow/NAME.sock`, or `/run/espnow/NAME.sock` without a runtime
    /// directory (a system service). NAME is the dongle's USB serial number.
    public static func defaultSocketPath(name: String) -> String {
        let safe = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        if let x = getenv("XDG_RUNTIME_DIR"), x.pointee != 0 {
            return String(cString: x) + "/espnow/\(safe).sock"
        }
        return "/run/espnow/\(safe).sock"
    }

    /// Checks the combination before anything is opened.
    func validate() throws(BrokerError) {
        if socketPath == nil && !defaultSocket && tcpHost == nil { throw .configuration("nothing to serve on: give a socket path or a TCP port") }
        if let h = tcpHost {
            if tls == nil {
                guard insecure else {
                    throw .configuration("TCP needs TLS (a server certificate and key), or --insecure on a loopback address")
                }
                guard Self.isLoopback(h) else {
                    throw .configuration("plaintext TCP (--insecure) is only allowed on loopback (127.0.0.1, ::1, localhost), not \(h)")
                }
            } else if token == nil && tls?.clientCAFile == nil {
                throw .configuration("TLS needs a client token or client certificates (mutual TLS): otherwise anyone could connect")
            }
        }
        if let t = token, t.isEmpty || t.count > 64 { throw .configuration("the token must be 1 to 64 bytes") }
        guard maxClients > 0, (1...255).contains(clientWindow), clientQueueLimit >= 2 else {
            throw .configuration("limits must be positive (window 1...255, queue at least 2)")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    func makeServerTLS() throws -> NIOSSLContext? {
        guard let t = tls else { return nil }
        let chain = try NIOSSLCertificate.fromPEMFile(t.certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        var c = TLSConfiguration.makeServerConfiguration(certificateChain: chain,
                                                         privateKey: .privateKey(try NIOSSLPrivateKey(file: t.keyFile, format: .pem)))
        if let ca = t.clientCAFile {
            c.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            c.certificateVerification = .noHostnameVerification
        }
        return try NIOSSLContext(configuration: c)
    }
}

public enum BrokerError: Error, Sendable, CustomStringConvertible {
    case configuration(String)
    case device(String)
    case listen(String)

    public var description: String {
        switch self {
        case .configuration(let s): "broker configuration: \(s)"
        case .device(let s): "broker: cannot open the dongle: \(s)"
        case .listen(let s): "broker: cannot listen: \(s)"
        }
    }
}

/// Compares without an early exit, so the time taken does not tell how much of a guess
/// was right.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff: UInt8 = a.count == b.count ? 0 : 1
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0
        diff |= x ^ y
    }
    return diff == 0
}
