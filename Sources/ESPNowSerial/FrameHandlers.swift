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

/// Splits a byte stream into ``LinkInbound`` items with ``FrameSplitter`` (COBS, CRC, header
/// checks). The bodies of one read are copied once, into one buffer, and handed on as slices of
/// it (a packet kept by the application keeps that read's buffer alive: at most a read's worth
/// of bytes). Used by the serial port's thread and by ``FrameDecoderHandler``.
public struct InboundDecoder: Sendable {
    enum Item {
        case frame(FrameHeader, offset: Int, length: Int)
        case dropped(WireError)
        case foreignHello(ForeignHello)
    }

    private var splitter = FrameSplitter(accepting: .fromDevice)

    public init() {}

    /// Collects this read's items into `items`; their bodies go into one new buffer, returned.
    /// Collect first, deliver after: keeps the splitter's exclusive access short.
    mutating func decode(_ raw: UnsafeRawBufferPointer, allocator: ByteBufferAllocator, into items: inout [Item]) -> ByteBuffer {
        let foreignBefore = splitter.lastForeignHello
        // Decoded bodies are never longer than their encoded bytes plus what an earlier
        // read left in the splitter (at most one frame).
        var arena = allocator.buffer(capacity: raw.count + WireProtocol.maxDecoded)
        splitter.feed(raw) { result in
            switch result {
            case .success(let view):
                let offset = arena.writerIndex
                arena.writeBytes(view.body)
                items.append(.frame(view.header, offset: offset, length: view.body.count))
            case .failure(let e):
                items.append(.dropped(e))
            }
        }
        if let h = splitter.lastForeignHello, h != foreignBefore { items.append(.foreignHello(h)) }
        return arena
    }

    /// Slices are taken only once the arena is complete (one taken earlier would make the
    /// next write copy the buffer).
    static func deliver(_ items: [Item], _ arena: ByteBuffer, to out: (LinkInbound) -> Void) {
        for item in items {
            switch item {
            case .frame(let header, let offset, let length):
                out(.frame(DecodedFrame(header: header, body: arena.getSlice(at: offset, length: length)!)))
            case .dropped(let e): out(.dropped(e))
            case .foreignHello(let h): out(.foreignHello(h))
            }
        }
    }
}

/// The decoder as a channel handler (a broker's socket). Inbound: `ByteBuffer` → ``LinkInbound``.
public final class FrameDecoderHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = LinkInbound

    private var decoder = InboundDecoder()
    private var items: [InboundDecoder.Item] = []
    private var firing = false

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        let allocator = context.channel.allocator
        guard !firing else {
            // Re-entered from a handler further on: this read fires on its own.
            var local: [InboundDecoder.Item] = []
            let arena = bytes.withUnsafeReadableBytes { decoder.decode($0, allocator: allocator, into: &local) }
            InboundDecoder.deliver(local, arena) { context.fireChannelRead(wrapInboundOut($0)) }
            return
        }
        firing = true
        defer { firing = false }
        let arena = bytes.withUnsafeReadableBytes { decoder.decode($0, allocator: allocator, into: &items) }
        InboundDecoder.deliver(items, arena) { context.fireChannelRead(wrapInboundOut($0)) }
        items.removeAll(keepingCapacity: true)
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
