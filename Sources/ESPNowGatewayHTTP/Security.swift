import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Compares without an early exit, so the time taken does not tell how much of a guess was
/// right (a length mismatch still walks the presented value).
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<x.count { diff |= x[i] ^ (i < y.count ? y[i] : 0) }
    return diff == 0
}

/// Bearer-token checks: writes need the token whenever one is configured; on a
/// non-loopback bind every request does, except `/healthz` and the dashboard's static files
/// (which hold no data; the page asks for the token before calling the API).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    let protectReads: Bool

    static func isPublic(_ path: String) -> Bool {
        path == "/healthz" || path == "/" || path == "/index.html" || path.hasPrefix("/static/")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let write = request.method != .get && request.method != .head && request.method != .options
        guard let token, write || (protectReads && !Self.isPublic(request.uri.path)) else {
            return try await next(request, context)
        }
        // Browsers cannot put headers on EventSource or WebSocket requests: GETs may carry
        // the token as `access_token` instead (never logged: no request logging here).
        let presented: String?
        if let h = request.headers[.authorization] {
            guard h.count > 7, h.prefix(7).lowercased() == "bearer " else {
                throw unauthorized("the Authorization header must be `Bearer TOKEN`")
            }
            presented = String(h.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        } else if !write, let q = request.uri.queryParameters["access_token"] {
            presented = String(q)
        } else {
            presented = nil
        }
        guard let presented else {
            throw unauthorized(write ? "this request changes data: send the gateway's token as `Authorization: Bearer TOKEN`"
                                     : "this gateway listens beyond loopback: send its token as `Authorization: Bearer TOKEN`")
        }
        guard constantTimeEquals(presented, token) else { throw unauthorized("the token is not this gateway's") }
        return try await next(request, context)
    }

    func unauthorized(_ m: String) -> APIError {
        var e = APIError(.unauthorized, "unauthorized", m)
        e.headers[HTTPField.Name("WWW-Authenticate")!] = "Bearer realm=\"espnow-gateway\""
        return e
    }
}

/// A token bucket per client address: `burst` requests at once, refilled at `rate` per
/// second. A bounded table: the least recently seen clients are forgotten first.
final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var lastNs: UInt64
    }

    let rate: Double
    let burst: Double
    let maxClients: Int
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    init(rate: Double, burst: Double, maxClients: Int = 10_000) {
        self.rate = rate
        self.burst = burst
        self.maxClients = maxClients
    }

    /// True when the client may go ahead (and takes one token).
    func allow(_ client: String, nowNs: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Bool {
        buckets.withLockedValue { b in
            var k = b[client] ?? Bucket(tokens: burst, lastNs: nowNs)
            k.tokens = min(burst, k.tokens + Double(nowNs &- k.lastNs) / 1e9 * rate)
            k.lastNs = nowNs
            let ok = k.tokens >= 1
            if ok { k.tokens -= 1 }
            if b[client] == nil, b.count >= maxClients, let oldest = b.min(by: { $0.value.lastNs < $1.value.lastNs })?.key {
                b.removeValue(forKey: oldest)
            }
            b[client] = k
            return ok
        }
    }
}

struct RateLimitMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let client = context.remoteAddress?.ipAddress ?? "unknown"
        guard limiter.allow(client) else {
            var e = APIError(.tooManyRequests, "rate_limited",
                             "more than \(limiter.rate) requests per second from \(client); slow down")
            e.headers[HTTPField.Name("Retry-After")!] = "1"
            throw e
        }
        return try await next(request, context)
    }
}

/// CORS for the configured origins only: the matching origin is echoed, preflights answered.
struct CORSOriginsMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) else {
            return try await next(request, context)
        }
        if request.method == .options {
            return Response(status: .noContent, headers: [
                .accessControlAllowOrigin: origin, .vary: "Origin",
                .accessControlAllowMethods: "GET, POST, PATCH, OPTIONS",
                .accessControlAllowHeaders: "Authorization, Content-Type",
                .accessControlMaxAge: "600",
            ])
        }
        var r: Response
        do {
            r = try await next(request, context)
        } catch let e as APIError {
            var e = e
            e.headers[.accessControlAllowOrigin] = origin
            e.headers[.vary] = "Origin"
            throw e
        }
        r.headers[.accessControlAllowOrigin] = origin
        r.headers[.vary] = "Origin"
        return r
    }
}

/// Headers every response carries: no sniffing, no framing by other sites.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static func add(_ h: inout HTTPFields) {
        h[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        h[HTTPField.Name("X-Frame-Options")!] = "DENY"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var r: Response
        do {
            r = try await next(request, context)
        } catch var e as APIError {
            Self.add(&e.headers)
            throw e
        }
        Self.add(&r.headers)
        return r
    }
}
