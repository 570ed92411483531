import AsyncHTTPClient
import ESPNowGateway
import ESPNowGatewayHTTP
import GatewayTestSupport
import ESPNowWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import Testing

/// A real gateway (SQLite file or PostgreSQL) and its HTTP server on a free loopback port,
/// run in one ServiceGroup as `espnow gateway --http` runs them; every response a test gets
/// through ``request(_:_:body:token:headers:)`` is checked against the served OpenAPI
/// document and kept (the LMK test searches them all).
final class GatewayHarness: Sendable {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sourceOpenAPIPath = root.appendingPathComponent("Sources/ESPNowGatewayHTTP/API/openapi.json").path

    let gateway: Gateway
    let store: any GatewayStore
    let port: Int
    let host: String
    let api: OpenAPIDocument
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let bodies = NIOLockedValueBox<[String]>([])
    var base: String { "http://127.0.0.1:\(port)" }

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var json: JSON? { try? JSON.parse(body) }
    }

    static func start(_ backend: Backend = .sqlite, ports: [String] = [], gatewayConfig: GatewayConfig = GatewayConfig(),
                      http: GatewayHTTPConfig = GatewayHTTPConfig()) async throws -> GatewayHarness {
        var gc = gatewayConfig
        gc.spoolPath = tempPath("spool.sqlite")
        var hc = http
        hc.port = 0
        let store = try await backend.makeStore()
        var logger = Logger(label: "test.gateway")
        logger.logLevel = .warning
        let gateway = try Gateway(config: gc, store: store, ports: ports, logger: logger)
        let (stream, cont) = AsyncStream<Int>.makeStream()
        let server = try GatewayHTTPServer(gateway: gateway, config: hc, version: "test", logger: logger, onListening: { cont.yield($0) })
        let group = ServiceGroup(configuration: .init(services: [.init(service: gateway), .init(service: server)], logger: logger))
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        let task = Task {
            do { try await group.run() } catch {
                failure.withLockedValue { $0 = error }
                throw error
            }
        }
        var port = 0
        let waiter = Task {
            for await p in stream { return p }
            return 0
        }
        let guardTask = Task {
            try await Task.sleep(for: .seconds(120))
            waiter.cancel()
        }
        port = await waiter.value
        guardTask.cancel()
        guard port > 0 else { throw StoreError("the HTTP server did not start within 120 s") }
        let doc = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/openapi.json" + (hc.token.map { "?access_token=\($0)" } ?? "")),
                                                      timeout: .seconds(60))
        let text = String(buffer: try await doc.body.collect(upTo: 1 << 20))
        #expect(doc.status == .ok)
        // Ready: the gateway has created its schema (asked directly, not through the
        // rate-limited API).
        try await eventually("the schema") {
            if let e = failure.withLockedValue({ $0 }) { throw StoreError("the gateway stopped: \(String(reflecting: e))") }
            return (try? await (store as! any GatewayQueries).ping()) != nil
        }
        return GatewayHarness(gateway: gateway, store: store, port: port, host: hc.host, api: try OpenAPIDocument(text), group: group, task: task)
    }

    init(gateway: Gateway, store: any GatewayStore, port: Int, host: String, api: OpenAPIDocument, group: ServiceGroup, task: Task<Void, any Error>) {
        self.gateway = gateway
        self.store = store
        self.port = port
        self.host = host
        self.api = api
        self.group = group
        self.task = task
    }

    /// Sends one request over TCP; the response must conform to the document (unless
    /// `validate` is false, for deliberately undocumented requests).
    @discardableResult
    func request(_ method: HTTPMethod, _ path: String, body: String? = nil, token: String? = nil, headers: [(String, String)] = [],
                 validate: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Reply {
        var r = HTTPClientRequest(url: base + path)
        r.method = method
        if let token { r.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (k, v) in headers { r.headers.add(name: k, value: v) }
        if let body {
            r.headers.add(name: "Content-Type", value: "application/json")
            r.body = .bytes(ByteBuffer(string: body))
        }
        let resp = try await HTTPClient.shared.execute(r, timeout: .seconds(60))
        let text = String(buffer: try await resp.body.collect(upTo: 64 << 20))
        bodies.withLockedValue { $0.append(text) }
        let reply = Reply(status: Int(resp.status.code), headers: resp.headers, body: text)
        if validate {
            let p = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
            for problem in api.check(method: method.rawValue, path: p, status: reply.status,
                                     contentType: resp.headers.first(name: "Content-Type"), body: text) {
                Issue.record("\(problem)\n\(text.prefix(400))", sourceLocation: sourceLocation)
            }
        }
        return reply
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

/// Stops the harness whatever the body does.
func withHarness<T>(_ h: GatewayHarness, _ body: (GatewayHarness) async throws -> T) async throws -> T {
    do {
        let r = try await body(h)
        try await h.stop()
        return r
    } catch {
        try? await h.stop()
        throw error
    }
}

/// Polls `condition` (a hang guard, not a timing assertion).
func eventually(_ what: String, timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("timed out waiting for \(what)")
    throw StoreError("timed out waiting for \(what)")
}

let nodeA = MACAddress(0x02, 0, 0, 0, 0, 0xA1)
let nodeB = MACAddress(0x02, 0, 0, 0, 0, 0xB2)

/// A packet as a dongle would hand it over (text `key=value` payloads decode to readings).
func uplink(_ node: MACAddress, _ text: String, at t: Int64, rssi: Int8 = -50) -> Uplink {
    Uplink(node: node, payload: Array(text.utf8), hostTimeUs: t, deviceTimeUs: 1, rssi: rssi, channel: 1, rate: 0, dongle: "test")
}
