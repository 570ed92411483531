import DequeModule
import NIOCore
import NIOConcurrencyHelpers

/// The host-side receive queue: bounded, counts what it drops, and hands a packet to a
/// waiting reader under the same lock that a cancellation takes, so a packet is either
/// returned to its reader or still in the queue — never lost between the two.
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
        var timer: Scheduled<Void>?
    }

    struct State {
        var packets = Deque<ReceivedPacket>()
        var waiters = Deque<Waiter>()
        var nextWaiter: UInt64 = 0
        var capacity: Int
        var received: UInt64 = 0
        var dropped: UInt64 = 0
        var arrival: (@Sendable () -> Void)?
        var ended: ESPNowError?
    }

    private let state: NIOLockedValueBox<State>
    private let eventLoop: any EventLoop

    init(capacity: Int, eventLoop: any EventLoop) {
        state = NIOLockedValueBox(State(capacity: max(1, capacity)))
        self.eventLoop = eventLoop
    }

    /// Packets received and dropped (host queue full) since creation.
    public var counters: (received: UInt64, dropped: UInt64) { state.withLockedValue { ($0.received, $0.dropped) } }

    /// Packets waiting.
    public var count: Int { state.withLockedValue { $0.packets.count } }

    /// Called (outside the lock) after each packet is queued; used for on_recv callbacks.
    public func setArrivalHandler(_ h: (@Sendable () -> Void)?) { state.withLockedValue { $0.arrival = h } }

    func push(_ p: ReceivedPacket) {
        let (waiter, arrival): (Waiter?, (@Sendable () -> Void)?) = state.withLockedValue { s in
            s.received += 1
            if let w = s.waiters.popFirst() { return (w, nil) }
            if s.packets.count >= s.capacity {
                s.dropped += 1
                return (nil, nil)
            }
            s.packets.append(p)
            return (nil, s.arrival)
        }
        if let w = waiter {
            w.timer?.cancel()
            w.continuation.resume(returning: .packet(p))
        }
        arrival?()
    }

    /// Why the queue ended (nil while packets may still come).
    public var endedBy: ESPNowError? { state.withLockedValue { $0.ended } }

    /// No packet will come any more: every waiting reader, and every later one once the
    /// queue is empty, gets `error`. The first call wins.
    func finish(_ error: ESPNowError) {
        let waiters: Deque<Waiter> = state.withLockedValue { s in
            guard s.ended == nil else { return [] }
            s.ended = error
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters {
            w.timer?.cancel()
            w.continuation.resume(returning: .ended(error))
        }
    }

    /// The next packet without waiting, if any.
    public func tryNext() -> ReceivedPacket? { state.withLockedValue { $0.packets.popFirst() } }

    /// Whether a packet is waiting (the seed's `poll()`).
    public var isEmpty: Bool { state.withLockedValue { $0.packets.isEmpty } }

    /// Discards every waiting packet; returns how many.
    @discardableResult
    public func clear() -> Int {
        state.withLockedValue { s in
            let n = s.packets.count
            s.packets.removeAll()
            return n
        }
    }

    /// Waits up to `timeout` (nil: forever) for a packet; nil on timeout. Throws
    /// `CancellationError` only when no packet was handed over, and the ``ESPNowError``
    /// that ended the queue (`.closed`, `.unplugged`) once it is empty and ended.
    public func next(timeout: TimeAmount?) async throws -> ReceivedPacket? {
        let (first, ended) = state.withLockedValue { s in (s.packets.popFirst(), s.ended) }
        if let p = first { return p }
        if let e = ended { throw e }
        if let t = timeout, t <= .zero { return nil }
        let id: UInt64 = state.withLockedValue { s in
            s.nextWaiter &+= 1
            return s.nextWaiter
        }
        let wake: Wake = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Wake, Never>) in
                let immediate: Wake? = state.withLockedValue { s in
                    if let p = s.packets.popFirst() { return .packet(p) }
                    if let e = s.ended { return .ended(e) }
                    if Task.isCancelled { return .cancelled }
                    s.waiters.append(Waiter(id: id, continuation: c, timer: nil))
                    return nil
                }
                if let w = immediate {
                    c.resume(returning: w)
                    return
                }
                if let t = timeout {
                    let timer = eventLoop.scheduleTask(in: t) { self.finishWaiter(id, with: .timeout) }
                    let stillWaiting = state.withLockedValue { s in
                        guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return false }
                        s.waiters[i].timer = timer
                        return true
                    }
                    if !stillWaiting { timer.cancel() }
                }
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

    private func finishWaiter(_ id: UInt64, with wake: Wake) {
        let w: Waiter? = state.withLockedValue { s in
            guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return s.waiters.remove(at: i)
        }
        guard let w else { return }
        w.timer?.cancel()
        w.continuation.resume(returning: wake)
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
