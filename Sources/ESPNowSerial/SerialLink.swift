import ESPNowWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// An open serial link to a dongle: a SwiftNIO pipe channel over the tty descriptor with
/// the pipeline `FrameDecoderHandler → LinkInboundBridge` inbound and
/// `FrameEncoderHandler` outbound. Frames and drops go to `onInbound` on the event loop;
/// `onClose` is called once when the link ends (`.unplugged` for EIO/HUP, `.closed` when
/// this process closed it, `.foreignReader` when another program reads the port). The tty
/// is read by a ``ReadPump`` thread; the channel writes it directly.
public final class SerialLink: Sendable {
    public let path: String
    public let options: SerialOptions
    /// False on ports without DTR/RTS (pseudo-terminals).
    public let hasModemLines: Bool
    private let channel: any Channel
    private let fd: Int32
    private let closing: NIOLockedValueBox<Bool>
    private let pumpExited: EventLoopFuture<Void>

    public var eventLoop: any EventLoop { channel.eventLoop }
    public var allocator: ByteBufferAllocator { channel.allocator }

    private init(path: String, options: SerialOptions, hasModemLines: Bool, channel: any Channel, fd: Int32,
                 closing: NIOLockedValueBox<Bool>, pumpExited: EventLoopFuture<Void>) {
        self.pumpExited = pumpExited
        self.path = path
        self.options = options
        self.hasModemLines = hasModemLines
        self.channel = channel
        self.fd = fd
        self.closing = closing
    }

    /// Opens `path` (a tty, a `/dev/serial/by-id/...` link, or a simulator pty).
    public static func open(path: String, options: SerialOptions = SerialOptions(),
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            onInbound: @escaping @Sendable (LinkInbound) -> Void,
                            onClose: @escaping @Sendable (SerialError) -> Void) async throws -> SerialLink {
        let (fd, modem) = try PosixSerialPort.open(path: path, options: options)
        let closing = NIOLockedValueBox(false)
        let failure = NIOLockedValueBox<SerialError?>(nil)
        let pump: ReadPump
        do {
            pump = try ReadPump(tty: fd, path: path, failure: failure, eventLoop: group.next())
        } catch {
            Glibc.close(fd)
            throw error
        }
        let channel: any Channel
        do {
            channel = try await NIOPipeBootstrap(group: group)
                .channelOption(.allowRemoteHalfClosure, value: false)
                // One bounded read per wake-up: what is still delivered after reading
                // stops (backpressure) stays small.
                .channelOption(.maxMessagesPerRead, value: 1)
                .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 4096,
                                                                                        maximum: 16384))
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandlers([
                            FrameDecoderHandler(),
                            FrameEncoderHandler(),
                            LinkInboundBridge(path: path, closing: closing, failure: failure, onInbound: onInbound,
                                              onClose: onClose),
                        ])
                    }
                }
                .takingOwnershipOfDescriptors(input: pump.channelFD, output: fd)
                .get()
        } catch {
            pump.discard()
            Glibc.close(fd)
            throw error
        }
        pump.start()
        return SerialLink(path: path, options: options, hasModemLines: modem, channel: channel, fd: fd, closing: closing,
                          pumpExited: pump.exited.futureResult)
    }

    /// Queues `message` and flushes. Errors after a close are reported through `onClose`.
    public func write(_ message: LinkOutbound) {
        channel.writeAndFlush(message, promise: nil)
    }

    /// Writes raw bytes (the handshake's lone `0x00`).
    public func writeRaw(_ bytes: [UInt8]) {
        channel.writeAndFlush(LinkOutbound.encoded(channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    /// Closes the port (idempotent). `onClose` gets `.closed`. Returns once the port is
    /// free for the next opener.
    public func close() async {
        closing.withLockedValue { $0 = true }
        try? await channel.close()
        try? await pumpExited.get()
    }

    /// Pulses the lines the way the ESP32 auto-reset circuit and USB-Serial-JTAG expect
    /// (EN low through RTS with DTR off, then released), then restores the levels chosen on
    /// open. Returns false when the port has no modem lines (a pty).
    @discardableResult
    public func hardReset(pulse: TimeAmount = .milliseconds(100)) async throws -> Bool {
        guard hasModemLines, channel.isActive else { return false }
        guard PosixSerialPort.setModemLines(fd: fd, dtr: false, rts: true) else { return false }
        try await Task.sleep(nanoseconds: UInt64(pulse.nanoseconds))
        PosixSerialPort.setModemLines(fd: fd, dtr: false, rts: false)
        PosixSerialPort.setModemLines(fd: fd, dtr: options.dtr, rts: options.rts)
        return true
    }

    /// Stops or resumes reading (on the event loop). Stopped, the pump thread fills its
    /// small socket buffer and stops reading the tty; the tty's buffer fills and the dongle
    /// pushes back.
    public func setReading(_ on: Bool) {
        channel.eventLoop.preconditionInEventLoop()
        _ = channel.setOption(.autoRead, value: on)
    }

    /// Changes the host side's baud rate (after a SET_BAUD response).
    public func setBaudRate(_ baud: Int) throws {
        try PosixSerialPort.setBaud(fd: fd, path: path, baud: baud)
    }
}

/// Last inbound handler: hands items to the owner and turns the channel's end into one
/// `SerialError`.
final class LinkInboundBridge: ChannelInboundHandler {
    typealias InboundIn = LinkInbound

    private let path: String
    private let closing: NIOLockedValueBox<Bool>
    private let failure: NIOLockedValueBox<SerialError?>
    private let onInbound: @Sendable (LinkInbound) -> Void
    private let onClose: @Sendable (SerialError) -> Void
    private var reported = false

    init(path: String, closing: NIOLockedValueBox<Bool>, failure: NIOLockedValueBox<SerialError?> = NIOLockedValueBox(nil),
         onInbound: @escaping @Sendable (LinkInbound) -> Void, onClose: @escaping @Sendable (SerialError) -> Void) {
        self.path = path
        self.closing = closing
        self.failure = failure
        self.onInbound = onInbound
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onInbound(unwrapInboundIn(data))
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
        if !reported {
            reported = true
            let byUs = closing.withLockedValue { $0 }
            // The reader thread says why it stopped when it was not just the device going away.
            onClose(byUs ? .closed(path: path) : failure.withLockedValue { $0 } ?? .unplugged(path: path))
        }
        context.fireChannelInactive()
    }
}
