import DequeModule
import NIOConcurrencyHelpers

/// The bounded queue between the radios and the database writer. Producers never wait: when
/// it is full the packet is dropped and counted (the caller records the drop). The single
/// consumer takes everything that has accumulated, up to a batch size, so batches grow by
/// themselves while a write is in progress.
final class IngestQueue: Sendable {
    private struct State {
        var items = Deque<Uplink>()
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        var poked = false
        var dropped: Int64 = 0
    }

    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Adds `u`; false (and counted) when the queue is full or finished.
    @discardableResult
    func offer(_ u: Uplink) -> Bool {
        let (ok, waiter) = state.withLockedValue { s -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !s.finished, s.items.count < capacity else {
                s.dropped += 1
                return (false, nil)
            }
            s.items.append(u)
            let w = s.waiter
            s.waiter = nil
            return (true, w)
        }
        waiter?.resume()
        return ok
    }

    var count: Int { state.withLockedValue { $0.items.count } }
    var isFinished: Bool { state.withLockedValue { $0.finished } }

    /// Drops since the last call (for the drops table).
    func takeDropped() -> Int64 {
        state.withLockedValue { s in
            defer { s.dropped = 0 }
            return s.dropped
        }
    }

    /// No more items after those queued (graceful shutdown: the consumer drains, then gets nil).
    func finish() {
        let w = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }

    /// Wakes the consumer: a waiting `nextBatch` returns an empty batch (timers).
    func poke() {
        let w = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            s.poked = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }

    /// Up to `max` items, waiting while empty (an empty batch after `poke()`); nil once
    /// finished and drained.
    func nextBatch(max: Int) async -> [Uplink]? {
        while true {
            let r: [Uplink]?? = state.withLockedValue { s in
                if !s.items.isEmpty {
                    let n = Swift.min(max, s.items.count)
                    let out = Array(s.items.prefix(n))
                    s.items.removeFirst(n)
                    return .some(out)
                }
                if s.finished { return .some(nil) }
                if s.poked {
                    s.poked = false
                    return .some([])
                }
                return nil
            }
            if let r { return r }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { s -> Bool in
                    if !s.items.isEmpty || s.finished || s.poked { return true }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
    }
}
