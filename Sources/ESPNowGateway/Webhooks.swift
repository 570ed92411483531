import AsyncHTTPClient
import Crypto
import DequeModule
import ESPNowWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// One `[[webhook]]` of the configuration: where committed readings are POSTed.
public struct WebhookConfig: Sendable, Hashable {
    public enum Batching: String, Sendable, Hashable {
        /// One body per reading.
        case reading
        /// One body per node and committed batch, with that node's readings.
        case node
    }

    public var url: String
    /// Signs every body (HMAC-SHA256, header `X-Espnow-Signature: sha256=<hex>`); nil: unsigned.
    public var secret: String?
    public var batching: Batching = .reading
    /// Attempts after the first before a body is given up (counted as failed).
    public var maxRetries: Int = 5
    /// Bodies waiting for this endpoint; past it new ones are dropped (counted).
    public var queueCapacity: Int = 10_000
    /// First wait before a retry; doubles per attempt up to `maxBackoffUs`.
    public var backoffUs: Int64 = 500_000
    public var maxBackoffUs: Int64 = 60_000_000
    /// Per request (connect + answer).
    public var timeoutUs: Int64 = 10_000_000
    /// Names the webhook in metrics and logs (default: the URL's host, port and path).
    public var name: String?

    public init(url: String, secret: String? = nil, batching: Batching = .reading, maxRetries: Int = 5) {
        self.url = url
        self.secret = secret
        self.batching = batching
        self.maxRetries = maxRetries
    }

    /// The name used in metrics: never the query or user info (they may hold credentials).
    public var displayName: String {
        if let name { return name }
        guard let u = URLComponents(string: url), let host = u.host else { return "webhook" }
        return host + (u.port.map { ":\($0)" } ?? "") + u.path
    }
}

/// A webhook's books. Every body offered ends up in exactly one of delivered, failed,
/// dropped, or is still queued / in flight.
public struct WebhookStats: Sendable, Hashable {
    public var offered: Int64 = 0
    public var delivered: Int64 = 0
    /// Attempts that failed and were retried.
    public var retries: Int64 = 0
    /// Bodies given up after `maxRetries` retries, or refused by the endpoint (4xx).
    public var failed: Int64 = 0
    /// Bodies dropped because the queue was full, or still queued at shutdown.
    public var dropped: Int64 = 0
    public var queued: Int = 0
    public var inFlight: Int = 0
}

/// POSTs committed readings to one URL from its own task: the writer only appends to a
/// bounded queue (never waits for the network); failures retry with exponential back-off.
/// Delivery is at least once (a lost answer repeats a body; `X-Espnow-Delivery` names each
/// body so that a receiver can tell).
public final class WebhookSender: Sendable {
    enum Pending: Sendable {
        case reading(Ingest, Int)
        case node([Ingest])
    }

    private struct State {
        var queue = Deque<Pending>()
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        var stats = WebhookStats()
        var nextID: UInt64 = 0
        /// Drops not yet logged, and when the last log line about them was written.
        var unloggedDrops: Int64 = 0
        var lastDropLogNs: UInt64 = 0
    }

    public let config: WebhookConfig
    public let name: String
    let gatewayID: String
    let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let key: SymmetricKey?

    public init(config: WebhookConfig, gatewayID: String, logger: Logger = Logger(label: "espnow.gateway.webhook")) {
        self.config = config
        self.name = config.displayName
        self.gatewayID = gatewayID
        self.logger = logger
        key = config.secret.map { SymmetricKey(data: Array($0.utf8)) }
    }

    public var stats: WebhookStats {
        state.withLockedValue { s in
            var r = s.stats
            r.queued = s.queue.count
            return r
        }
    }

    /// Queues the batch's readings (one body per reading, or per node); drops what does not
    /// fit. Packets without readings (raw, decode errors) send nothing.
    public func offer(_ batch: [Ingest]) {
        var items: [Pending] = []
        switch config.batching {
        case .reading:
            for i in batch { for r in i.decoded.readings.indices { items.append(.reading(i, r)) } }
        case .node:
            var order: [MACAddress] = []
            var byNode: [MACAddress: [Ingest]] = [:]
            for i in batch where !i.decoded.readings.isEmpty {
                if byNode[i.uplink.node] == nil { order.append(i.uplink.node) }
                byNode[i.uplink.node, default: []].append(i)
            }
            items = order.map { .node(byNode[$0]!) }
        }
        guard !items.isEmpty else { return }
        let now = monotonicNs()
        let (w, report) = state.withLockedValue { s -> (CheckedContinuation<Void, Never>?, Int64) in
            s.stats.offered += Int64(items.count)
            let room = s.finished ? 0 : max(0, config.queueCapacity - s.queue.count)
            s.queue.append(contentsOf: items.prefix(room))
            let lost = Int64(items.count - min(room, items.count))
            s.stats.dropped += lost
            s.unloggedDrops += lost
            // At most one log line every 10 s (the count is in the stats and metrics anyway).
            var report: Int64 = 0
            if s.unloggedDrops > 0, s.lastDropLogNs == 0 || now - s.lastDropLogNs >= 10_000_000_000 {
                report = s.unloggedDrops
                s.unloggedDrops = 0
                s.lastDropLogNs = now
            }
            defer { s.waiter = nil }
            return (s.waiter, report)
        }
        w?.resume()
        if report > 0 { logger.warning("webhook \(name): queue full, dropped \(report) body(ies)") }
    }

    /// No more bodies: `run` returns once the queue is empty (or when cancelled).
    func finish() {
        let w = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }

    private func next() async -> Pending? {
        while true {
            if Task.isCancelled { return nil }
            let r: Pending?? = state.withLockedValue { s -> Pending?? in
                if let p = s.queue.popFirst() {
                    s.stats.inFlight = 1
                    return .some(p)
                }
                return s.finished ? .some(nil) : nil
            }
            if let r { return r }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = state.withLockedValue { s -> Bool in
                        if !s.queue.isEmpty || s.finished || Task.isCancelled { return true }
                        s.waiter = c
                        return false
                    }
                    if now { c.resume() }
                }
            } onCancel: {
                state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
                    defer { s.waiter = nil }
                    return s.waiter
                }?.resume()
            }
        }
    }

    /// Sends until finished and drained, or cancelled (what is left is counted as dropped).
    public func run(client: HTTPClient = .shared) async {
        while let item = await next() {
            let body = encode(item)
            let id = state.withLockedValue { s -> UInt64 in
                s.nextID += 1
                return s.nextID
            }
            let outcome = await deliver(body, id: "\(gatewayID)-\(id)", client: client)
            state.withLockedValue { s in
                s.stats.inFlight = 0
                switch outcome {
                case .delivered: s.stats.delivered += 1
                case .failed: s.stats.failed += 1
                case .cancelled: s.stats.dropped += 1
                }
            }
        }
        let left = state.withLockedValue { s -> Int in
            defer { s.queue.removeAll() }
            s.stats.dropped += Int64(s.queue.count)
            return s.queue.count
        }
        if left > 0 { logger.warning("webhook \(name): \(left) body(ies) not sent at shutdown") }
    }

    enum Outcome { case delivered, failed, cancelled }

    private func deliver(_ body: [UInt8], id: String, client: HTTPClient) async -> Outcome {
        var request = HTTPClientRequest(url: config.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "espnow-gateway")
        request.headers.add(name: "X-Espnow-Delivery", value: id)
        if let key {
            request.headers.add(name: "X-Espnow-Signature", value: "sha256=" + Self.hex(HMAC<SHA256>.authenticationCode(for: body, using: key)))
        }
        request.body = .bytes(body)
        var attempt = 0
        while true {
            let problem: String
            var permanent = false
            do {
                let response = try await client.execute(request, timeout: .microseconds(config.timeoutUs))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                let code = response.status.code
                if (200..<300).contains(code) { return .delivered }
                problem = "HTTP \(code)"
                // The endpoint refuses the body itself: sending it again cannot help.
                permanent = (400..<500).contains(code) && code != 408 && code != 429
            } catch {
                if Task.isCancelled { return .cancelled }
                problem = "\(error)"
            }
            if permanent || attempt >= config.maxRetries {
                logger.warning("webhook \(name): giving up on \(id) after \(attempt + 1) attempt(s): \(problem)")
                return .failed
            }
            state.withLockedValue { $0.stats.retries += 1 }
            let wait = min(config.maxBackoffUs, config.backoffUs << min(attempt, 30))
            attempt += 1
            do {
                try await Task.sleep(for: .microseconds(wait))
            } catch {
                return .cancelled
            }
        }
    }

    static func hex<D: Sequence>(_ d: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in d { out += [digits[Int(b >> 4)], digits[Int(b & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ mac: HashedAuthenticationCode<SHA256>) -> String { hex(Array(mac)) }

    // MARK: bodies

    func encode(_ p: Pending) -> [UInt8] {
        var j = JSONWriter()
        switch p {
        case .reading(let i, let r):
            j.open()
            j.field("gateway", string: i.gateway)
            j.field("node", string: i.uplink.node.description)
            Self.readingFields(&j, i, i.decoded.readings[r])
            j.field("rssi", number: Double(i.uplink.rssi))
            j.field("channel", number: Double(i.uplink.channel))
            j.close()
        case .node(let list):
            let first = list[0]
            j.open()
            j.field("gateway", string: first.gateway)
            j.field("node", string: first.uplink.node.description)
            j.field("rssi", number: Double(list.last!.uplink.rssi))
            j.field("channel", number: Double(list.last!.uplink.channel))
            j.openArray("readings")
            for i in list {
                for r in i.decoded.readings {
                    j.open()
                    Self.readingFields(&j, i, r)
                    j.close()
                }
            }
            j.closeArray()
            j.close()
        }
        return j.bytes
    }

    static func readingFields(_ j: inout JSONWriter, _ i: Ingest, _ r: Reading) {
        j.field("time", string: isoTime(i.uplink.hostTimeUs))
        j.field("timeUs", number: Double(i.uplink.hostTimeUs))
        j.field("field", string: r.field)
        if let v = r.value { j.field("value", number: v) } else { j.field("value", null: ()) }
        if let t = r.text { j.field("text", string: t) }
        if let u = r.unit { j.field("unit", string: u) }
        if let s = i.decoded.seq { j.field("seq", number: Double(s)) }
    }
}

/// ISO-8601 UTC with microseconds, e.g. `2026-11-30T13:05:01.123456Z`.
func isoTime(_ us: Int64) -> String {
    var secs = time_t(us >= 0 ? us / 1_000_000 : (us - 999_999) / 1_000_000)
    let frac = Int(us - Int64(secs) * 1_000_000)
    var t = tm()
    gmtime_r(&secs, &t)
    func pad(_ v: Int32, _ w: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, w - s.count)) + s
    }
    let f = String(frac)
    return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2))."
        + String(repeating: "0", count: 6 - f.count) + f + "Z"
}

/// A small JSON object writer: strings escaped per RFC 8259, non-finite numbers as null.
struct JSONWriter {
    var bytes: [UInt8] = []
    private var needsComma = false

    /// An object (in an array: after a comma when it is not the first).
    mutating func open() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func openArray(_ k: String) {
        key(k)
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    mutating func closeArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    mutating func close() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func key(_ k: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        string(k)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func field(_ k: String, string s: String) {
        key(k)
        string(s)
        needsComma = true
    }

    mutating func field(_ k: String, number v: Double) {
        key(k)
        if !v.isFinite {
            bytes += Array("null".utf8)
        } else if v == v.rounded(), abs(v) < 1e15 {
            bytes += Array(String(Int64(v)).utf8)
        } else {
            bytes += Array("\(v)".utf8)
        }
        needsComma = true
    }

    mutating func field(_ k: String, null: Void) {
        key(k)
        bytes += Array("null".utf8)
        needsComma = true
    }

    private mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for u in s.unicodeScalars {
            switch u {
            case "\"": bytes += [0x5C, 0x22]
            case "\\": bytes += [0x5C, 0x5C]
            case "\n": bytes += [0x5C, UInt8(ascii: "n")]
            case "\r": bytes += [0x5C, UInt8(ascii: "r")]
            case "\t": bytes += [0x5C, UInt8(ascii: "t")]
            case _ where u.value < 0x20:
                bytes += Array(String(format: "\\u%04x", u.value).utf8)
            default:
                bytes += Array(String(u).utf8)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension Gateway {
    /// After the last commit: lets each webhook send what is queued for a short grace
    /// period, then cancels it (what is left is counted as dropped).
    func stopWebhooks(_ tasks: [Task<Void, Never>]) async {
        guard !tasks.isEmpty else { return }
        for w in webhooks { w.finish() }
        let grace = config.webhookGraceUs
        let killer = Task {
            try? await Task.sleep(for: .microseconds(grace))
            for t in tasks { t.cancel() }
        }
        for t in tasks { await t.value }
        killer.cancel()
    }
}
