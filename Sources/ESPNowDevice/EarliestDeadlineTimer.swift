import NIOCore

/// One event-loop timer for many deadlines, kept in its owner's locked state: armed for the
/// earliest deadline asked for; a later one changes nothing. When it fires, the owner calls
/// ``fired()``, handles what is due and arms again for the earliest deadline left. So a
/// deadline that is met (an answered call, a packet that came in time) costs no timer
/// operation and wakes no thread.
struct EarliestDeadlineTimer {
    private var scheduled: Scheduled<Void>?
    private var deadline: NIODeadline?

    /// Arms for `deadline` unless already armed for it or an earlier one.
    mutating func arm(_ deadline: NIODeadline, on loop: any EventLoop, _ fire: @escaping @Sendable () -> Void) {
        if let at = self.deadline, at <= deadline { return }
        scheduled?.cancel()
        self.deadline = deadline
        scheduled = loop.scheduleTask(deadline: deadline, fire)
    }

    /// The timer fired (call first, under the owner's lock): nothing is armed any more.
    mutating func fired() {
        scheduled = nil
        deadline = nil
    }

    mutating func cancel() {
        scheduled?.cancel()
        fired()
    }
}
