import ESPNowWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// How a client reaches a broker (`espnow serve`): authentication and TLS trust.
public struct BrokerClientOptions: Sendable {
    /// Sent in `BROKER_OPEN`; a broker started with a token refuses clients without it.
    public var token: [UInt8] = []
    /// Peers this client adds stay on the dongle after it disconnects.
    public var keepPeers = false
    /// Only packets from these senders reach this client (`BROKER_FILTER`, at most 20;
    /// empty: every sender's).
    public var sources: [MACAddress] = []
    /// PEM file of the CA that signed the broker's certificate (nil: the system's roots).
    public var caFile: String?
    /// PEM certificate and key presented to a broker that asks for mutual TLS.
    public var certificateFile: String?
    public var keyFile: String?
    /// Name checked against the broker's certificate (nil: the host of the address).
    public var serverName: String?

    public init() {}

    /// From the environment: `ESPNOW_TOKEN` (or `ESPNOW_TOKEN_FILE`, first line),
    /// `ESPNOW_KEEP_PEERS=1`, `ESPNOW_TLS_CA`, `ESPNOW_TLS_CERT`, `ESPNOW_TLS_KEY`,
    /// `ESPNOW_TLS_NAME`. The CLI reads its broker settings this way.
    public static func fromEnvironment() -> BrokerClientOptions {
        func env(_ n: String) -> String? {
            guard let v = getenv(n) else { return nil }
            let s = String(cString: v)
            return s.isEmpty ? nil : s
        }
        var o = BrokerClientOptions()
        if let t = env("ESPNOW_TOKEN") {
            o.token = Array(t.utf8)
        } else if let f = env("ESPNOW_TOKEN_FILE"), let text = try? readSmallFile(f) {
            o.token = Array(text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)?.utf8 ?? "".utf8)
        }
        o.keepPeers = env("ESPNOW_KEEP_PEERS") == "1"
        o.caFile = env("ESPNOW_TLS_CA")
        o.certificateFile = env("ESPNOW_TLS_CERT")
        o.keyFile = env("ESPNOW_TLS_KEY")
        o.serverName = env("ESPNOW_TLS_NAME")
        return o
    }

    private static func readSmallFile(_ path: String) throws -> String {
        guard let f = fopen(path, "r") else { throw SerialError.openFailed(path: path, errno: errno, reason: "token file") }
        defer { fclose(f) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = fread(&buf, 1, buf.count, f)
        return String(decoding: buf[0..<n], as: UTF8.self)
    }
}

/// A link to a broker over a Unix stream socket or TCP (optionally TLS). The broker speaks
/// the bridge protocol, so the pipeline is the serial link's (`FrameDecoderHandler` →
/// `LinkInboundBridge`, `FrameEncoderHandler`) behind an optional TLS handler. Before the
/// link is handed out it sends `BROKER_OPEN` (token, flags) and waits for the answer, so a
/// refused token is an error of `open`, not a silent hang.
public final class SocketLink: FrameLink {
    public let path: String
    public let address: LinkAddress
    private let channel: any Channel
    private let closing: NIOLockedValueBox<Bool>

    public var eventLoop: any EventLoop { channel.eventLoop }
    public var allocator: ByteBufferAllocator { channel.allocator }

    private init(address: LinkAddress, channel: any Channel, closing: NIOLockedValueBox<Bool>) {
        self.address = address
        self.path = address.description
        self.channel = channel
        self.closing = closing
    }

    public static func open(_ address: LinkAddress, options: BrokerClientOptions,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            onInbound: @escaping InboundHandler,
                            onClose: @escaping @Sendable (SerialError) -> Void) async throws -> SocketLink {
        let path = address.description
        func failure(_ reason: String, _ e: Int32 = 0) -> SerialError { .openFailed(path: path, errno: e, reason: reason) }
        guard options.sources.count <= BrokerWire.maxFilterSources else {
            throw failure("a broker filters on at most \(BrokerWire.maxFilterSources) senders, not \(options.sources.count)")
        }
        var tls: NIOSSLContext?
        var serverName: String?
        if case .tcp(let host, _, true) = address {
            var c = TLSConfiguration.makeClientConfiguration()
            do {
                if let ca = options.caFile { c.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
                if let cert = options.certificateFile, let key = options.keyFile {
                    c.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                    c.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
                tls = try NIOSSLContext(configuration: c)
            } catch {
                throw failure("TLS set-up: \(error)")
            }
            serverName = options.serverName ?? host
        }
        let (tlsContext, sniName) = (tls, serverName)
        let closing = NIOLockedValueBox(false)
        let opened = group.any().makePromise(of: Void.self)
        let body = BrokerWire.openBody(flags: options.keepPeers ? BrokerWire.keepPeersFlag : 0, token: options.token)
        let filter = options.sources.isEmpty ? nil : BrokerWire.filterBody(sources: options.sources)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            // One bounded read per wake-up: what is still delivered after reading stops
            // (backpressure) stays small.
            .channelOption(.maxMessagesPerRead, value: 1)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 4096,
                                                                                    maximum: 16384))
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    let ops = ch.pipeline.syncOperations
                    if let ctx = tlsContext {
                        try ops.addHandler(try NIOSSLClientHandler(context: ctx, serverHostname: sniName.flatMap {
                            $0.first?.isNumber == true || $0.contains(":") ? nil : $0
                        }))
                    }
                    try ops.addHandlers([
                        FrameDecoderHandler(),
                        FrameEncoderHandler(),
                        BrokerOpenHandler(path: path, body: body, filter: filter, opened: opened, closing: closing),
                        LinkInboundBridge(path: path, closing: closing, onInbound: onInbound, onClose: onClose),
                    ])
                }
            }
        let channel: any Channel
        do {
            switch address {
            case .unix(let p): channel = try await bootstrap.connect(unixDomainSocketPath: p).get()
            case .tcp(let h, let port, _): channel = try await bootstrap.connect(host: h, port: port).get()
            case .serial: throw failure("not a socket address")
            }
        } catch let e as SerialError {
            opened.fail(e)
            throw e
        } catch let e as IOError {
            opened.fail(e)
            throw failure("cannot connect to the broker: \(e.description)", e.errnoCode)
        } catch {
            opened.fail(error)
            throw failure("cannot connect to the broker: \(error)")
        }
        do {
            try await opened.futureResult.get()
        } catch {
            closing.withLockedValue { $0 = true }
            try? await channel.close()
            if let e = error as? SerialError { throw e }
            throw failure("broker handshake failed: \(error)")
        }
        return SocketLink(address: address, channel: channel, closing: closing)
    }

    /// Always through the event loop, even from it: a write never runs the pipeline (whose
    /// errors close the channel and call `onClose`) inside the caller's locks.
    public func write(_ message: LinkOutbound) {
        let channel = channel
        channel.eventLoop.execute { channel.writeAndFlush(message, promise: nil) }
    }

    public func writeRaw(_ bytes: [UInt8]) {
        write(.encoded(channel.allocator.buffer(bytes: bytes)))
    }

    public func close() async {
        closing.withLockedValue { $0 = true }
        try? await channel.close()
    }

    /// A broker's dongle is reset with `RESET` (if the broker allows it), never by modem lines.
    public func resetBoard() async throws -> Bool { false }

    /// The socket has no baud rate.
    public func setBaudRate(_ baud: Int) throws {}

    /// Stops or resumes reading the socket: the broker then holds, and past its limit drops
    /// and reports, what this client does not take. Always through the event loop, so calls
    /// take effect in the order they were made.
    public func setReading(_ on: Bool) {
        let channel = channel
        channel.eventLoop.execute { _ = channel.setOption(.autoRead, value: on) }
    }
}

/// Sends `BROKER_OPEN` (id 0), and `BROKER_FILTER` (id 1) when the client filters, once the
/// connection is up, swallows their responses and fulfils `opened` with the verdict;
/// everything else passes through. (The client's HELLO then starts its session afresh.)
final class BrokerOpenHandler: ChannelDuplexHandler {
    typealias InboundIn = LinkInbound
    typealias InboundOut = LinkInbound
    typealias OutboundIn = LinkOutbound
    typealias OutboundOut = LinkOutbound

    private let path: String
    private let body: [UInt8]
    private let filter: [UInt8]?
    private let opened: EventLoopPromise<Void>
    private let closing: NIOLockedValueBox<Bool>
    private var done = false
    private var openAccepted = false

    init(path: String, body: [UInt8], filter: [UInt8]? = nil, opened: EventLoopPromise<Void>, closing: NIOLockedValueBox<Bool>) {
        self.path = path
        self.body = body
        self.filter = filter
        self.opened = opened
        self.closing = closing
    }

    /// Fails the open; the link was never handed out, so its end is not an unplug.
    private func fail(_ reason: String) {
        guard !done else { return }
        done = true
        closing.withLockedValue { $0 = true }
        opened.fail(SerialError.openFailed(path: path, errno: 0, reason: reason))
    }

    func channelActive(context: ChannelHandlerContext) {
        // A flush of any half frame, then the open request.
        context.write(wrapOutboundOut(.encoded(context.channel.allocator.buffer(bytes: [0]))), promise: nil)
        context.write(wrapOutboundOut(.frame(Frame(kind: .request, id: 0, code: BrokerWire.openCode, body: body))),
                      promise: nil)
        if let f = filter {
            context.write(wrapOutboundOut(.frame(Frame(kind: .request, id: 1, code: BrokerWire.filterCode, body: f))), promise: nil)
        }
        context.flush()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let item = unwrapInboundIn(data)
        if !done, openAccepted, case .frame(let f) = item, f.header.kind == .response, f.header.code == BrokerWire.filterCode {
            var b = f.body
            let err = b.readInteger(endianness: .little, as: Int32.self) ?? -1
            if err == 0 {
                done = true
                opened.succeed(())
            } else {
                let e = ESPError(rawValue: err)
                fail(e == .notSupported ? "this broker cannot filter by sender (BROKER_FILTER not supported)"
                     : "the broker answered BROKER_FILTER with \(e)")
                context.close(promise: nil)
            }
            return
        }
        if !done, case .frame(let f) = item, f.header.kind == .response, f.header.code == BrokerWire.openCode {
            var b = f.body
            let err = b.readInteger(endianness: .little, as: Int32.self) ?? -1
            if err == 0 {
                openAccepted = true
                if filter == nil {
                    done = true
                    opened.succeed(())
                }
            } else {
                let e = ESPError(rawValue: err)
                let reason = e == .bridgeRefused ? "the broker refused this client (wrong or missing token)"
                    : e == .notSupported ? "this is not a broker (BROKER_OPEN not supported)"
                    : "the broker answered BROKER_OPEN with \(e)"
                fail(reason)
                context.close(promise: nil)
            }
            return
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail("the broker closed the connection before accepting this client")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
        context.fireErrorCaught(error)
    }
}

/// Last inbound handler: hands items to the owner and turns the channel's end into one
/// `SerialError`.
final class LinkInboundBridge: ChannelInboundHandler {
    typealias InboundIn = LinkInbound

    private let path: String
    private let closing: NIOLockedValueBox<Bool>
    private let failure: NIOLockedValueBox<SerialError?>
    private let onInbound: InboundHandler
    private let onClose: @Sendable (SerialError) -> Void
    private var reported = false
    /// This read's items, handed on at `channelReadComplete`.
    private var batch: [LinkInbound] = []

    init(path: String, closing: NIOLockedValueBox<Bool>, failure: NIOLockedValueBox<SerialError?> = NIOLockedValueBox(nil),
         onInbound: @escaping InboundHandler, onClose: @escaping @Sendable (SerialError) -> Void) {
        self.path = path
        self.closing = closing
        self.failure = failure
        self.onInbound = onInbound
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        batch.append(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        deliver()
        context.fireChannelReadComplete()
    }

    private func deliver() {
        guard !batch.isEmpty else { return }
        onInbound(batch)
        batch.removeAll(keepingCapacity: true)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // EIO / ENXIO / ENODEV on a tty: the USB device is gone. Anything else on a serial
        // port is just as fatal for the link; close and report it as unplugged.
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelEvent { context.close(promise: nil) }  // input closed: HUP / EOF
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deliver()  // a read cut short by the close: its frames still count
        if !reported {
            reported = true
            let byUs = closing.withLockedValue { $0 }
            // The reader thread says why it stopped when it was not just the device going away.
            onClose(byUs ? .closed(path: path) : failure.withLockedValue { $0 } ?? .unplugged(path: path))
        }
        context.fireChannelInactive()
    }
}
