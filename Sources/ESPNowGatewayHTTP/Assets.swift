import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The files the binary serves: the dashboard (Resources/, at `/` and `/static/NAME`) and
/// the OpenAPI document (API/openapi.json). Read once at start from SwiftPM's resource
/// bundle next to the executable (or `$ESPNOW_GATEWAY_WEB_DIR`); only names found there are
/// served, so no request path reaches the file system.
struct Assets: Sendable {
    struct File: Sendable {
        var bytes: ByteBuffer
        var contentType: String
    }

    var files: [String: File] = [:]
    var openAPI: ByteBuffer?
    var searched: [String] = []

    static let bundleName = "espnow-bridge_ESPNowGatewayHTTP.resources"

    static func bundleDirs() -> [String] {
        var dirs: [String] = []
        if let d = ProcessInfo.processInfo.environment["ESPNOW_GATEWAY_WEB_DIR"], !d.isEmpty { dirs.append(d) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            dirs.append(dir.appendingPathComponent(bundleName).path)
            dirs.append(dir.deletingLastPathComponent().appendingPathComponent("share/espnow/\(bundleName)").path)
        }
        return dirs
    }

    static func load() -> Assets {
        var a = Assets()
        a.searched = bundleDirs()
        let fm = FileManager.default
        for dir in a.searched where fm.fileExists(atPath: dir) {
            let web = dir + "/Resources"
            if a.files.isEmpty, let names = fm.enumerator(atPath: web) {
                for case let name as String in names {
                    var isDir: ObjCBool = false
                    let path = web + "/" + name
                    guard fm.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                          let data = fm.contents(atPath: path) else { continue }
                    a.files[name] = File(bytes: ByteBuffer(bytes: data), contentType: contentType(name))
                }
            }
            if a.openAPI == nil, let data = fm.contents(atPath: dir + "/API/openapi.json") { a.openAPI = ByteBuffer(bytes: data) }
        }
        return a
    }

    static func contentType(_ name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "json": "application/json; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        case "txt": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    func missing(_ what: String) -> APIError {
        APIError(.notFound, "not_found", "\(what) is not installed with this binary (looked in \(searched.joined(separator: ", ")))")
    }

    func add(to router: Router<GatewayRequestContext>) {
        let page: @Sendable (String) throws -> Response = { name in
            guard let f = files[name] else {
                throw name == "index.html" ? missing("the dashboard") : APIError.notFound("no file \(name)")
            }
            var h: HTTPFields = [.contentType: f.contentType, .cacheControl: "no-cache"]
            if f.contentType.hasPrefix("text/html") {
                h[HTTPField.Name("Content-Security-Policy")!] = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
            }
            return Response(status: .ok, headers: h, body: .init(byteBuffer: f.bytes))
        }
        router.get("/") { _, _ in try page("index.html") }
        router.get("/index.html") { _, _ in try page("index.html") }
        router.get("/static/**") { _, c in try page(c.parameters.getCatchAll().joined(separator: "/")) }
        router.get("/openapi.json") { _, _ in
            guard let d = openAPI else { throw missing("openapi.json") }
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-cache"],
                            body: .init(byteBuffer: d))
        }
    }
}
