import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error as the API reports it: `{"error": {"code": "...", "message": "..."}}`. The
/// message names what was wrong and never carries a secret.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    static func badRequest(_ m: String) -> APIError { APIError(.badRequest, "bad_request", m) }
    static func notFound(_ m: String) -> APIError { APIError(.notFound, "not_found", m) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var h = headers
        h[.contentType] = "application/json; charset=utf-8"
        h[.cacheControl] = "no-store"
        let body = JSONOut.object([("error", JSONOut.object([("code", .string(code)), ("message", .string(message))]))]).text
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Turns every failure into the API's JSON error shape (unknown routes, framework errors,
/// database failures) so clients handle one format.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            throw e
        } catch let e as HTTPError {
            let code: String = switch e.status {
            case .notFound: "not_found"
            case .methodNotAllowed: "method_not_allowed"
            case .contentTooLarge: "too_large"
            case .unauthorized: "unauthorized"
            default: e.status.code < 500 ? "bad_request" : "internal"
            }
            let message = e.body ?? (e.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)" : e.status.reasonPhrase)
            throw APIError(e.status, code, message)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too_large", "the request body is larger than the server accepts")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            throw APIError(.serviceUnavailable, "database", "the database did not answer: \(Self.describe(error))")
        }
    }

    /// One line, and only the error's kind for types that may print parameters.
    static func describe(_ e: any Error) -> String {
        let s = String(describing: e)
        return s.count > 200 ? String(s.prefix(200)) + "…" : s
    }
}
