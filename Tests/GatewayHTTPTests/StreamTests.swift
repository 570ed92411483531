import AsyncHTTPClient
import ESPNowGateway
import ESPNowGatewayHTTP
import ESPNowWire
import Foundation
import HummingbirdWSClient
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Server-Sent Events as a client sees them (`event:` and `data:` lines, blank-line ended).
struct SSEParser {
    var pending = ""
    var events: [(event: String, data: String)] = []

    mutating func feed(_ text: String) {
        pending += text
        while let r = pending.range(of: "\n\n") {
            let block = pending[..<r.lowerBound]
            pending = String(pending[r.upperBound...])
            var event = "message", data: [Substring] = []
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) } else if line.hasPrefix("data: ") { data.append(line.dropFirst(6)) }
            }
            if !data.isEmpty { events.append((event, data.joined(separator: "\n"))) }
        }
    }
}

/// A client that sends its request and then reads nothing until told to: its socket's
/// receive buffer is made small so the server feels the stall soon.
final class StalledClient {
    let fd: Int32
    var raw = [UInt8]()

    init(port: Int, path: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw StoreError("connect: errno \(errno)") }
        let req = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".utf8)
        guard send(fd, req, req.count, 0) == req.count else { throw StoreError("send failed") }
    }

    deinit { close(fd) }

    /// Reads whatever has arrived (never blocks a thread: polls with short sleeps).
    func drain() async throws -> Bool {
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        let n = recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT))
        if n > 0 {
            raw += buf[0..<n]
            return true
        }
        if n == 0 { throw StoreError("the server closed the stalled client's stream") }
        try await Task.sleep(for: .milliseconds(5))
        return false
    }

    /// The body so far, with HTTP chunking removed (a partial last chunk is left out).
    var body: String {
        guard let end = raw.firstRange(of: Array("\r\n\r\n".utf8)) else { return "" }
        var i = end.upperBound
        var out = [UInt8]()
        while let lineEnd = raw[i...].firstRange(of: [13, 10]) {
            guard let size = Int(String(decoding: raw[i..<lineEnd.lowerBound], as: UTF8.self), radix: 16) else { break }
            let start = lineEnd.upperBound
            guard start + size + 2 <= raw.count else { break }
            out += raw[start..<start + size]
            i = start + size + 2
        }
        return String(decoding: out, as: UTF8.self)
    }
}

@Suite("Live stream")
struct StreamTests {
    static let t0: Int64 = 1_700_000_000_000_000
    static let fields = 20

    static func payload(_ i: Int) -> String { (0..<fields).map { "f\($0)=\(i)" }.joined(separator: " ") }

    /// Counts what one SSE client received, validating each event against the document.
    final class Listener: Sendable {
        struct Books {
            var readings = 0
            var dropped = 0
            var dropEvents = 0
            var lastTimeUs: Int64 = 0
            var ordered = true
            var problems: [String] = []
        }

        let books = NIOLockedValueBox(Books())
        let task: Task<Void, any Error>

        init(_ url: String, api: OpenAPIDocument, validateEvery: Int) {
            let books = books
            task = Task {
                let resp = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(600))
                guard resp.status == .ok else { throw StoreError("stream: \(resp.status)") }
                var parser = SSEParser()
                var n = 0
                for try await chunk in resp.body {
                    parser.feed(String(buffer: chunk))
                    let events = parser.events
                    parser.events.removeAll()
                    var problems: [String] = []
                    var parsed: [(String, JSON)] = []
                    for e in events {
                        let j = try JSON.parse(e.data)
                        n += 1
                        if n % validateEvery == 0 || e.event != "reading" {
                            problems += api.validate(j, api.schema(e.event == "reading" ? "StreamReading" : "StreamDropped"), "sse \(e.event)")
                        }
                        parsed.append((e.event, j))
                    }
                    books.withLockedValue { b in
                        b.problems += problems
                        for (event, j) in parsed {
                            if event == "reading" {
                                b.readings += 1
                                let t = j["timeUs"]?.int ?? 0
                                if t < b.lastTimeUs { b.ordered = false }
                                b.lastTimeUs = t
                            } else if event == "dropped" {
                                b.dropEvents += 1
                                b.dropped += Int(j["dropped"]?.int ?? 0)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One client stops reading; another keeps up. Ingest is not held back, the reader gets
    /// every reading, and the stalled client is told exactly how many it missed.
    @Test func stalledClientHoldsBackNobody() async throws {
        var http = GatewayHTTPConfig()
        http.streamBuffer = 64
        http.streamBufferMax = 100_000
        let h = try await GatewayHarness.start(http: http)
        try await withHarness(h) { h in
            let packets = 2000, total = packets * Self.fields
            let reader = Listener(h.base + "/api/stream?buffer=\(total)", api: h.api, validateEvery: 97)
            let stalled = try StalledClient(port: h.port, path: "/api/stream?buffer=64")
            try await eventually("both clients subscribed") {
                try await h.request(.GET, "/api/status").json?["streams"]?["clients"]?.int == 2
            }
            for i in 0..<packets { h.gateway.ingest(uplink(nodeA, Self.payload(i), at: Self.t0 + Int64(i) * 1000)) }
            // The stalled client has read nothing, yet everything is stored and streamed to the other.
            try await eventually("every packet stored") { h.gateway.stats.stored == Int64(packets) }
            try await eventually("the reading client got every reading") { reader.books.withLockedValue { $0.readings } == total }
            let r = reader.books.withLockedValue { $0 }
            #expect(r.dropped == 0 && r.dropEvents == 0)
            #expect(r.ordered)
            #expect(r.problems == [])
            #expect(h.gateway.stats.readings == Int64(total))

            // Now the stalled client reads: what it got plus what it was told it missed is all.
            var parser = SSEParser()
            var got = 0, missed = 0, drops = 0, lastT: Int64 = 0
            var ordered = true
            try await eventually("the stalled client's books balance") {
                while try await stalled.drain() {}
                parser = SSEParser()
                parser.feed(stalled.body)
                got = 0; missed = 0; drops = 0; lastT = 0; ordered = true
                for e in parser.events {
                    let j = try JSON.parse(e.data)
                    if e.event == "reading" {
                        got += 1
                        if let t = j["timeUs"]?.int { ordered = ordered && t >= lastT; lastT = t }
                    } else if e.event == "dropped" {
                        #expect(h.api.validate(j, h.api.schema("StreamDropped"), "dropped") == [])
                        drops += 1
                        missed += Int(j["dropped"]?.int ?? 0)
                    }
                }
                return got + missed == total
            }
            #expect(missed > 0 && drops >= 1)
            #expect(ordered)
            #expect(lastT == Self.t0 + Int64(packets - 1) * 1000)  // the newest reading reached it
            let status = try await h.request(.GET, "/api/status").json
            #expect(status?["streams"]?["dropped"]?.int == Int64(missed))
            #expect(status?["drops"]?["stream_client"]?.int == Int64(missed))
            print("stalled SSE client: \(got) readings delivered, \(missed) dropped in \(drops) gap(s); reading client: \(r.readings) of \(total)")
        }
    }

    /// The WebSocket carries the same objects with a type; `?node=` filters both transports.
    @Test func webSocketAndFilters() async throws {
        let h = try await GatewayHarness.start()
        try await withHarness(h) { h in
            let sse = Listener(h.base + "/api/stream?node=\(nodeB)", api: h.api, validateEvery: 1)
            let messages = NIOLockedValueBox<[JSON]>([])
            let ws = Task {
                _ = try await WebSocketClient.connect(url: .init("ws://127.0.0.1:\(h.port)/api/ws?node=\(nodeA)"), logger: Logger(label: "ws")) { inbound, _, _ in
                    var it = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                    while let m = try await it.next() {
                        guard case .text(let t) = m else { continue }
                        let j = try JSON.parse(t)
                        let n = messages.withLockedValue { $0.append(j); return $0.count }
                        if n == 1 + 3 * 5 { return }
                    }
                }
            }
            try await eventually("both clients subscribed") {
                try await h.request(.GET, "/api/status").json?["streams"]?["clients"]?.int == 2
            }
            for i in 0..<5 {
                h.gateway.ingest(uplink(nodeA, "t=\(i) h=1 n=\(i)", at: Self.t0 + Int64(i) * 1000))
                h.gateway.ingest(uplink(nodeB, "door=open n=\(i)", at: Self.t0 + Int64(i) * 1000 + 1))
            }
            try await ws.value
            let got = messages.withLockedValue { $0 }
            #expect(h.api.validate(got[0], h.api.schema("StreamSubscribed"), "ws") == [])
            #expect(got[0]["node"]?.string == nodeA.description)
            for m in got.dropFirst() { #expect(h.api.validate(m, h.api.schema("StreamReading"), "ws") == []) }
            #expect(got.dropFirst().allSatisfy { $0["node"]?.string == nodeA.description && $0["type"]?.string == "reading" })
            #expect(got.dropFirst().compactMap { $0["field"]?.string } == Array((0..<5).map { _ in ["t", "h", "n"] }.joined()))
            try await eventually("the SSE client got node B's 10 readings") { sse.books.withLockedValue { $0.readings } == 10 }
            #expect(sse.books.withLockedValue { $0.problems } == [])
            let bad = try await h.request(.GET, "/api/stream?node=zz")
            #expect(bad.status == 400)
            let big = try await h.request(.GET, "/api/stream?buffer=1000000")
            #expect(big.status == 400 && big.body.contains("buffer"))
        }
    }
}
