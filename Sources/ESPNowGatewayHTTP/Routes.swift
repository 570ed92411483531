import ESPNowGateway
import ESPNowWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The REST endpoints (docs/GATEWAY.md "HTTP API"; Resources/openapi.json is their contract).
struct APIRoutes: Sendable {
    let gateway: Gateway
    let store: any GatewayQueries
    let config: GatewayHTTPConfig
    let hub: LiveHub
    let version: String

    static let maxLimit = 10_000

    func add(to router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in json(.object([("status", .string("ok"))])) }
        router.get("/readyz") { _, _ in try await ready() }
        router.get("/api/status") { _, _ in try await status() }
        router.get("/api/nodes") { r, _ in _ = try Query(r, allowed: []); return try await nodes() }
        router.get("/api/nodes/{mac}") { _, c in try await node(try mac(c)) }
        router.patch("/api/nodes/{mac}") { r, c in try await patchNode(try mac(c), r) }
        router.get("/api/readings") { r, _ in try await readings(r) }
        router.get("/api/packets") { r, _ in try await packets(r) }
        router.post("/api/nodes/{mac}/downlinks") { r, c in try await queueDownlink(try mac(c), r) }
        router.get("/api/nodes/{mac}/downlinks") { r, c in try await downlinks(try mac(c), r) }
        router.get("/api/downlinks/{id}") { _, c in try await downlink(c) }
    }

    // MARK: helpers

    func json(_ v: JSONOut, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json; charset=utf-8"
        h[.cacheControl] = "no-store"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: v.text)))
    }

    func mac(_ c: GatewayRequestContext) throws -> MACAddress {
        let s = c.parameters.get("mac") ?? ""
        guard let m = MACAddress(s) else { throw APIError.badRequest("\"\(s)\" is not a MAC address (aa:bb:cc:dd:ee:ff)") }
        return m
    }

    /// The request body as a JSON object, within the size limit.
    func body(_ r: Request) async throws -> [String: Any] {
        let buf: ByteBuffer
        do {
            buf = try await r.body.collect(upTo: config.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too_large", "the request body is larger than \(config.maxBodyBytes) bytes")
        }
        guard buf.readableBytes > 0 else { throw APIError.badRequest("the request needs a JSON object body") }
        guard let o = (try? JSONSerialization.jsonObject(with: Data(buf.readableBytesView))) as? [String: Any] else {
            throw APIError.badRequest("the request body is not a JSON object")
        }
        return o
    }

    // MARK: health and status

    func ready() async throws -> Response {
        do {
            try await store.ping()
            return json(.object([("status", .string("ready"))]))
        } catch {
            let e: JSONOut = .object([("code", .string("database")), ("message", .string("the \(store.kind) database does not answer"))])
            return json(.object([("status", .string("not_ready")), ("error", e)]), status: .serviceUnavailable)
        }
    }

    func status() async throws -> Response {
        let s = gateway.stats
        let dongles: [JSONOut] = s.dongles.values.sorted { $0.port < $1.port }.map { d in
            var o: [(String, JSONOut)] = [("port", .string(d.port)), ("connected", .bool(d.connected))]
            if let m = d.mac { o.append(("mac", .string(m))) }
            if let c = d.channel { o.append(("channel", .int(c))) }
            if let n = d.note { o.append(("note", .string(n))) }
            return .object(o)
        }
        var drops = s.drops
        drops["stream_client", default: 0] += Int64(hub.dropped)
        let counters: JSONOut = .object([
            ("received", .int(s.received)), ("stored", .int(s.stored)), ("duplicates", .int(s.duplicates)),
            ("readings", .int(s.readings)), ("decodeErrors", .int(s.decodeErrors)),
            ("downlinksDelivered", .int(s.downlinksDelivered)), ("downlinkFailedAttempts", .int(s.downlinksFailedAttempts)),
        ])
        return json(.object([
            ("gatewayId", .string(gateway.config.gatewayID)), ("version", .string(version)), ("dongles", .array(dongles)),
            ("counters", counters), ("drops", .object(drops.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
            ("queueDepth", .int(s.queueDepth)), ("spoolDepth", .int(s.spoolDepth)),
            ("database", .object([("kind", .string(store.kind)), ("up", .bool(s.databaseUp))])),
            ("streams", .object([("clients", .int(hub.clientCount)), ("dropped", .int(hub.dropped))])),
        ]))
    }

    // MARK: nodes

    func renderNodes(_ records: [NodeRecord]) async throws -> [JSONOut] {
        let keyed = try await store.nodesWithLMK()
        let drops = try await store.dropsByNode()
        var out: [JSONOut] = []
        for n in records {
            let last = try await store.latestReadings(node: n.mac, scan: 64).newestPerField()
            out.append(Render.node(n, hasLMK: keyed.contains(n.mac), drops: drops[n.mac] ?? 0,
                                   decoder: gateway.decoderKind(for: n.mac).description, last: last))
        }
        return out
    }

    func nodes() async throws -> Response {
        json(.object([("nodes", .array(try await renderNodes(try await store.nodes())))]))
    }

    func node(_ mac: MACAddress) async throws -> Response {
        guard let n = try await store.nodes().first(where: { $0.mac == mac }) else { throw APIError.notFound("no node \(mac)") }
        return json(try await renderNodes([n])[0])
    }

    func patchNode(_ mac: MACAddress, _ r: Request) async throws -> Response {
        let o = try await body(r)
        let unknown = Set(o.keys).subtracting(["name", "decoder", "lmk"])
        guard unknown.isEmpty else {
            throw APIError.badRequest("unknown field(s) \(unknown.sorted().joined(separator: ", ")); a node takes name, decoder, lmk")
        }
        guard !o.isEmpty else { throw APIError.badRequest("nothing to change: give name, decoder and/or lmk") }
        var name: String?
        var decoder: DecoderKind?
        var lmk: [UInt8]?
        if let v = o["name"] {
            guard let s = v as? String, (1...64).contains(s.count), !s.contains(where: { $0.isNewline || ($0.asciiValue ?? 32) < 32 }) else {
                throw APIError.badRequest("name must be a string of 1 to 64 characters without control characters")
            }
            name = s
        }
        if let v = o["decoder"] {
            guard let s = v as? String, let k = DecoderKind(s) else {
                throw APIError.badRequest("decoder must be one of auto, raw, text, json, cayenne, fdrs, layout:NAME")
            }
            if case .layout(let l) = k, gateway.config.decoder.layouts[l] == nil {
                throw APIError.badRequest("decoder layout:\(l) names no layout in this gateway's configuration")
            }
            decoder = k
        }
        if let v = o["lmk"] {
            // The value itself never appears in a message or a log.
            guard let s = v as? String, let b = Hex.decode(s), b.count == 16 else {
                throw APIError.badRequest("lmk must be 16 bytes written as 32 hex digits")
            }
            lmk = b
        }
        do {
            try await gateway.updateNode(mac, name: name, decoder: decoder, lmk: lmk)
        } catch let e as StoreError {
            throw APIError(.serviceUnavailable, "not_applied", e.description)
        }
        return try await node(mac)
    }

    // MARK: readings and packets

    func readings(_ r: Request) async throws -> Response {
        let q = try Query(r, allowed: ["node", "field", "from", "to", "limit", "cursor", "format", "order"])
        let format = try q.choice("format", ["json", "csv"]) ?? "json"
        var rq = ReadingQuery(node: try q.mac("node"), field: try q.field("field"), fromUs: try q.time("from"), toUs: try q.time("to"),
                              limit: try q.limit(), after: try q.cursor(), ascending: try q.choice("order", ["asc", "desc"]) == "asc")
        try Self.checkRange(rq.fromUs, rq.toUs)
        let limit = rq.limit
        rq.limit += 1
        var rows = try await store.queryReadings(rq)
        let next = rows.count > limit ? rows[limit - 1].cursor : nil
        rows = Array(rows.prefix(limit))
        if format == "csv" {
            var s = "node,time,timeUs,field,value,unit\n"
            for x in rows {
                let v = x.reading.value.map { JSONOut.double($0).text } ?? Self.csv(x.reading.text ?? "")
                s += "\(x.node),\(APITime.iso(x.timeUs)),\(x.timeUs),\(Self.csv(x.reading.field)),\(v),\(Self.csv(x.reading.unit ?? ""))\n"
            }
            var h: HTTPFields = [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-store"]
            if let next { h[.init("X-Next-Cursor")!] = next.description }
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: s)))
        }
        var o: [(String, JSONOut)] = [("readings", .array(rows.map(Render.reading)))]
        if let next { o.append(("nextCursor", .string(next.description))) }
        return json(.object(o))
    }

    func packets(_ r: Request) async throws -> Response {
        let q = try Query(r, allowed: ["node", "from", "to", "limit", "cursor", "order"])
        var pq = PacketQuery(node: try q.mac("node"), fromUs: try q.time("from"), toUs: try q.time("to"), limit: try q.limit(),
                             after: try q.cursor(), ascending: try q.choice("order", ["asc", "desc"]) == "asc")
        try Self.checkRange(pq.fromUs, pq.toUs)
        let limit = pq.limit
        pq.limit += 1
        var rows = try await store.queryPackets(pq)
        let next = rows.count > limit ? PageCursor(timeUs: rows[limit - 1].hostTimeUs, id: rows[limit - 1].id) : nil
        rows = Array(rows.prefix(limit))
        var o: [(String, JSONOut)] = [("packets", .array(rows.map(Render.packet)))]
        if let next { o.append(("nextCursor", .string(next.description))) }
        return json(.object(o))
    }

    static func checkRange(_ from: Int64?, _ to: Int64?) throws {
        if let f = from, let t = to, f >= t { throw APIError.badRequest("from (\(APITime.iso(f))) must be before to (\(APITime.iso(t)))") }
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break.
    static func csv(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: downlinks

    func queueDownlink(_ mac: MACAddress, _ r: Request) async throws -> Response {
        let o = try await body(r)
        let unknown = Set(o.keys).subtracting(["text", "hex"])
        guard unknown.isEmpty else { throw APIError.badRequest("unknown field(s) \(unknown.sorted().joined(separator: ", ")); give text or hex") }
        let payload: [UInt8]
        switch (o["text"], o["hex"]) {
        case (let t?, nil):
            guard let s = t as? String else { throw APIError.badRequest("text must be a string") }
            payload = Array(s.utf8)
        case (nil, let h?):
            guard let s = h as? String, let b = Hex.decode(s) else { throw APIError.badRequest("hex must be a string of hex digits") }
            payload = b
        case (nil, nil): throw APIError.badRequest("give the message as text or hex")
        default: throw APIError.badRequest("give text or hex, not both")
        }
        guard (1...1470).contains(payload.count) else { throw APIError.badRequest("a downlink is 1 to 1470 bytes, not \(payload.count)") }
        let id = try await gateway.queueDownlink(node: mac, payload: payload)
        guard let d = try await store.downlink(id: id) else { throw APIError.notFound("downlink \(id) vanished") }
        return json(Render.downlink(d), status: .created, headers: [.location: "/api/downlinks/\(id)"])
    }

    func downlinks(_ mac: MACAddress, _ r: Request) async throws -> Response {
        let q = try Query(r, allowed: ["limit"])
        let limit = try q.limit(default: 50, max: 1000)
        let list = try await store.downlinks(node: mac, limit: limit)
        return json(.object([("downlinks", .array(list.map(Render.downlink)))]))
    }

    func downlink(_ c: GatewayRequestContext) async throws -> Response {
        let s = c.parameters.get("id") ?? ""
        guard let id = Int64(s), id > 0 else { throw APIError.badRequest("\"\(s)\" is not a downlink id (a positive integer)") }
        guard let d = try await store.downlink(id: id) else { throw APIError.notFound("no downlink \(id)") }
        return json(Render.downlink(d))
    }
}

/// Query parameters, checked one by one with errors that name the parameter; unknown ones
/// are refused (a typo must not silently widen a query).
struct Query {
    var params: [String: String] = [:]

    init(_ r: Request, allowed: Set<String>) throws {
        for (k, v) in r.uri.queryParameters {
            let key = String(k)
            guard allowed.contains(key) || key == "access_token" else {
                throw APIError.badRequest("unknown parameter \"\(key)\"" + (allowed.isEmpty ? "" : " (known: \(allowed.sorted().joined(separator: ", ")))"))
            }
            guard params[key] == nil else { throw APIError.badRequest("parameter \"\(key)\" is given twice") }
            params[key] = String(v)
        }
    }

    func take(_ k: String) -> String? { params[k] }

    func mac(_ k: String) throws -> MACAddress? {
        guard let s = take(k) else { return nil }
        guard let m = MACAddress(s) else { throw APIError.badRequest("\(k): \"\(s)\" is not a MAC address (aa:bb:cc:dd:ee:ff)") }
        return m
    }

    func field(_ k: String) throws -> String? {
        guard let s = take(k) else { return nil }
        guard (1...64).contains(s.count) else { throw APIError.badRequest("\(k) must be 1 to 64 characters") }
        return s
    }

    func time(_ k: String) throws -> Int64? {
        guard let s = take(k) else { return nil }
        guard let t = APITime.parse(s) else {
            throw APIError.badRequest("\(k): \"\(s)\" is not a time (ISO-8601 with a zone, e.g. 2026-11-30T12:00:00Z, or microseconds since 1970)")
        }
        return t
    }

    func limit(default d: Int = 100, max m: Int = APIRoutes.maxLimit) throws -> Int {
        guard let s = take("limit") else { return d }
        guard let v = Int(s), (1...m).contains(v) else { throw APIError.badRequest("limit: \"\(s)\" is out of range (1 to \(m))") }
        return v
    }

    func cursor() throws -> PageCursor? {
        guard let s = take("cursor") else { return nil }
        guard let c = PageCursor(s) else { throw APIError.badRequest("cursor: \"\(s)\" is not a cursor this API gave out (nextCursor)") }
        return c
    }

    func choice(_ k: String, _ options: [String]) throws -> String? {
        guard let s = take(k) else { return nil }
        guard options.contains(s) else { throw APIError.badRequest("\(k) must be \(options.joined(separator: " or ")), not \"\(s)\"") }
        return s
    }
}
