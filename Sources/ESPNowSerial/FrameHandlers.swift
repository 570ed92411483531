import ESPNowWire
import NIOCore

/// A frame read from the device: its header and its body, copied once out of the
/// splitter's scratch buffer into a `ByteBuffer` that later layers slice without copying.
public struct DecodedFrame: Sendable {
    public var header: FrameHeader
    public var body: ByteBuffer

    public init(header: FrameHeader, body: ByteBuffer) {
        self.header = header
        self.body = body
    }

    /// Decodes the body along its layout (allocates; for non-hot paths).
    public func message() throws(WireError) -> Message {
        let h = header
        let r: Result<Message, WireError> = body.withUnsafeReadableBytes { b in
            Result { () throws(WireError) in try Message(frame: FrameView(header: h, body: b)) }
        }
        return try r.get()
    }
}

/// What the decoder passes on: frames, and every drop (so the layer above counts them).
public enum LinkInbound: Sendable {
    case frame(DecodedFrame)
    case dropped(WireError)
    /// A HELLO of another protocol version (section 9): the firmware must be reflashed.
    case foreignHello(ForeignHello)
}

/// Splits the byte stream into frames with ``FrameSplitter`` (COBS, CRC, header checks).
/// Inbound: `ByteBuffer` → ``LinkInbound``.
public final class FrameDecoderHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = LinkInbound

    private var splitter = FrameSplitter(accepting: .fromDevice)
    private var out: [LinkInbound] = []

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        let allocator = context.channel.allocator
        let foreignBefore = splitter.lastForeignHello
        // Collect first, fire after: keeps the splitter's exclusive access short and the
        // pipeline free to re-enter.
        bytes.withUnsafeReadableBytes { raw in
            splitter.feed(raw) { result in
                switch result {
                case .success(let view):
                    out.append(.frame(DecodedFrame(header: view.header, body: allocator.buffer(bytes: view.body))))
                case .failure(let e):
                    out.append(.dropped(e))
                }
            }
        }
        if let h = splitter.lastForeignHello, h != foreignBefore { out.append(.foreignHello(h)) }
        let batch = out
        out.removeAll(keepingCapacity: true)
        for item in batch { context.fireChannelRead(wrapInboundOut(item)) }
    }
}

/// What can be written to the device.
public enum LinkOutbound: Sendable {
    /// Encoded here (COBS + CRC + delimiter).
    case frame(Frame)
    /// Already encoded wire bytes, sent as they are (retransmissions must be byte-identical).
    case encoded(ByteBuffer)
}

/// Encodes frames for the wire. Outbound: ``LinkOutbound`` → `ByteBuffer`.
public final class FrameEncoderHandler: ChannelOutboundHandler {
    public typealias OutboundIn = LinkOutbound
    public typealias OutboundOut = ByteBuffer

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .encoded(let b):
            context.write(wrapOutboundOut(b), promise: promise)
        case .frame(let f):
            do {
                let wire = try FrameEncoding.encode(f, allocator: context.channel.allocator)
                context.write(wrapOutboundOut(wire), promise: promise)
            } catch {
                promise?.fail(error)
            }
        }
    }
}

public enum FrameEncoding {
    /// The wire bytes of `frame` in a `ByteBuffer`.
    public static func encode(_ frame: Frame, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(WireError) -> ByteBuffer {
        var tmp: [UInt8] = []
        try frame.encode(into: &tmp)
        return allocator.buffer(bytes: tmp)
    }
}
