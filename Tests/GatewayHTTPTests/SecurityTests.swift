import ESPNowGateway
import ESPNowGatewayHTTP
import ESPNowWire
import Foundation
import Testing

/// Who may do what: tokens, binds, rate and size limits, CORS.
@Suite("HTTP security")
struct SecurityTests {
    static let token = "test-token-0123456789abcdef"

    static func expectUnauthorized(_ r: GatewayHarness.Reply, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 401, sourceLocation: sourceLocation)
        #expect(r.json?["error"]?["code"]?.string == "unauthorized", sourceLocation: sourceLocation)
        #expect(r.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true, sourceLocation: sourceLocation)
        #expect(!r.body.contains(token), sourceLocation: sourceLocation)
    }

    /// On loopback reads are open; every write needs the token once one is configured.
    @Test func writesNeedTheToken() async throws {
        var http = GatewayHTTPConfig()
        http.token = Self.token
        let h = try await GatewayHarness.start(http: http)
        try await withHarness(h) { h in
            #expect(try await h.request(.GET, "/api/status").status == 200)
            let patch = #"{"name":"porch"}"#
            Self.expectUnauthorized(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: patch))
            Self.expectUnauthorized(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: patch, token: "test-token-0123456789abcdeX"))
            Self.expectUnauthorized(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: patch, token: "short"))
            Self.expectUnauthorized(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: patch, headers: [("Authorization", "Basic dTpw")]))
            // The query-string form is for GETs (EventSource, WebSocket) only.
            Self.expectUnauthorized(try await h.request(.POST, "/api/nodes/\(nodeA)/downlinks?access_token=\(Self.token)", body: #"{"text":"x"}"#))
            Self.expectUnauthorized(try await h.request(.POST, "/api/nodes/\(nodeA)/downlinks", body: #"{"text":"x"}"#))
            #expect(try await h.store.nodes().isEmpty)  // nothing was written by the refused requests
            let ok = try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: patch, token: Self.token)
            #expect(ok.status == 200 && ok.json?["name"]?.string == "porch")
            #expect(try await h.request(.POST, "/api/nodes/\(nodeA)/downlinks", body: #"{"text":"x"}"#, token: Self.token).status == 201)
            try LMKChecks.expectAbsent(ContractTests.lmk, from: h.bodies.withLockedValue { $0 })
        }
    }

    /// Beyond loopback a token is required to start, and then for everything but /healthz
    /// and the page's files.
    @Test func nonLoopbackBindNeedsATokenForEverything() async throws {
        var open = GatewayHTTPConfig()
        open.host = "0.0.0.0"
        #expect(throws: GatewayHTTPConfig.Error.self) { try open.validate() }
        do {
            try open.validate()
        } catch {
            #expect(error.description.contains("token") && error.description.contains("0.0.0.0"))
        }
        open.token = "too-short"
        #expect(throws: GatewayHTTPConfig.Error.self) { try open.validate() }
        open.token = Self.token
        let h = try await GatewayHarness.start(http: open)
        try await withHarness(h) { h in
            #expect(try await h.request(.GET, "/healthz").status == 200)
            #expect(try await h.request(.GET, "/").status == 200)
            for path in ["/api/status", "/api/nodes", "/api/readings", "/api/packets", "/readyz", "/metrics", "/openapi.json", "/api/stream",
                         "/api/downlinks/1"] {
                Self.expectUnauthorized(try await h.request(.GET, path))
                Self.expectUnauthorized(try await h.request(.GET, path, token: "test-token-0123456789abcdeY"))
            }
            #expect(try await h.request(.GET, "/api/status", token: Self.token).status == 200)
            #expect(try await h.request(.GET, "/api/nodes?access_token=\(Self.token)").status == 200)
            Self.expectUnauthorized(try await h.request(.GET, "/api/nodes?access_token=nope"))
        }
    }

    @Test func rateLimitBodyLimitAndCORS() async throws {
        var http = GatewayHTTPConfig()
        http.rateLimit = 0.001  // no refill within the test
        http.rateBurst = 4
        http.maxBodyBytes = 100
        http.corsOrigins = ["http://dash.example:8000"]
        let h = try await GatewayHarness.start(http: http)
        try await withHarness(h) { h in
            // The harness already spent one request on /openapi.json.
            let allowed = try await h.request(.GET, "/api/status", headers: [("Origin", "http://dash.example:8000")])
            #expect(allowed.headers.first(name: "Access-Control-Allow-Origin") == "http://dash.example:8000")
            let other = try await h.request(.GET, "/api/status", headers: [("Origin", "http://evil.example")])
            #expect(other.status == 200 && other.headers.first(name: "Access-Control-Allow-Origin") == nil)
            let big = try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: #"{"name":""# + String(repeating: "y", count: 200) + #""}"#)
            #expect(big.status == 413 && big.json?["error"]?["code"]?.string == "too_large")
            let limited = try await h.request(.GET, "/api/status")
            #expect(limited.status == 429)
            #expect(limited.json?["error"]?["code"]?.string == "rate_limited")
            #expect(limited.headers.first(name: "Retry-After") == "1")
        }
        let plain = try await GatewayHarness.start()
        try await withHarness(plain) { h in
            let r = try await h.request(.GET, "/api/status", headers: [("Origin", "http://dash.example:8000")])
            #expect(r.status == 200 && r.headers.first(name: "Access-Control-Allow-Origin") == nil)
            let preflight = try await h.request(.OPTIONS, "/api/nodes/\(nodeA)", headers: [("Origin", "http://dash.example:8000")], validate: false)
            #expect(preflight.headers.first(name: "Access-Control-Allow-Origin") == nil)
        }
    }
}
