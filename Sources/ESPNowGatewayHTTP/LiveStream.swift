import ESPNowGateway
import ESPNowWire
import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore

/// One reading on its way to live clients: encoded once, shared by every client.
struct StreamEvent: Sendable {
    var node: MACAddress
    /// `{"type":"reading",...}`
    var json: String
}

/// Fans committed readings out to live clients (SSE and WebSocket). The gateway's writer
/// only hands each committed batch to a bounded inbox and returns; one task encodes each
/// reading once and offers it to every client's own bounded queue. A client that stalls
/// loses its oldest readings (counted, and told with a `dropped` event); nobody else waits.
final class LiveHub: Sendable {
    struct Client: Sendable {
        var filter: MACAddress?
        var queue: EventQueue<StreamEvent>
    }

    let clientBuffer: Int
    let clientBufferMax: Int
    private let clients = NIOLockedValueBox<[Int: Client]>([:])
    private let nextID = NIOLockedValueBox(0)
    private let count = NIOLockedValueBox(0)
    private let closed = NIOLockedValueBox(false)
    /// Drops of clients that have gone, so the total survives them.
    private let droppedByGone = NIOLockedValueBox(0)
    let inbox: EventQueue<[Ingest]>

    init(clientBuffer: Int, clientBufferMax: Int, inboxReadings: Int = 200_000) {
        self.clientBuffer = clientBuffer
        self.clientBufferMax = clientBufferMax
        inbox = EventQueue(capacity: inboxReadings)
    }

    /// Called on the gateway's writer: no encoding here, no waiting.
    func offer(_ batch: [Ingest]) {
        guard count.withLockedValue({ $0 }) > 0 else { return }
        inbox.push(batch, weight: batch.reduce(0) { $0 + $1.decoded.readings.count })
    }

    /// Runs until the hub is closed.
    func pump() async {
        while true {
            let items = await inbox.next(max: 64)
            if items.isEmpty { return }
            for item in items {
                switch item {
                case .dropped(let n):
                    for c in clients.withLockedValue({ Array($0.values) }) { c.queue.addGap(n) }
                case .event(let batch):
                    let targets = clients.withLockedValue { Array($0.values) }
                    guard !targets.isEmpty else { continue }
                    for i in batch {
                        for r in i.decoded.readings {
                            let e = StreamEvent(node: i.uplink.node, json: Self.encode(i, r))
                            for c in targets where c.filter == nil || c.filter == e.node { c.queue.push(e) }
                        }
                    }
                }
            }
        }
    }

    static func encode(_ i: Ingest, _ r: Reading) -> String {
        var o: [(String, JSONOut)] = [("type", .string("reading")), ("node", .string(i.uplink.node.description))]
        o += Render.time(i.uplink.hostTimeUs)
        o += [("field", .string(r.field)), ("value", Render.value(r))]
        if let u = r.unit { o.append(("unit", .string(u))) }
        o += [("rssi", .int(Int64(i.uplink.rssi))), ("channel", .int(Int64(i.uplink.channel))), ("dongle", .string(i.uplink.dongle))]
        return JSONOut.object(o).text
    }

    /// A new client's queue, or nil once the server is shutting down.
    func subscribe(filter: MACAddress?, buffer: Int) -> (Int, EventQueue<StreamEvent>)? {
        guard !closed.withLockedValue({ $0 }) else { return nil }
        let id = nextID.withLockedValue { n -> Int in
            n += 1
            return n
        }
        let q = EventQueue<StreamEvent>(capacity: buffer)
        clients.withLockedValue { $0[id] = Client(filter: filter, queue: q) }
        count.withLockedValue { $0 += 1 }
        return (id, q)
    }

    func unsubscribe(_ id: Int) {
        guard let c = clients.withLockedValue({ $0.removeValue(forKey: id) }) else { return }
        count.withLockedValue { $0 -= 1 }
        c.queue.finish()
        droppedByGone.withLockedValue { $0 += c.queue.totalDropped }
    }

    var clientCount: Int { count.withLockedValue { $0 } }

    /// Readings live clients missed (current and gone clients together).
    var dropped: Int {
        droppedByGone.withLockedValue { $0 } + clients.withLockedValue { $0.values.reduce(0) { $0 + $1.queue.totalDropped } }
    }

    /// Ends every stream (graceful shutdown: the server then finishes its responses).
    func close() {
        closed.withLockedValue { $0 = true }
        for c in clients.withLockedValue({ Array($0.values) }) { c.queue.finish() }
        inbox.finish()
    }

    // MARK: transports

    /// `?node=` and `?buffer=` of a stream request.
    func options(_ request: Request) throws -> (filter: MACAddress?, buffer: Int) {
        let q = try Query(request, allowed: ["node", "buffer"])
        let filter = try q.mac("node")
        guard let b = q.take("buffer") else { return (filter, clientBuffer) }
        guard let v = Int(b), (1...clientBufferMax).contains(v) else {
            throw APIError.badRequest("buffer: \"\(b)\" is out of range (1 to \(clientBufferMax) readings)")
        }
        return (filter, v)
    }

    /// `text/event-stream`: `event: reading` per reading, `event: dropped` after a gap.
    func sse(_ request: Request) throws -> Response {
        let (filter, buffer) = try options(request)
        guard let (id, q) = subscribe(filter: filter, buffer: buffer) else {
            throw APIError(.serviceUnavailable, "shutting_down", "the gateway is shutting down")
        }
        let body = ResponseBody { [self] writer in
            defer { unsubscribe(id) }
            // Sent at once so a client knows it is subscribed before the first reading.
            try await writer.write(ByteBuffer(string: ": subscribed\(filter.map { " to \($0)" } ?? "")\nretry: 3000\n\n"))
            while true {
                let items = await q.next()
                if items.isEmpty { break }
                var buf = ByteBuffer()
                for item in items {
                    switch item {
                    case .event(let e): buf.writeString("event: reading\ndata: \(e.json)\n\n")
                    case .dropped(let n): buf.writeString("event: dropped\ndata: {\"dropped\":\(n)}\n\n")
                    }
                }
                try await writer.write(buf)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
                                               .init("X-Accel-Buffering")!: "no"], body: body)
    }

    /// The same objects over a WebSocket, one text message each.
    func webSocket(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, filter: MACAddress?, buffer: Int) async throws {
        guard let (id, q) = subscribe(filter: filter, buffer: buffer) else { return }
        defer { unsubscribe(id) }
        // Reading what the client sends (and ignoring it) notices a close at once.
        let reader = Task {
            for try await _ in inbound {}
            q.finish()
        }
        defer { reader.cancel() }
        try await outbound.write(.text(#"{"type":"subscribed"\#(filter.map { #","node":"\#($0)""# } ?? "")}"#))
        while true {
            let items = await q.next()
            if items.isEmpty { break }
            for item in items {
                switch item {
                case .event(let e): try await outbound.write(.text(e.json))
                case .dropped(let n): try await outbound.write(.text(#"{"type":"dropped","dropped":\#(n)}"#))
                }
            }
        }
    }
}
