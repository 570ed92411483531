import NIOCore

/// The protocol end of one client connection: bytes in through ``ClientDecoder``, each
/// input handed to the broker in arrival order (so the client's requests reach the dongle
/// in its order); outbound bytes are already-encoded frames.
final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let broker: Broker
    private var session: ClientSession?
    private var decoder = ClientDecoder()

    init(broker: Broker) {
        self.broker = broker
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let s = broker.attach(context.channel) else {
            broker.logger.warning("connection refused: client limit reached",
                                  metadata: ["limit": "\(broker.configuration.maxClients)"])
            context.close(promise: nil)
            return
        }
        session = s
        broker.logger.info("client attached", metadata: ["client": "\(s.number)",
                                                          "from": "\(context.remoteAddress?.description ?? "unix")"])
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let s = session else { return }
        let bytes = unwrapInboundIn(data)
        var inputs: [ClientInput] = []
        bytes.withUnsafeReadableBytes { raw in decoder.feed(raw) { inputs.append($0) } }
        let link = decoder.counters
        s.state.withLockedValue { $0.counters.link = link }
        for i in inputs { broker.handle(i, from: s) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let s = session {
            session = nil
            broker.detach(s)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset connection, a failed TLS handshake: the client is gone either way.
        broker.logger.debug("client connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
