import ESPNowSerial
import ESPNowWire
import NIOConcurrencyHelpers
import NIOCore

/// What a client's DROPPED events count (section 7.5's `what`).
enum DropKind: UInt8 {
    case packets = 1
    case events = 2
    case logs = 3
}

/// Counters of one client (also summed into ``BrokerCounters``).
public struct ClientCounters: Sendable, Hashable {
    /// Link-level drops of the client's frames, and frames delivered.
    public var link = LinkCounters()
    public var requests: UInt64 = 0
    public var replayed: UInt64 = 0
    public var busy: UInt64 = 0
    public var refused: UInt64 = 0
    /// Events not queued for this client because its queue was full, by `what`.
    public var droppedPackets: UInt64 = 0
    public var droppedEvents: UInt64 = 0
    public var droppedLogs: UInt64 = 0
    public init() {}
}

/// One client's host session with the broker (PROTOCOL.md "Multiplexing"): its own ids,
/// window and replay window, and a bounded queue of events towards it. Responses are never
/// dropped (the window bounds them); events beyond the queue limit are dropped, counted and
/// reported to this client alone by DROPPED events once its queue has drained.
final class ClientSession: Sendable {
    let number: UInt64
    let channel: any Channel
    let window: Int
    let eventLimit: Int

    struct Replayed {
        var id: UInt16
        var crc: UInt32
        var wire: ByteBuffer?
    }

    struct State {
        var authenticated: Bool
        var keepPeers = false
        /// BROKER_FILTER: the senders whose packets this client gets (nil: everyone's).
        var sources: Set<MACAddress>?
        var closed = false
        /// Unanswered requests: id → request CRC.
        var inFlight: [UInt16: UInt32] = [:]
        /// The replay window (section 8): slot `id mod R` holds the last executed request
        /// with such an id, its CRC and, once answered, its response.
        var slots: [Replayed?]
        var queuedEvents = 0
        /// Drops not yet reported, and totals since the client connected, by `what`.
        var unreported: [UInt8: UInt32] = [:]
        var totals: [UInt8: UInt32] = [:]
        var counters = ClientCounters()
    }

    let state: NIOLockedValueBox<State>

    init(number: UInt64, channel: any Channel, window: Int, eventLimit: Int, authenticated: Bool) {
        self.number = number
        self.channel = channel
        self.window = window
        self.eventLimit = eventLimit
        var r = 1
        while r < 2 * window { r <<= 1 }
        replayWindow = r
        state = NIOLockedValueBox(State(authenticated: authenticated, slots: Array(repeating: nil, count: r)))
    }

    /// R: 2·W rounded up to a power of two, as a dongle's.
    let replayWindow: Int

    var authenticated: Bool { state.withLockedValue { $0.authenticated && !$0.closed } }
    var keepPeers: Bool { state.withLockedValue { $0.keepPeers } }
    var counters: ClientCounters { state.withLockedValue { $0.counters } }

    // MARK: Requests

    enum Admission { case admit, replay(ByteBuffer), duplicate, busy, stale }

    /// Section 8's window, replay window and sessions, applied to this client: a HELLO
    /// starts a new session (the remembered ids are forgotten), an identical copy of an
    /// answered request gets the remembered response, a copy of one in progress nothing
    /// more, a copy the window no longer covers STALE; beyond the window, BUSY.
    func admit(id: UInt16, crc: UInt32, startsSession: Bool = false) -> Admission {
        state.withLockedValue { s in
            s.counters.requests += 1
            let slot = Int(id) % replayWindow
            if let r = s.slots[slot] {
                if r.id == id && r.crc == crc {
                    guard let wire = r.wire else { return .duplicate }
                    s.counters.replayed += 1
                    return .replay(wire)
                }
                if !startsSession && r.id != id && Int16(bitPattern: r.id &- id) > 0 { return .stale }
                if r.wire == nil && r.id != id {
                    s.counters.busy += 1
                    return .busy
                }
            }
            guard s.inFlight.count < window else {
                s.counters.busy += 1
                return .busy
            }
            if startsSession {
                for i in s.slots.indices where s.slots[i]?.wire != nil { s.slots[i] = nil }
            }
            s.inFlight[id] = crc
            s.slots[slot] = Replayed(id: id, crc: crc, wire: nil)
            return .admit
        }
    }

    /// Answers request `id` (admitted before) with `err` and, when OK, `outputs`.
    func respond(id: UInt16, code: UInt8, err: ESPError, outputs: [String: FieldValue] = [:]) {
        var body: [UInt8] = []
        if err == .ok, let layout = MessageLayout.find(kind: .response, code: code) {
            var f = outputs
            f["err"] = .int(0)
            if (try? layout.encodeBody(f, into: &body)) == nil {
                body = Self.errBody(.fail)
            }
        } else {
            body = Self.errBody(err == .ok ? .ok : err)
        }
        guard let wire = try? FrameEncoding.encode(Frame(kind: .response, id: id, code: code, body: body),
                                                   allocator: channel.allocator) else { return }
        let send = state.withLockedValue { s -> Bool in
            if let crc = s.inFlight.removeValue(forKey: id) {
                let slot = Int(id) % replayWindow
                if s.slots[slot]?.id == id { s.slots[slot] = Replayed(id: id, crc: crc, wire: wire) }
            }
            if err == .bridgeRefused { s.counters.refused += 1 }
            return !s.closed
        }
        if send { channel.writeAndFlush(wire, promise: nil) }
    }

    /// An answer outside the window (BUSY, a framing-level reject of an unadmitted id).
    func respondUnrecorded(id: UInt16, code: UInt8, err: ESPError) {
        guard let wire = try? FrameEncoding.encode(Frame(kind: .response, id: id, code: code, body: Self.errBody(err)),
                                                   allocator: channel.allocator) else { return }
        channel.writeAndFlush(wire, promise: nil)
    }

    func resend(_ wire: ByteBuffer) { channel.writeAndFlush(wire, promise: nil) }

    static func errBody(_ e: ESPError) -> [UInt8] {
        let v = UInt32(bitPattern: e.rawValue)
        return [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v >> 16),
                UInt8(truncatingIfNeeded: v >> 24)]
    }

    // MARK: Events

    /// Queues an event frame (already encoded, shared between clients). `kind` nil: never
    /// dropped (HELLO, the broker's own notices). `source`: a received packet's sender,
    /// which this client's filter may leave out (not a drop: the client asked for it).
    /// Returns false when it was not queued.
    @discardableResult
    func send(event wire: ByteBuffer, kind: DropKind?, source: MACAddress? = nil) -> Bool {
        let ok = state.withLockedValue { s -> Bool in
            guard !s.closed, s.authenticated else { return false }
            if let src = source, let wanted = s.sources, !wanted.contains(src) { return false }
            if let k = kind, s.queuedEvents >= eventLimit {
                s.unreported[k.rawValue, default: 0] &+= 1
                s.totals[k.rawValue, default: 0] &+= 1
                switch k {
                case .packets: s.counters.droppedPackets += 1
                case .events: s.counters.droppedEvents += 1
                case .logs: s.counters.droppedLogs += 1
                }
                return false
            }
            s.queuedEvents += 1
            return true
        }
        guard ok else { return false }
        let p = channel.eventLoop.makePromise(of: Void.self)
        p.futureResult.whenComplete { [self] _ in written() }
        channel.writeAndFlush(wire, promise: p)
        return true
    }

    /// One queued event left (or failed): report drops once the queue is half empty.
    private func written() {
        let reports = state.withLockedValue { s -> [(UInt8, UInt32, UInt32)] in
            s.queuedEvents -= 1
            guard !s.unreported.isEmpty, s.queuedEvents <= eventLimit / 2, !s.closed else { return [] }
            let r = s.unreported.sorted { $0.key < $1.key }.map { ($0.key, $0.value, s.totals[$0.key] ?? 0) }
            s.unreported = [:]
            return r
        }
        for (what, count, total) in reports {
            let m = Message.event(.dropped, ["what": .uint(UInt64(what)), "count": .uint(UInt64(count)),
                                             "total": .uint(UInt64(total))])
            if let f = try? m.frame(), let wire = try? FrameEncoding.encode(f, allocator: channel.allocator) {
                channel.writeAndFlush(wire, promise: nil)
            }
        }
    }

    /// A LOG event for this client only (why a call was refused, what the broker did).
    func notice(_ text: String, level: UInt8 = 2) {
        let bytes = Array(text.utf8.prefix(200))
        let m = Message.event(.log, ["level": .uint(UInt64(level)), "flags": .uint(bytes.count < text.utf8.count ? 1 : 0),
                                     "text": .bytes(bytes)])
        if let f = try? m.frame(), let wire = try? FrameEncoding.encode(f, allocator: channel.allocator) {
            send(event: wire, kind: nil)
        }
    }

    func markClosed() { state.withLockedValue { $0.closed = true } }
}
