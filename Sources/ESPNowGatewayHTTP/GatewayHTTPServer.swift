import ESPNowGateway
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle

/// The gateway on the web: a swift-service-lifecycle `Service` that serves a running
/// ``Gateway`` over HTTP — the REST API, the live stream (SSE and WebSocket), `/metrics`,
/// `/openapi.json` and the dashboard. Run it in the same `ServiceGroup` as the gateway,
/// after it (services stop in reverse order, so the API stops before the gateway).
public struct GatewayHTTPServer: Service {
    public let gateway: Gateway
    public let config: GatewayHTTPConfig
    let version: String
    let logger: Logger
    let metrics: (@Sendable () -> String)?
    let onListening: @Sendable (Int) async -> Void
    let hub: LiveHub

    /// - Parameters:
    ///   - metrics: the Prometheus text `/metrics` serves (nil: the gateway's ``GatewayMetrics``
    ///     and the live stream's clients and drops).
    ///   - onListening: called with the bound port once the server accepts connections.
    public init(gateway: Gateway, config: GatewayHTTPConfig, version: String = "dev", logger: Logger = Logger(label: "espnow.gateway.http"),
                metrics: (@Sendable () -> String)? = nil, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        try config.validate()
        guard gateway.store is any GatewayQueries else {
            throw GatewayHTTPConfig.Error("the HTTP API needs a database (not --dry-run)")
        }
        self.gateway = gateway
        self.config = config
        self.version = version
        self.logger = logger
        self.metrics = metrics
        self.onListening = onListening
        hub = LiveHub(clientBuffer: config.streamBuffer, clientBufferMax: config.streamBufferMax)
    }

    func router() -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.middlewares.add(SecurityHeadersMiddleware())
        if !config.corsOrigins.isEmpty { router.middlewares.add(CORSOriginsMiddleware(origins: Set(config.corsOrigins))) }
        router.middlewares.add(ErrorMiddleware())
        router.middlewares.add(RateLimitMiddleware(limiter: RateLimiter(rate: config.rateLimit, burst: config.rateBurst)))
        router.middlewares.add(AuthMiddleware(token: config.token, protectReads: !config.isLoopback))
        let store = gateway.store as! any GatewayQueries
        APIRoutes(gateway: gateway, store: store, config: config, hub: hub, version: version).add(to: router)
        let hub = hub
        router.get("/api/stream") { r, _ in try hub.sse(r) }
        router.ws("/api/ws") { r, _ in
            _ = try hub.options(r)
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            // Checked before the upgrade.
            guard let (filter, buffer) = try? hub.options(context.request) else { return }
            try await hub.webSocket(inbound, outbound, filter: filter, buffer: buffer)
        }
        let gateway = gateway
        let gatewayMetrics = GatewayMetrics(gateway: gateway)
        let metrics = metrics ?? {
            gatewayMetrics.setLevel("espnow_gateway_stream_clients", Double(hub.clientCount))
            gatewayMetrics.setTotal("espnow_gateway_stream_dropped_total", Int64(hub.dropped))
            return gatewayMetrics.prometheusText()
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics())))
        }
        Assets.load().add(to: router)
        return router
    }

    public func run() async throws {
        let router = router()
        let hub = hub
        let observer = gateway.onCommit { batch in hub.offer(batch) }
        defer { gateway.removeObserver(observer) }
        let pump = Task { await hub.pump() }
        defer { pump.cancel() }
        let (host, port, logger, onListening) = (config.host, config.port, logger, onListening)
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("HTTP API on http://\(host.contains(":") ? "[\(host)]" : host):\(bound)")
                await onListening(bound)
            },
            logger: logger)
        // Live streams never end by themselves: close them when shutdown starts so the
        // server can finish its responses.
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            hub.close()
        }
        hub.close()
    }
}
