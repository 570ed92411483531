import DequeModule
import NIOConcurrencyHelpers

/// A bounded queue between one producer that must never wait (the gateway's writer, the
/// stream hub) and one consumer that may be slow (a network client). When full, the oldest
/// entries give way and their weight is counted; the consumer learns of the gap as a
/// `.dropped(n)` item exactly where it happened.
final class EventQueue<Element: Sendable>: Sendable {
    enum Item: Sendable {
        case event(Element)
        case dropped(Int)
    }

    private struct State {
        var items = Deque<(Element, Int)>()
        var weight = 0
        /// Dropped since the consumer last took items (reported before the next ones).
        var gap = 0
        var waiter: CheckedContinuation<[Item], Never>?
        var finished = false
    }

    let capacity: Int
    private let state = NIOLockedValueBox(State())
    /// Everything this queue ever dropped.
    private let droppedTotal = NIOLockedValueBox(0)

    init(capacity: Int) { self.capacity = capacity }

    var totalDropped: Int { droppedTotal.withLockedValue { $0 } }

    /// Adds an entry of `weight` (readings it carries); never waits.
    func push(_ e: Element, weight: Int = 1) {
        let (waiter, items, lost) = state.withLockedValue { s -> (CheckedContinuation<[Item], Never>?, [Item], Int) in
            guard !s.finished else { return (nil, [], 0) }
            s.items.append((e, weight))
            s.weight += weight
            var lost = 0
            while s.weight > capacity, let oldest = s.items.popFirst() {
                s.weight -= oldest.1
                lost += oldest.1
            }
            s.gap += lost
            guard let w = s.waiter else { return (nil, [], lost) }
            s.waiter = nil
            return (w, Self.take(&s, max: .max), lost)
        }
        if lost > 0 { droppedTotal.withLockedValue { $0 += lost } }
        waiter?.resume(returning: items)
    }

    /// Records entries lost before they reached this queue (the consumer is told as usual).
    func addGap(_ n: Int) {
        guard n > 0 else { return }
        droppedTotal.withLockedValue { $0 += n }
        let (waiter, items) = state.withLockedValue { s -> (CheckedContinuation<[Item], Never>?, [Item]) in
            guard !s.finished else { return (nil, []) }
            s.gap += n
            guard let w = s.waiter else { return (nil, []) }
            s.waiter = nil
            return (w, Self.take(&s, max: .max))
        }
        waiter?.resume(returning: items)
    }

    private static func take(_ s: inout State, max: Int) -> [Item] {
        var out: [Item] = []
        if s.gap > 0 {
            out.append(.dropped(s.gap))
            s.gap = 0
        }
        while out.count < max, let next = s.items.popFirst() {
            s.weight -= next.1
            out.append(.event(next.0))
        }
        return out
    }

    /// Waits for items (up to `max` at once); empty once finished (or the task cancelled).
    func next(max: Int = 512) async -> [Item] {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<[Item], Never>) in
                let ready: [Item]? = state.withLockedValue { s in
                    let got = Self.take(&s, max: max)
                    if !got.isEmpty || s.finished { return got }
                    s.waiter = c
                    return nil
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// Ends the queue: the consumer's `next` returns what is left, then empty.
    func finish() {
        let w = state.withLockedValue { s -> CheckedContinuation<[Item], Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume(returning: [])
    }
}
