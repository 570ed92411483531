import Crypto
import ESPNowGateway
import ESPNowWire
import Foundation
import GatewayTestSupport
import Testing

/// Webhooks against a real HTTP server on loopback: signed bodies, retries with back-off
/// until a failing endpoint recovers, and a dead endpoint that costs ingest nothing.
@Suite("Webhooks")
struct WebhookTests {
    static func textPacket(_ node: MACAddress, _ n: Int) -> Uplink {
        Uplink(node: node, payload: Array("{\"v\": \(n)}".utf8), hostTimeUs: 1_700_000_000_000_000 + Int64(n), rssi: -61, channel: 6)
    }

    static func gateway(_ hooks: [WebhookConfig], queue: Int = 100_000) throws -> Gateway {
        var config = GatewayConfig()
        config.gatewayID = "hooks"
        config.queueCapacity = queue
        config.webhooks = hooks
        config.webhookGraceUs = 200_000
        config.defaultDecoder = .json
        return try Gateway(config: config, store: try SQLiteStore(path: tempPath("w.sqlite")), ports: [])
    }

    static func json(_ r: TestHTTPServer.Request) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
    }

    @Test func signedBodiesPerReadingAndPerNode() async throws {
        let server = try await TestHTTPServer()
        defer { Task { await server.stop() } }
        var perReading = WebhookConfig(url: server.url + "?kind=reading", secret: "s3cret \u{e9}")
        perReading.backoffUs = 10_000
        let perNode = WebhookConfig(url: server.url + "?kind=node", secret: "other", batching: .node)
        let g = try Self.gateway([perReading, perNode])
        // Two readings per packet: sensor A 10 packets, B 5 packets.
        for n in 1...10 {
            g.ingest(Uplink(node: nodeA, payload: Array("{\"t\": \(n).5, \"unit\": \"x\\\"y\"}".utf8), hostTimeUs: 1_700_000_000_123_456 + Int64(n)))
        }
        for n in 1...5 { g.ingest(Uplink(node: nodeB, payload: Array("{\"h\": \(n), \"k\": \(n)}".utf8), hostTimeUs: 1_700_000_000_000_000)) }
        try await GatewayServiceTests.running([g]) {
            try await eventually("30 per-reading bodies and every reading per node") {
                let r = server.requests.withLockedValue { $0 }
                let nodeReadings = try r.filter { $0.uri.hasSuffix("kind=node") }.reduce(0) { $0 + ((try Self.json($1)["readings"] as? [Any])?.count ?? 0) }
                return r.count { $0.uri.hasSuffix("kind=reading") } == 30 && nodeReadings == 30
            }
        }
        let requests = server.requests.withLockedValue { $0 }
        var deliveries: [String: Set<String>] = [:]
        for r in requests {
            #expect(r.method == "POST")
            #expect(r.header("Content-Type") == "application/json")
            let secret = r.uri.hasSuffix("kind=node") ? "other" : "s3cret \u{e9}"
            let mac = HMAC<SHA256>.authenticationCode(for: r.body, using: SymmetricKey(data: Array(secret.utf8)))
            let hex = mac.map { String(format: "%02x", $0) }.joined()
            #expect(r.header("X-Espnow-Signature") == "sha256=" + hex)
            deliveries[r.uri, default: []].insert(try #require(r.header("X-Espnow-Delivery")))
        }
        // Each body of a webhook has its own delivery id (nothing was retried here).
        #expect(deliveries.mapValues(\.count) == Dictionary(grouping: requests, by: \.uri).mapValues(\.count))
        let bodies = try requests.filter { $0.uri.hasSuffix("kind=reading") }.map(Self.json)
        let a1 = try #require(bodies.first { $0["node"] as? String == nodeA.description && $0["field"] as? String == "t" && $0["value"] as? Double == 1.5 })
        #expect(a1["gateway"] as? String == "hooks")
        #expect(a1["time"] as? String == "2023-11-14T22:13:20.123457Z")
        #expect(a1["timeUs"] as? Int == 1_700_000_000_123_457)
        #expect(bodies.contains { $0["field"] as? String == "unit" && $0["text"] as? String == "x\"y" })
        #expect(bodies.count { $0["node"] as? String == nodeB.description } == 10)
        let nodeBodies = try requests.filter { $0.uri.hasSuffix("kind=node") }.map(Self.json)
        #expect(nodeBodies.allSatisfy { ($0["readings"] as? [[String: Any]])?.isEmpty == false && $0["node"] is String })
        let w = g.webhooks.map(\.stats)
        #expect(w[0].delivered == 30 && w[0].offered == 30 && w[0].failed == 0 && w[0].dropped == 0)
        #expect(w[1].delivered == w[1].offered && w[1].dropped == 0)
    }

    @Test func failingEndpointIsRetriedUntilItRecovers() async throws {
        // 500 for the first three requests, then 200.
        let server = try await TestHTTPServer { n, _ in n < 3 ? .status(500) : .status(200) }
        defer { Task { await server.stop() } }
        var hook = WebhookConfig(url: server.url, maxRetries: 5)
        hook.backoffUs = 5_000
        let g = try Self.gateway([hook])
        for n in 1...5 { g.ingest(Self.textPacket(nodeA, n)) }
        try await GatewayServiceTests.running([g]) {
            try await eventually("5 bodies delivered") { g.webhooks[0].stats.delivered == 5 }
        }
        let r = server.requests.withLockedValue { $0 }
        #expect(r.count == 8)
        // The first body was sent four times (three 500s, then accepted), the same bytes each time.
        #expect(Set(r.prefix(4).map { $0.header("X-Espnow-Delivery") }).count == 1)
        #expect(Set(r.prefix(4).map(\.body)).count == 1)
        #expect(try r.map { try Self.json($0)["value"] as? Int } == [1, 1, 1, 1, 2, 3, 4, 5])
        let s = g.webhooks[0].stats
        #expect(s.retries == 3 && s.failed == 0 && s.dropped == 0 && s.offered == 5)
    }

    @Test func refusedAndExhaustedBodiesAreCountedAsFailed() async throws {
        // 400 (never retried) for value 1; 503 forever for value 2 (given up after 2 retries).
        let server = try await TestHTTPServer { _, req in
            let v = (try? JSONSerialization.jsonObject(with: Data(req.body)) as? [String: Any])?["value"] as? Int
            return v == 1 ? .status(400) : v == 2 ? .status(503) : .status(204)
        }
        defer { Task { await server.stop() } }
        var hook = WebhookConfig(url: server.url, maxRetries: 2)
        hook.backoffUs = 1_000
        let g = try Self.gateway([hook])
        for n in 1...3 { g.ingest(Self.textPacket(nodeA, n)) }
        try await GatewayServiceTests.running([g]) {
            try await eventually("3 bodies settled") { let s = g.webhooks[0].stats; return s.delivered + s.failed == 3 }
        }
        let s = g.webhooks[0].stats
        #expect(s.delivered == 1 && s.failed == 2 && s.retries == 2)
        #expect(server.requests.withLockedValue { $0.count } == 1 + 3 + 1)
    }

    @Test func deadEndpointCostsIngestNothingAndItsDropsAreCounted() async throws {
        // Accepts connections, never answers.
        let server = try await TestHTTPServer { _, _ in .hang }
        defer { Task { await server.stop() } }
        var hook = WebhookConfig(url: server.url, maxRetries: 0)
        hook.queueCapacity = 20
        hook.timeoutUs = 600_000_000
        // A small gateway queue: a writer held up by the webhook would overflow it.
        let g = try Self.gateway([hook], queue: 100)
        let metrics = GatewayMetrics(gateway: g)
        try await GatewayServiceTests.running([g]) {
            for chunk in 0..<40 {
                for n in 1...50 { #expect(g.ingest(Self.textPacket(nodeA, chunk * 50 + n))) }
                try await eventually("chunk \(chunk) stored") { g.stats.stored == Int64(chunk + 1) * 50 }
            }
            try await eventually("one body in flight, 20 queued") { let s = g.webhooks[0].stats; return s.inFlight == 1 && s.queued == 20 }
            let s = g.webhooks[0].stats
            #expect(s.offered == 2000 && s.dropped == 2000 - 21 && s.delivered == 0 && s.failed == 0)
            let p = try PrometheusText(metrics.prometheusText())
            #expect(p.value("espnow_gateway_webhook_bodies_total", ["webhook": "127.0.0.1:\(server.port)/hook", "result": "dropped"]) == 1979)
            #expect(p.value("espnow_gateway_webhook_queue_depth", ["webhook": "127.0.0.1:\(server.port)/hook"]) == 20)
        }
        #expect(g.stats.drops.isEmpty)
        #expect(server.requests.withLockedValue { $0.count } == 1)
        // Stopping gives up what was queued and the hung request: all counted.
        #expect(g.webhooks[0].stats.dropped == 2000)
    }

    @Test func configFile() throws {
        let c = try GatewayConfig.load(toml: """
            [[webhook]]
            url = "https://hooks.example/espnow?token=abc"
            secret = "k"
            batch = "node"
            max_retries = 3
            queue = 500
            backoff = "250ms"
            timeout = "5s"

            [[webhook]]
            url = "http://127.0.0.1:9000/in"
            """)
        #expect(c.webhooks.count == 2)
        #expect(c.webhooks[0].batching == .node && c.webhooks[0].maxRetries == 3 && c.webhooks[0].queueCapacity == 500)
        #expect(c.webhooks[0].backoffUs == 250_000 && c.webhooks[0].timeoutUs == 5_000_000 && c.webhooks[0].secret == "k")
        #expect(c.webhooks[0].displayName == "hooks.example/espnow")
        #expect(c.webhooks[1].batching == .reading && c.webhooks[1].secret == nil)
        for (text, message) in [
            ("[[webhook]]\nsecret = \"x\"", "url is required"),
            ("[[webhook]]\nurl = \"ftp://x/y\"", "is not an http:// or https:// URL"),
            ("[[webhook]]\nurl = \"http://x/\"\nbatch = \"all\"", "batch must be \"reading\" or \"node\""),
            ("[[webhook]]\nurl = \"http://x/\"\nretries = 2", "unknown key \"retries\""),
            ("[[webhook]]\nurl = \"http://x/\"\nmax_retries = -1", "max_retries must be an integer"),
        ] {
            #expect(throws: GatewayConfig.Error.self) { try GatewayConfig.load(toml: text) }
            do {
                _ = try GatewayConfig.load(toml: text)
            } catch {
                #expect(error.description.contains(message), "\(error.description)")
            }
        }
    }
}
