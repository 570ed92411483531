import DequeModule
import NIOCore
import NIOConcurrencyHelpers

/// The host-side receive queue: hands a packet to a waiting reader under the same lock
/// that a cancellation takes, so a packet is either returned to its reader or still in
/// the queue — never lost between the two.
///
/// Backpressure instead of drops: once `capacity` packets wait, the queue asks its owner
/// to stop reading the link (``pauseIfFull()``, applied by the device on the event loop);
/// reading resumes when the application has taken the queue down to the low-water mark.
/// Packets that were already read when reading stopped, or that the device reads while a
/// request is outstanding (its response comes on the same link), are queued beyond
/// `capacity`, up to `capacity + overflow`; only beyond that is a packet dropped (counted).
/// Waiting readers share one deadline timer.
/// Once the link is gone for good (closed, or unplugged with no reconnection coming) the
/// queue is finished: readers get the packets still queued, then the error.
public final class PacketQueue: Sendable {
    enum Wake {
        case packet(ReceivedPacket)
        case timeout
        case cancelled
        case ended(ESPNowError)
    }

    struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Wake, Never>
        var deadline: NIODeadline?
    }

    struct State {
        var packets = Deque<ReceivedPacket>()
        var waiters = Deque<Waiter>()
        var nextWaiter: UInt64 = 0
        var capacity: Int
        var lowWater: Int
        var limit: Int
        var received: UInt64 = 0
        var dropped: UInt64 = 0
        var arrival: (@Sendable () -> Void)?
        var ended: ESPNowError?
        /// The queue asked for reading to stop and has not yet asked for it to resume.
        var readingPaused = false
        var readingChanged: (@Sendable () -> Void)?
        /// The one timer for every waiter's deadline.
        var timer = EarliestDeadlineTimer()
    }

    /// Packets queued beyond `capacity` before any is dropped: what one read of the link can
    /// hold, and what arrives while a response is awaited.
    public static let overflow = 1024

    private let state: NIOLockedValueBox<State>
    private let eventLoop: any EventLoop

    init(capacity: Int, eventLoop: any EventLoop) {
        let c = max(1, capacity)
        state = NIOLockedValueBox(State(capacity: c, lowWater: c / 2, limit: c + Self.overflow))
        self.eventLoop = eventLoop
    }

    /// Packets received and dropped (beyond `capacity + overflow`) since creation.
    public var counters: (received: UInt64, dropped: UInt64) { state.withLockedValue { ($0.received, $0.dropped) } }

    /// Packets waiting.
    public var count: Int { state.withLockedValue { $0.packets.count } }

    /// Readers waiting.
    var waiting: Int { state.withLockedValue { $0.waiters.count } }

    /// Called (outside the lock) after each packet is queued; used for on_recv callbacks.
    public func setArrivalHandler(_ h: (@Sendable () -> Void)?) { state.withLockedValue { $0.arrival = h } }

    /// Called (outside the lock, on any thread) when ``readingPaused`` went from true to false
    /// because the application drained the queue.
    func setReadingHandler(_ h: (@Sendable () -> Void)?) { state.withLockedValue { $0.readingChanged = h } }

    /// Whether the link should not be read now (the queue is full, see ``pauseIfFull()``).
    var readingPaused: Bool { state.withLockedValue { $0.readingPaused } }

    /// Calls `apply` with whether the link should be read, under the lock that every change
    /// of that answer takes: calls made after each change leave the link as the last change
    /// asks, whatever threads they come from. `apply` must not block or call back.
    func applyReading(_ apply: (Bool) -> Void) {
        state.withLockedValue { s in apply(!s.readingPaused) }
    }

    /// Queues `p` (or hands it to a waiting reader); returns true when the queue is at
    /// `capacity` (time to stop reading unless a response is awaited).
    @discardableResult
    func push(_ p: ReceivedPacket) -> Bool { push(contentsOf: CollectionOfOne(p)) }

    /// Queues `packets` in order, the first ones to waiting readers, under one lock; returns
    /// true when the queue is at `capacity`.
    @discardableResult
    func push(contentsOf packets: some Collection<ReceivedPacket>) -> Bool {
        var first: (Waiter, ReceivedPacket)?
        var more: [(Waiter, ReceivedPacket)] = []
        let (arrival, queued, full): ((@Sendable () -> Void)?, Int, Bool) = state.withLockedValue { s in
            s.received += UInt64(packets.count)
            var queued = 0
            for p in packets {
                if let w = s.waiters.popFirst() {
                    if first == nil { first = (w, p) } else { more.append((w, p)) }
                } else if s.packets.count >= s.limit {
                    s.dropped += 1
                } else {
                    s.packets.append(p)
                    queued += 1
                }
            }
            return (s.arrival, queued, s.packets.count >= s.capacity)
        }
        if let (w, p) = first { w.continuation.resume(returning: .packet(p)) }
        for (w, p) in more { w.continuation.resume(returning: .packet(p)) }
        if let arrival { for _ in 0..<queued { arrival() } }
        return full
    }

    /// Marks reading paused when the queue is at capacity; true when that is a change.
    func pauseIfFull() -> Bool {
        state.withLockedValue { s in
            guard !s.readingPaused, s.packets.count >= s.capacity, s.ended == nil else { return false }
            s.readingPaused = true
            return true
        }
    }

    /// Clears the pause whatever the level (a response is awaited); true when that is a change.
    func unpause() -> Bool {
        state.withLockedValue { s in
            guard s.readingPaused else { return false }
            s.readingPaused = false
            return true
        }
    }

    /// Under the lock, after packets were taken: whether reading may resume now.
    private static func drained(_ s: inout State) -> (@Sendable () -> Void)? {
        guard s.readingPaused, s.packets.count <= s.lowWater else { return nil }
        s.readingPaused = false
        return s.readingChanged
    }

    /// Why the queue ended (nil while packets may still come).
    public var endedBy: ESPNowError? { state.withLockedValue { $0.ended } }

    /// No packet will come any more: every waiting reader, and every later one once the
    /// queue is empty, gets `error`. The first call wins.
    func finish(_ error: ESPNowError) {
        let waiters: Deque<Waiter> = state.withLockedValue { s in
            guard s.ended == nil else { return [] }
            s.ended = error
            s.readingPaused = false
            s.timer.cancel()
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.continuation.resume(returning: .ended(error)) }
    }

    /// The next packet without waiting, if any.
    public func tryNext() -> ReceivedPacket? {
        let (p, resume) = state.withLockedValue { s -> (ReceivedPacket?, (@Sendable () -> Void)?) in
            let p = s.packets.popFirst()
            return (p, p == nil ? nil : Self.drained(&s))
        }
        resume?()
        return p
    }

    /// Whether a packet is waiting (the seed's `poll()`).
    public var isEmpty: Bool { state.withLockedValue { $0.packets.isEmpty } }

    /// Discards every waiting packet; returns how many.
    @discardableResult
    public func clear() -> Int {
        let (n, resume) = state.withLockedValue { s -> (Int, (@Sendable () -> Void)?) in
            let n = s.packets.count
            s.packets.removeAll()
            return (n, Self.drained(&s))
        }
        resume?()
        return n
    }

    /// Waits up to `timeout` (nil: forever) for a packet; nil on timeout. Throws
    /// `CancellationError` only when no packet was handed over, and the ``ESPNowError``
    /// that ended the queue (`.closed`, `.unplugged`) once it is empty and ended.
    public nonisolated(nonsending) func next(timeout: TimeAmount?) async throws -> ReceivedPacket? {
        let (first, ended, resume) = state.withLockedValue { s -> (ReceivedPacket?, ESPNowError?, (@Sendable () -> Void)?) in
            let p = s.packets.popFirst()
            return (p, s.ended, p == nil ? nil : Self.drained(&s))
        }
        if let p = first {
            resume?()
            return p
        }
        if let e = ended { throw e }
        if let t = timeout, t <= .zero { return nil }
        let deadline = timeout.map { NIODeadline.now() + $0 }
        let id: UInt64 = state.withLockedValue { s in
            s.nextWaiter &+= 1
            return s.nextWaiter
        }
        let wake: Wake = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Wake, Never>) in
                let (immediate, resume) = state.withLockedValue { s -> (Wake?, (@Sendable () -> Void)?) in
                    if let p = s.packets.popFirst() { return (.packet(p), Self.drained(&s)) }
                    if let e = s.ended { return (.ended(e), nil) }
                    if Task.isCancelled { return (.cancelled, nil) }
                    s.waiters.append(Waiter(id: id, continuation: c, deadline: deadline))
                    if let d = deadline { arm(&s, d) }
                    return (nil, nil)
                }
                resume?()
                if let w = immediate { c.resume(returning: w) }
            }
        } onCancel: {
            finishWaiter(id, with: .cancelled)
        }
        switch wake {
        case .packet(let p): return p
        case .timeout: return nil
        case .cancelled: throw CancellationError()
        case .ended(let e): throw e
        }
    }

    private func arm(_ s: inout State, _ deadline: NIODeadline) {
        s.timer.arm(deadline, on: eventLoop) { [weak self] in self?.expire() }
    }

    /// The shared timer fired: readers whose deadline passed get `.timeout`; the timer is
    /// re-armed for the earliest deadline left.
    private func expire() {
        let now = NIODeadline.now()
        let expired: [Waiter] = state.withLockedValue { s in
            s.timer.fired()
            var out: [Waiter] = []
            var earliest: NIODeadline?
            var kept = Deque<Waiter>()
            for w in s.waiters {
                if let d = w.deadline, d <= now {
                    out.append(w)
                } else {
                    kept.append(w)
                    if let d = w.deadline, earliest.map({ d < $0 }) ?? true { earliest = d }
                }
            }
            if !out.isEmpty { s.waiters = kept }
            if let e = earliest { arm(&s, e) }
            return out
        }
        for w in expired { w.continuation.resume(returning: .timeout) }
    }

    private func finishWaiter(_ id: UInt64, with wake: Wake) {
        let w: Waiter? = state.withLockedValue { s in
            guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return s.waiters.remove(at: i)
        }
        w?.continuation.resume(returning: wake)
    }
}

/// An `AsyncStream` with a bounded buffer whose drops are counted.
final class CountingStream<Element: Sendable>: Sendable {
    let stream: AsyncStream<Element>
    private let continuation: AsyncStream<Element>.Continuation
    private let dropped = NIOLockedValueBox<UInt64>(0)

    init(limit: Int) {
        (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingNewest(limit))
    }

    func yield(_ e: Element) {
        switch continuation.yield(e) {
        case .dropped: dropped.withLockedValue { $0 += 1 }
        default: break
        }
    }

    var droppedCount: UInt64 { dropped.withLockedValue { $0 } }
    func finish() { continuation.finish() }
}
