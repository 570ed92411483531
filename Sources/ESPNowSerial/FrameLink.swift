import ESPNowWire
import NIOCore
import NIOPosix

/// What a link hands its owner, on the link's thread: the items of one read of the transport,
/// in order (one call per read, so the owner takes its locks once per read, not per frame).
/// The array is only borrowed for the call.
public typealias InboundHandler = @Sendable (_ batch: [LinkInbound]) -> Void

/// A bidirectional frame link to a dongle, or to a broker that shares one: what the device
/// client needs from its transport. ``SerialLink`` (a tty) and ``SocketLink`` (a Unix or
/// TCP/TLS socket to `espnow serve`) implement it.
public protocol FrameLink: AnyObject, Sendable {
    /// What the link was opened with (a tty path or a `unix:`/`tcp://`/`tls://` address).
    var path: String { get }
    var eventLoop: any EventLoop { get }
    var allocator: ByteBufferAllocator { get }
    /// Writes `message` after everything written before (from any thread, also while the
    /// caller holds its own locks: it never blocks and never calls back synchronously).
    /// Errors after a close are reported through `onClose`.
    func write(_ message: LinkOutbound)
    /// Writes raw bytes (the handshake's lone `0x00`).
    func writeRaw(_ bytes: [UInt8])
    /// Closes the link (idempotent); `onClose` gets `.closed`.
    func close() async
    /// Resets the board through the modem lines; false when the link has none.
    func resetBoard() async throws -> Bool
    /// Follows a SET_BAUD on the host side (a no-op where there is no baud rate).
    func setBaudRate(_ baud: Int) throws
    /// Stops (false) or resumes (true) reading the link: with reading stopped the bytes wait
    /// in the transport (the pty, the socket) and then at the dongle, which pushes back and
    /// counts its drops. Any thread (never blocks, never calls back); calls take effect in
    /// the order they were made. Frames already read are still delivered.
    func setReading(_ on: Bool)
    /// The thread that delivers this link's frames, when it can run tasks (a serial port's).
    var executor: (any TaskExecutor)? { get }
}

extension FrameLink {
    public var executor: (any TaskExecutor)? { nil }
}

extension SerialLink: FrameLink {
    public func resetBoard() async throws -> Bool { try await hardReset(pulse: .milliseconds(100)) }
    /// The thread that reads this port, as an executor: a receive loop that prefers it
    /// (`withTaskExecutorPreference`) gets its packets without a thread switch. It must not
    /// block: while it runs, the port is not read. After the link closed, its jobs run on
    /// the global executor.
    public var executor: (any TaskExecutor)? { port }
}

/// Where a link goes: `PATH` (a serial port), `unix:PATH`, `tcp://HOST:PORT` (plaintext, for a
/// broker started with `--insecure` on loopback) or `tls://HOST:PORT`.
public enum LinkAddress: Sendable, Hashable, CustomStringConvertible {
    case serial(path: String)
    case unix(path: String)
    case tcp(host: String, port: Int, tls: Bool)

    /// Parses a port argument; nil when a `unix:`/`tcp://`/`tls://` address is malformed.
    public init?(_ text: String) {
        if text.hasPrefix("unix://") {
            let p = String(text.dropFirst(7))
            guard !p.isEmpty else { return nil }
            self = .unix(path: p)
        } else if text.hasPrefix("unix:") {
            let p = String(text.dropFirst(5))
            guard !p.isEmpty else { return nil }
            self = .unix(path: p)
        } else if text.hasPrefix("tcp://") || text.hasPrefix("tls://") {
            let tls = text.hasPrefix("tls://")
            let rest = text.dropFirst(6)
            let host: Substring
            let portText: Substring
            if rest.hasPrefix("[") {
                // [v6 address]:port
                guard let close = rest.firstIndex(of: "]") else { return nil }
                host = rest[rest.index(after: rest.startIndex)..<close]
                let after = rest[rest.index(after: close)...]
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            } else {
                guard let colon = rest.lastIndex(of: ":") else { return nil }
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
            }
            guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
            self = .tcp(host: String(host), port: port, tls: tls)
        } else {
            self = .serial(path: text)
        }
    }

    /// True for the socket forms (a broker at the other end).
    public var isBroker: Bool {
        if case .serial = self { return false }
        return true
    }

    public var description: String {
        switch self {
        case .serial(let p): p
        case .unix(let p): "unix:\(p)"
        case .tcp(let h, let p, let tls): "\(tls ? "tls" : "tcp")://\(h.contains(":") ? "[\(h)]" : h):\(p)"
        }
    }
}

/// Opens the link an address names.
public enum FrameLinks {
    public static func open(_ address: String, serial: SerialOptions, broker: BrokerClientOptions,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            onInbound: @escaping InboundHandler,
                            onClose: @escaping @Sendable (SerialError) -> Void) async throws -> any FrameLink {
        guard let a = LinkAddress(address) else {
            throw SerialError.openFailed(path: address, errno: 0,
                                         reason: "not a port: use PATH, unix:PATH, tcp://HOST:PORT or tls://HOST:PORT")
        }
        switch a {
        case .serial(let p):
            return try await SerialLink.open(path: p, options: serial, group: group, onInbound: onInbound, onClose: onClose)
        default:
            return try await SocketLink.open(a, options: broker, group: group, onInbound: onInbound, onClose: onClose)
        }
    }
}
