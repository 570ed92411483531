import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP/1.1 server on a loopback port for the webhook tests: records every request
/// and answers as `respond` says (a status, or never).
final class TestHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var uri: String
        var headers: [(String, String)]
        var body: [UInt8]

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    enum Answer: Sendable {
        case status(Int)
        /// Keep the connection open and never answer.
        case hang
    }

    let channel: any Channel
    let requests: NIOLockedValueBox<[Request]>
    /// The answer to the n-th request (0-based), and the request.
    let respond: NIOLockedValueBox<@Sendable (Int, Request) -> Answer>

    var port: Int { channel.localAddress!.port! }
    var url: String { "http://127.0.0.1:\(port)/hook" }

    init(_ respond: @escaping @Sendable (Int, Request) -> Answer = { _, _ in .status(200) }) async throws {
        let box = NIOLockedValueBox<@Sendable (Int, Request) -> Answer>(respond)
        let recorded = NIOLockedValueBox<[Request]>([])
        self.respond = box
        self.requests = recorded
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try ch.pipeline.syncOperations.addHandler(Handler(recorded: recorded, respond: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let recorded: NIOLockedValueBox<[Request]>
        let respond: NIOLockedValueBox<@Sendable (Int, Request) -> Answer>
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(recorded: NIOLockedValueBox<[Request]>, respond: NIOLockedValueBox<@Sendable (Int, Request) -> Answer>) {
            self.recorded = recorded
            self.respond = respond
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body = []
            case .body(var b):
                body += b.readBytes(length: b.readableBytes) ?? []
            case .end:
                guard let h = head else { return }
                let r = Request(method: "\(h.method)", uri: h.uri, headers: h.headers.map { ($0.name, $0.value) }, body: body)
                let n = recorded.withLockedValue { l -> Int in
                    l.append(r)
                    return l.count - 1
                }
                switch respond.withLockedValue({ $0 })(n, r) {
                case .hang:
                    return
                case .status(let code):
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Length", value: "0")
                    let head = HTTPResponseHead(version: h.version, status: HTTPResponseStatus(statusCode: code), headers: headers)
                    context.write(wrapOutboundOut(.head(head)), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }
}
