import DequeModule
import ESPNowSerial
import ESPNowWire
import Logging
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

/// Tunables of a ``ESPNowDevice``.
public struct DeviceOptions: Sendable {
    public var serial = SerialOptions()
    /// Time to wait for a response before retransmitting the identical frame, on top of
    /// the time the request and its response take on a UART link at its baud rate.
    /// Must be positive (``ESPNowDevice/connect(path:options:)`` refuses anything else).
    public var attemptTimeout: TimeAmount = .milliseconds(300)
    /// Transmissions per call (the first plus retransmissions) before `.timeout`; at least 1.
    /// An attempt during which the dongle kept sending frames (the link is alive, the
    /// response may be queued behind them) is extended instead of counted: on a UART link
    /// until `deviceBacklogBytes` arrived or had time to arrive; on any link at most
    /// `4 × attempts` expiries in all per call.
    public var attempts = 4
    /// The most bytes the dongle may have queued towards the host ahead of a response (its
    /// writer queue plus the transport's buffers); sizes the wait on a slow UART link.
    public var deviceBacklogBytes = 16 * 1024
    /// A call is not failed with `.timeout` before this much time since its first
    /// transmission, even when every counted attempt went unanswered (a hang guard: a
    /// simulated dongle on a busy machine can be late without being gone). 0 disables it.
    public var minimumCallTime: TimeAmount = .seconds(5)
    /// Host receive queue, in packets. When this many wait, the client stops reading the
    /// link until the application has taken half of them (the dongle then pushes back and
    /// reports its own drops); packets that arrive meanwhile (the rest of a read, or while a
    /// response is awaited) are still queued, up to ``PacketQueue/overflow`` more, beyond
    /// which they are dropped and counted in `packetsDropped`.
    public var packetQueueCapacity = 1024
    /// Buffer of each event stream (overflow is counted).
    public var streamLimit = 1024
    /// Reopen the port after an unplug and restore the state.
    public var autoReconnect = true
    /// Pause before each reconnection attempt.
    public var reconnectInterval: TimeAmount = .milliseconds(200)
    /// Where to look for the dongle once its port is gone (nil: always the same path).
    /// Before each reconnection attempt the client calls it with the path it was last
    /// connected at; it returns the path to open next, or nil to retry `lastPath`. It may
    /// wait (for the dongle to come back, e.g. a udev monitor: ESPNowDiscovery's
    /// `DongleTracker.reconnectPath`) and must return promptly, with nil if it likes,
    /// when its task is cancelled: ``ESPNowDevice/close()`` cancels it. On success
    /// ``ESPNowDevice/path`` changes to the new path.
    public var reconnectPath: (@Sendable (_ lastPath: String) async -> String?)?
    public var logger = Logger(label: "espnow.device")
    /// Token, flags and TLS trust for `unix:`/`tcp://`/`tls://` ports (a broker).
    public var broker = BrokerClientOptions()
    /// Sees every event frame on the event loop before the client handles it; returning
    /// true consumes it (only a RECV may be consumed: the client still needs the others).
    /// A broker fans events out to its clients this way.
    public var eventTap: (@Sendable (DecodedFrame) -> Bool)?

    public init() {}
}

/// The device client: one async method per protocol command (see `Commands.swift`),
/// responses matched by id, requests pipelined up to the device's window, lost responses
/// retransmitted with the same id, events as async sequences, and the client's state
/// restored after a reboot or a replug. Safe to use from any task.
public final class ESPNowDevice: Sendable {
    /// The port the client is (or was last) connected at; changes when a reconnection
    /// found the dongle at another path (``DeviceOptions/reconnectPath``).
    public var path: String { state.withLockedValue { $0.path } }
    public let options: DeviceOptions
    let logger: Logger
    let eventLoop: any EventLoop

    /// Received packets (also read by the `ESPNow` API's recv/irecv).
    public let packetQueue: PacketQueue
    let statusStream: CountingStream<SendStatus>
    let logStream: CountingStream<DeviceLog>
    let eventStream: CountingStream<DeviceEvent>

    /// SEND_STATUS events (every send's, async and sync), in arrival order.
    public var sendStatuses: AsyncStream<SendStatus> { statusStream.stream }
    /// LOG events (also forwarded to swift-log).
    public var logs: AsyncStream<DeviceLog> { logStream.stream }
    /// HELLO, reboot, unplug/replug, restore, DROPPED and Wi-Fi events.
    public var events: AsyncStream<DeviceEvent> { eventStream.stream }
    /// Received packets as an async sequence (shares the queue with ``packetQueue``).
    public var packets: PacketSequence { PacketSequence(queue: packetQueue) }

    enum Phase: Equatable { case connecting, ready, restoring, disconnected, closed, mismatch }

    struct Pending {
        var token: UInt64
        var code: CommandCode
        var fields: [String: FieldValue]
        var wire: ByteBuffer
        var continuation: Reply?
        var attempt = 1
        var maxAttempts: Int
        var attemptTimeout: TimeAmount
        /// When the current attempt is looked at again (the calls' shared timer).
        var deadline: NIODeadline
        /// Deadlines passed so far (counted attempts, uncounted retransmissions, extensions).
        var expiries = 0
        var transmissions = 1
        /// When the first / the current transmission has left the host (estimated on a UART link).
        var firstStart: NIODeadline
        var attemptStart: NIODeadline
        /// The link's receive tallies when the current attempt started / was last checked.
        var rxBytesAtStart: UInt64
        var rxFramesAtCheck: UInt64
        var statuses: [SendStatus] = []
        var record: Bool
    }

    struct Queued {
        var token: UInt64
        var code: CommandCode
        var fields: [String: FieldValue]
        var body: [UInt8]
        var internalCall: Bool
        var record: Bool
        var attempts: Int
        var attemptTimeout: TimeAmount
        var continuation: Reply
        /// Told the request id under the state lock, before the frame is written.
        var assigned: (@Sendable (UInt16) -> Void)?
    }

    struct State {
        var path: String
        var link: (any FrameLink)?
        /// A reconnection loop is running (there is never more than one), and its task
        /// (cancelled by `close()`).
        var reconnecting = false
        var reconnectTask: Task<Void, Never>?
        var phase: Phase = .connecting
        var info: DeviceInfo?
        /// Identifies the open link: callbacks of an older link are ignored.
        var linkGen: UInt64 = 0
        /// Identifies the device boot: timers and restores of an older boot are ignored.
        var epoch: UInt64 = 0
        var nextID = UInt16.random(in: 0...UInt16.max)
        var nextToken: UInt64 = 0
        var pending: [UInt16: Pending] = [:]
        var queue = Deque<Queued>()
        var counters = HostCounters()
        var record = RestoreRecord()
        var foreignHello: ForeignHello?
        var peersTable: [MACAddress: (rssi: Int8, timeMs: UInt64)] = [:]
        /// The serial line's pace, or nil when it is not the bottleneck (USB, pty).
        var line = LinePace(bytesPerSecond: nil)
        /// Frames and (approximate) bytes received on the current link.
        var rxFrames: UInt64 = 0
        var rxBytes: UInt64 = 0
        /// One timer for every call's deadline, armed for the earliest (see `armCallTimer`).
        var callTimer: Scheduled<Void>?
        var callTimerAt: NIODeadline?
    }

    struct Response: Sendable {
        var fields: [String: FieldValue]
        var statuses: [SendStatus]
    }

    let state: NIOLockedValueBox<State>

    private init(path: String, options: DeviceOptions) {
        self.options = options
        logger = options.logger
        // The calls' and the queue's timers, and a broker link's channel, run on this loop.
        eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        packetQueue = PacketQueue(capacity: options.packetQueueCapacity, eventLoop: eventLoop)
        statusStream = CountingStream(limit: options.streamLimit)
        logStream = CountingStream(limit: options.streamLimit)
        eventStream = CountingStream(limit: options.streamLimit)
        state = NIOLockedValueBox(State(path: path))
        packetQueue.setReadingHandler { [weak self] in
            guard let self, let link = self.state.withLockedValue({ $0.link }) else { return }
            Self.applyReading(link, self.packetQueue)
        }
    }

    /// Makes the link read, or not, as the queue's level asks now (whatever order the
    /// requests to change it were made in): always through the loop, never inside a lock.
    static func applyReading(_ link: any FrameLink, _ queue: PacketQueue) {
        link.eventLoop.execute { link.setReading(!queue.readingPaused) }
    }

    /// Opens `url` (`unix:PATH`, `tcp://HOST:PORT`, `tls://HOST:PORT`: a broker sharing a
    /// dongle; or a serial port path), performs the handshake and returns the ready client.
    public static func connect(url: String, options: DeviceOptions = DeviceOptions()) async throws(ESPNowError) -> ESPNowDevice {
        try await connect(path: url, options: options)
    }

    /// Opens `path` (a serial port, or a broker's `unix:`/`tcp://`/`tls://` address),
    /// performs the handshake (section 9) and returns the ready client.
    public static func connect(path: String, options: DeviceOptions = DeviceOptions()) async throws(ESPNowError) -> ESPNowDevice {
        try options.validate()
        let d = ESPNowDevice(path: path, options: options)
        do {
            try await d.openAndHandshake(path: path)
        } catch {
            await d.close()
            throw error
        }
        d.state.withLockedValue { $0.phase = .ready }
        return d
    }

    /// The event loop of the open link, if any (a broker serves its clients on it, so that
    /// forwarding a response needs no thread hop).
    public var linkEventLoop: (any EventLoop)? { state.withLockedValue { $0.link?.eventLoop } }

    /// The thread that reads the open serial link, as a `TaskExecutor` (nil on a broker's
    /// socket, or with no link). A receive loop run with `withTaskExecutorPreference` on it
    /// gets each packet on the thread that read it, without a thread switch; it must not
    /// block, since the port is not read while it runs. After a reconnection the loop's
    /// jobs run on the global executor until it takes the new link's executor.
    public var linkExecutor: (any TaskExecutor)? { state.withLockedValue { $0.link?.executor } }

    /// The latest HELLO.
    public var info: DeviceInfo {
        state.withLockedValue { $0.info! }
    }

    /// Host-side counters (link drops, buffer drops, retransmissions...).
    public var hostCounters: HostCounters {
        var c = state.withLockedValue { $0.counters }
        let q = packetQueue.counters
        c.packetsReceived = q.received
        c.packetsDropped = q.dropped
        c.sendStatusesDropped = statusStream.droppedCount
        c.logsDropped = logStream.droppedCount
        c.eventsDropped = eventStream.droppedCount
        return c
    }

    /// Last RSSI (dBm) and arrival time per sender: the seed's `peers_table`. The time is
    /// milliseconds of the host's monotonic clock (`CLOCK_MONOTONIC`, from the machine's
    /// boot; `NIODeadline.now()`), like MicroPython's `time.ticks_ms()`.
    public var peersTable: [MACAddress: (rssi: Int8, timeMs: UInt64)] { state.withLockedValue { $0.peersTable } }

    /// Closes the link; calls in flight fail with `.closed`.
    public func close() async {
        let (link, failed, reconnect) = state.withLockedValue {
            s -> ((any FrameLink)?, [Reply], Task<Void, Never>?) in
            s.phase = .closed
            s.callTimer?.cancel()
            s.callTimer = nil
            s.callTimerAt = nil
            let l = s.link
            s.link = nil
            let t = s.reconnectTask
            s.reconnectTask = nil
            return (l, Self.drainAll(&s), t)
        }
        reconnect?.cancel()
        for c in failed { c.resume(throwing: ESPNowError.closed) }
        packetQueue.finish(.closed)
        await link?.close()
        statusStream.finish()
        logStream.finish()
        eventStream.finish()
    }

    /// Pulses DTR/RTS to reset the board (no-op on a pty). The reboot is then handled like
    /// any other: calls in flight fail, the state is restored.
    @discardableResult
    public func hardReset() async throws -> Bool {
        guard let l = state.withLockedValue({ $0.link }) else { throw ESPNowError.unplugged(path: path) }
        return try await l.resetBoard()
    }

    // MARK: - Link

    /// Opens `path` and handshakes; on success `path` becomes the client's ``path``.
    private func openAndHandshake(path: String) async throws(ESPNowError) {
        let gen = state.withLockedValue { s -> UInt64 in
            s.linkGen += 1
            s.epoch += 1
            s.foreignHello = nil
            s.line = LinePace(bytesPerSecond: nil)
            return s.linkGen
        }
        let link: any FrameLink
        do {
            link = try await FrameLinks.open(
                path, serial: options.serial, broker: options.broker, group: eventLoop,
                onInbound: { [weak self] item in self?.inbound(item, generation: gen) },
                onClose: { [weak self] err in self?.linkClosed(err, generation: gen) })
        } catch let e as SerialError {
            throw .serial(e)
        } catch {
            throw .serial(.openFailed(path: path, errno: 0, reason: "\(error)"))
        }
        let closed = state.withLockedValue { s -> Bool in
            guard s.phase != .closed else { return true }  // close() ran while the port was opening
            s.link = link
            s.phase = .connecting
            return false
        }
        if closed {
            await link.close()
            throw .closed
        }
        // Flush a half-received frame at the device, then ask who it is.
        link.writeRaw([0])
        let r: Response
        do {
            r = try await call(.hello, [:], isInternal: true, record: false)
        } catch let e as ESPNowError {
            if case .timeout = e, let h = state.withLockedValue({ $0.foreignHello }) { throw .protocolMismatch(h) }
            throw e
        } catch {
            throw .closed
        }
        let info = try DeviceInfo(fields: r.fields)
        state.withLockedValue { s in
            s.info = info
            s.path = path
            s.line = LinePace(info: info)
        }
        eventStream.yield(.hello(info))
        logger.info("connected", metadata: ["port": "\(path)", "boot": "\(info.bootCount)", "window": "\(info.window)"])
    }

    private func linkClosed(_ err: SerialError, generation: UInt64) {
        let unplugged = if case .unplugged = err { true } else { false }
        let outcome = state.withLockedValue { s -> ([Reply], Bool, String)? in
            guard s.linkGen == generation, s.phase != .closed else { return nil }
            s.link = nil
            s.phase = .disconnected
            // A link opened by the running loop that dies again is that loop's business.
            let start = unplugged && options.autoReconnect && !s.reconnecting
            if start { s.reconnecting = true }
            return (Self.drainAll(&s), start, s.path)
        }
        guard let (failed, reconnect, path) = outcome else { return }
        guard unplugged else {
            // Closed under us for a reason of its own (another program reading the port):
            // nothing more will come through this link, and reopening would meet the same.
            let error: ESPNowError = if case .closed = err { .closed } else { .serial(err) }
            for c in failed { c.resume(throwing: error) }
            if case .closed = err { return }
            logger.error("link ended", metadata: ["port": "\(path)", "reason": "\(err)"])
            endForGood(error)
            return
        }
        for c in failed { c.resume(throwing: ESPNowError.unplugged(path: path)) }
        logger.warning("link lost", metadata: ["port": "\(path)", "failed_calls": "\(failed.count)"])
        eventStream.yield(.unplugged(path: path, failedCalls: failed.count))
        guard reconnect else {
            // No reconnection is coming (off, or the loop that opened this link gives up
            // on it and tries again): without one, nothing will ever arrive again.
            if !options.autoReconnect { endForGood(.unplugged(path: path)) }
            return
        }
        let task = Task { await self.reconnectLoop() }
        let closed = state.withLockedValue { s -> Bool in
            guard s.phase != .closed else { return true }
            s.reconnectTask = task
            return false
        }
        if closed { task.cancel() }
    }

    /// The link is gone and will not come back: waiting readers and event consumers end.
    private func endForGood(_ error: ESPNowError) {
        packetQueue.finish(error)
        statusStream.finish()
        logStream.finish()
        eventStream.finish()
    }

    private func reconnectLoop() async {
        // Cleared here when the loop gives up (closed), or with the reconnection below, so
        // that an unplug during the restore starts a new loop.
        var handedOver = false
        defer {
            if !handedOver {
                state.withLockedValue { s in
                    s.reconnecting = false
                    s.reconnectTask = nil
                }
            }
        }
        while state.withLockedValue({ $0.phase }) == .disconnected && !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(options.reconnectInterval.nanoseconds))
            guard state.withLockedValue({ $0.phase }) == .disconnected, !Task.isCancelled else { return }
            let last = state.withLockedValue { $0.path }
            var target = last
            if let locate = options.reconnectPath {
                target = await locate(last) ?? last
                guard state.withLockedValue({ $0.phase }) == .disconnected, !Task.isCancelled else { return }
                if target != last { logger.info("looking for the dongle at a new path", metadata: ["port": "\(target)", "was": "\(last)"]) }
            }
            do {
                try await openAndHandshake(path: target)
            } catch {
                let l = state.withLockedValue { s -> (any FrameLink)? in
                    let l = s.link
                    s.link = nil
                    if s.phase != .closed { s.phase = .disconnected }
                    return l
                }
                await l?.close()
                continue
            }
            let info = state.withLockedValue { s -> DeviceInfo in
                s.counters.reconnects += 1
                s.phase = .restoring
                s.reconnecting = false
                s.reconnectTask = nil
                return s.info!
            }
            handedOver = true
            logger.notice("replugged", metadata: ["port": "\(path)"])
            eventStream.yield(.replugged(info))
            await restore(generation: state.withLockedValue { $0.epoch })
            return
        }
    }

    /// Removes every pending and queued call; returns their continuations.
    private static func drainAll(_ s: inout State) -> [Reply] {
        var out: [Reply] = []
        for (_, p) in s.pending {
            if let c = p.continuation { out.append(c) }
        }
        s.pending.removeAll()
        for q in s.queue { out.append(q.continuation) }
        s.queue.removeAll()
        return out
    }

    // MARK: - Calls

    /// Sends one request and waits for its response (retransmitting the identical frame on
    /// timeout). `internal` calls run during the handshake and the restore, ahead of users'.
    func call(_ code: CommandCode, _ fields: [String: FieldValue], isInternal: Bool = false, record: Bool = true,
              attempts: Int? = nil) async throws -> Response {
        guard let layout = MessageLayout.find(kind: .request, code: code.rawValue) else {
            throw ESPNowError.invalidArgument("no layout for \(code)")
        }
        let body: [UInt8]
        do {
            body = try layout.encodeBody(fields)
        } catch {
            throw ESPNowError.invalidArgument("\(error)")
        }
        let token = state.withLockedValue { s -> UInt64 in
            s.nextToken += 1
            return s.nextToken
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Response, any Error>) in
                let q = Queued(token: token, code: code, fields: fields, body: body, internalCall: isInternal,
                               record: record, attempts: attempts ?? options.attempts,
                               attemptTimeout: options.attemptTimeout, continuation: .continuation(c))
                if enqueue(q), Task.isCancelled { cancel(token: token) }
            }
        } onCancel: {
            cancel(token: token)
        }
    }

    /// Queues `q` unless the client cannot take calls now (then `q` is failed at once).
    private func enqueue(_ q: Queued) -> Bool {
        let refusal: ESPNowError? = state.withLockedValue { s -> ESPNowError? in
            switch s.phase {
            case .closed: return .closed
            case .disconnected: return .unplugged(path: s.path)
            case .mismatch: return s.foreignHello.map { .protocolMismatch($0) } ?? .closed
            default: break
            }
            s.queue.append(q)
            admit(&s)
            return nil
        }
        if let e = refusal {
            q.continuation.resume(throwing: e)
            return false
        }
        return true
    }

    /// Sends a request decoded elsewhere (a broker forwarding a client's) without waiting:
    /// queued in call order, so requests keep their order on the wire. `assigned` learns the
    /// request id under the client's lock before the frame is written (to route its
    /// SEND_STATUS events); `completion` gets the response's outputs or the error. Recorded
    /// for the restore like any call when `record` is set.
    public func forward(_ code: CommandCode, _ fields: [String: FieldValue], record: Bool,
                        assigned: (@Sendable (UInt16) -> Void)? = nil,
                        completion: @escaping @Sendable (Result<[String: FieldValue], ESPNowError>) -> Void) {
        guard let layout = MessageLayout.find(kind: .request, code: code.rawValue),
              let body = try? layout.encodeBody(fields) else {
            completion(.failure(.invalidArgument("no request layout for \(code) with these fields")))
            return
        }
        let token = state.withLockedValue { s -> UInt64 in
            s.nextToken += 1
            return s.nextToken
        }
        var q = Queued(token: token, code: code, fields: fields, body: body, internalCall: false, record: record,
                       attempts: options.attempts, attemptTimeout: options.attemptTimeout,
                       continuation: .callback({ r in
                           completion(r.map(\.fields).mapError { ($0 as? ESPNowError) ?? .closed })
                       }))
        q.assigned = assigned
        _ = enqueue(q)
    }

    /// Cancelling a queued call removes it; cancelling a sent one only detaches the caller:
    /// the request keeps its place in the window until its response arrives.
    private func cancel(token: UInt64) {
        let c: Reply? = state.withLockedValue { s in
            if let i = s.queue.firstIndex(where: { $0.token == token }) {
                return s.queue.remove(at: i).continuation
            }
            if let (id, p) = s.pending.first(where: { $0.value.token == token }), let c = p.continuation {
                s.pending[id]?.continuation = nil
                return c
            }
            return nil
        }
        c?.resume(throwing: CancellationError())
    }

    /// Moves queued calls into the window while PROTOCOL.md section 8 allows: at most W
    /// unanswered, and no new id more than R − 1 = 2W − 1 past the oldest unanswered one.
    private func admit(_ s: inout State) {
        guard let link = s.link else { return }
        let window = s.info?.window ?? 1
        let replay = 2 * window
        while !s.queue.isEmpty {
            guard s.pending.count < window else { return }
            if let oldest = s.pending.keys.max(by: { (s.nextID &- $0) < (s.nextID &- $1) }) {
                guard Int(s.nextID &- oldest) <= replay - 1 else { return }
            }
            let index: Int?
            if s.phase == .ready {
                index = 0
            } else {
                index = s.queue.firstIndex(where: { $0.internalCall })
            }
            guard let i = index else { return }
            let q = s.queue.remove(at: i)
            let id = s.nextID
            s.nextID &+= 1
            q.assigned?(id)
            let wire: ByteBuffer
            do {
                wire = try FrameEncoding.encode(Frame(kind: .request, id: id, code: q.code.rawValue, body: q.body),
                                                allocator: link.allocator)
            } catch {
                let c = q.continuation
                eventLoop.execute { c.resume(throwing: ESPNowError.invalidArgument("\(error)")) }
                continue
            }
            let now = NIODeadline.now()
            let start = s.line.enqueue(bytes: wire.readableBytes, at: now)
            let deadline = start + s.line.attemptTimeout(q.attemptTimeout, requestBytes: wire.readableBytes)
            let p = Pending(token: q.token, code: q.code, fields: q.fields, wire: wire, continuation: q.continuation,
                            maxAttempts: max(1, q.attempts), attemptTimeout: q.attemptTimeout, deadline: deadline,
                            firstStart: start, attemptStart: start, rxBytesAtStart: s.rxBytes, rxFramesAtCheck: s.rxFrames,
                            record: q.record)
            armCallTimer(&s, deadline)
            s.pending[id] = p
            s.counters.framesSent += 1
            // Its response comes on the link: read it even when the packet queue is full.
            if packetQueue.unpause() { Self.applyReading(link, packetQueue) }
            // Under this lock, so requests leave in id order (a link's write never blocks
            // and never calls back).
            link.write(.encoded(wire))
        }
    }

    /// Points the calls' shared timer at `deadline` unless it is armed for an earlier one.
    /// An answered call leaves the timer alone (it fires, finds nothing due and is armed for
    /// the next deadline, if any): a call costs no timer operation, and no thread wake-up,
    /// of its own.
    private func armCallTimer(_ s: inout State, _ deadline: NIODeadline) {
        if let at = s.callTimerAt, at <= deadline { return }
        s.callTimer?.cancel()
        s.callTimerAt = deadline
        s.callTimer = eventLoop.scheduleTask(deadline: deadline) { [weak self] in self?.callTimerFired() }
    }

    /// The shared timer fired: every call whose deadline passed is looked at.
    private func callTimerFired() {
        let now = NIODeadline.now()
        let failed: [(Reply?, CommandCode, Int)] = state.withLockedValue { s in
            s.callTimer = nil
            s.callTimerAt = nil
            var out: [(Reply?, CommandCode, Int)] = []
            for id in s.pending.compactMap({ $0.value.deadline <= now ? $0.key : nil }) {
                if let f = attemptTimedOut(&s, id, now) { out.append(f) }
            }
            if let next = s.pending.values.lazy.map(\.deadline).min() { armCallTimer(&s, next) }
            return out
        }
        for (c, code, n) in failed {
            logger.warning("no response", metadata: ["command": "\(code.name)", "attempts": "\(n)"])
            c?.resume(throwing: ESPNowError.timeout(command: code, attempts: n))
        }
    }

    /// The deadline of call `id` passed: extend, retransmit, wait for the minimum call time
    /// or give up (returned, to be failed outside the lock).
    private func attemptTimedOut(_ s: inout State, _ id: UInt16, _ now: NIODeadline) -> (Reply?, CommandCode, Int)? {
        guard var p = s.pending[id] else { return nil }
        p.expiries += 1
        let verdict = AttemptVerdict(
            linkSpoke: s.rxFrames != p.rxFramesAtCheck, bytesSinceStart: s.rxBytes &- p.rxBytesAtStart,
            sinceStart: now - p.attemptStart, sinceFirst: now - p.firstStart, attemptTimeout: p.attemptTimeout,
            attempts: p.maxAttempts, minimumCallTime: options.minimumCallTime,
            backlogBytes: options.deviceBacklogBytes, line: s.line)
        p.rxFramesAtCheck = s.rxFrames
        switch verdict {
        case .extend:
            s.counters.extendedAttempts += 1
            p.deadline = now + p.attemptTimeout
            s.pending[id] = p
            return nil
        case .retransmit, .retransmitUncounted:
            if verdict == .retransmit { p.attempt += 1 }
            guard let link = s.link else { break }
            if p.attempt > p.maxAttempts || p.maxAttempts == 1 {  // 1: never retransmitted
                // Every counted attempt went unanswered; give up only once the call is
                // `minimumCallTime` old: a dongle sharing a busy machine's CPU (the
                // simulator) can be late without being gone.
                let rest = options.minimumCallTime - (now - p.firstStart)
                guard rest > .zero else { break }
                p.deadline = now + rest
                s.pending[id] = p
                return nil
            }
            let wire = p.wire
            p.transmissions += 1
            s.counters.retransmissions += 1
            s.counters.framesSent += 1
            p.attemptStart = s.line.enqueue(bytes: wire.readableBytes, at: now)
            p.rxBytesAtStart = s.rxBytes
            p.deadline = p.attemptStart + s.line.attemptTimeout(p.attemptTimeout, requestBytes: wire.readableBytes)
            s.pending[id] = p
            link.write(.encoded(wire))
            return nil
        case .giveUp:
            break
        }
        s.pending[id] = nil
        admit(&s)
        return (p.continuation, p.code, p.transmissions)
    }

    // MARK: - Inbound (the link's thread)

    private func inbound(_ item: LinkInbound, generation: UInt64) {
        switch item {
        case .dropped(let e):
            // A damaged frame is still the dongle talking.
            state.withLockedValue { s in
                s.counters.link.count(e)
                s.rxFrames += 1
            }
        case .foreignHello(let h):
            let failed = state.withLockedValue { s -> [Reply] in
                guard s.linkGen == generation else { return [] }
                s.foreignHello = h
                s.phase = .mismatch
                return Self.drainAll(&s)
            }
            logger.error("\(h.description)", metadata: ["port": "\(path)"])
            for c in failed { c.resume(throwing: ESPNowError.protocolMismatch(h)) }
        case .frame(let f):
            state.withLockedValue { s in
                s.counters.link.frames += 1
                s.rxFrames += 1
                s.rxBytes += UInt64(LinePace.wireBytes(body: f.body.readableBytes))
            }
            switch f.header.kind {
            case .response: response(f, generation: generation)
            case .event:
                if let tap = options.eventTap, tap(f), f.header.code == EventCode.recv.rawValue { return }
                event(f, generation: generation)
            case .request: break
            }
        }
    }

    private func response(_ f: DecodedFrame, generation: UInt64) {
        let id = f.header.id
        let busy = (try? f.message())?.err == .bridgeBusy
        let matched: Pending? = state.withLockedValue { s in
            guard s.linkGen == generation, let p = s.pending[id], p.code.rawValue == f.header.code else {
                s.counters.unmatchedResponses += 1
                return nil
            }
            if busy && p.transmissions > 1 {
                // BUSY says this copy was not executed; the first may still be running
                // (a sync send waiting for the air): its own answer is still to come.
                s.counters.busyRetransmissions += 1
                return nil
            }
            s.pending[id] = nil
            admit(&s)
            return p
        }
        guard let p = matched else { return }
        let result: Result<Response, ESPNowError>
        do {
            let m = try f.message()
            if let e = m.err, e != .ok {
                result = .failure(.esp(e, command: p.code))
            } else {
                result = .success(Response(fields: m.fields, statuses: p.statuses))
            }
        } catch {
            state.withLockedValue { $0.counters.link.badBody += 1 }
            result = .failure(.badResponse(command: p.code, detail: "\(error)"))
        }
        if case .success = result, p.record {
            state.withLockedValue { $0.record.apply(p.code, p.fields) }
        }
        p.continuation?.resume(with: result.mapError { $0 as any Error })
    }

    private func event(_ f: DecodedFrame, generation: UInt64) {
        guard let code = EventCode(rawValue: f.header.code) else {
            state.withLockedValue { $0.counters.unknownEvents += 1 }
            return
        }
        switch code {
        case .recv:
            let body = f.body
            let parsed: ReceivedPacket? = body.withUnsafeReadableBytes { raw in
                guard let v = try? RecvEventView(body: raw) else { return nil }
                let offset = v.bodyCount - v.data.count
                return ReceivedPacket(src: v.srcAddr, dst: v.dst, dstAddr: v.dstAddr, rate: v.rate, rssi: v.rssi,
                                      channel: v.channel, timestampUs: v.timestampUs,
                                      data: f.body.getSlice(at: f.body.readerIndex + offset, length: v.data.count)!)
            }
            guard let p = parsed else {
                state.withLockedValue { $0.counters.link.badBody += 1 }
                return
            }
            let now = NIODeadline.now().uptimeNanoseconds / 1_000_000
            state.withLockedValue { $0.peersTable[p.src] = (p.rssi, now) }
            if packetQueue.push(p) {
                // Full: stop reading, unless a response is awaited (it comes on this link).
                let link = state.withLockedValue { s -> (any FrameLink)? in
                    guard s.pending.isEmpty, s.linkGen == generation, let l = s.link, packetQueue.pauseIfFull() else {
                        return nil
                    }
                    return l
                }
                if let link { Self.applyReading(link, packetQueue) }
            }
        case .sendStatus:
            guard let m = try? f.message(), let rid = m.fields["req_id"]?.uintValue, case .mac(let mac)? = m.fields["peer_addr"],
                  let st = m.fields["status"]?.uintValue else {
                state.withLockedValue { $0.counters.link.badBody += 1 }
                return
            }
            let status = SendStatus(requestID: UInt16(truncatingIfNeeded: rid), peer: mac, success: st == 0,
                                    abandoned: st == UInt64(WireProtocol.sendStatusAbandoned))
            state.withLockedValue { s in
                if s.linkGen == generation, s.pending[status.requestID]?.code == .espnowSend {
                    s.pending[status.requestID]?.statuses.append(status)
                }
            }
            statusStream.yield(status)
        case .log:
            guard let m = try? f.message(), let lv = m.fields["level"]?.uintValue, let text = m.fields["text"]?.byteValue else { return }
            let log = DeviceLog(level: DeviceLog.Level(rawValue: UInt8(truncatingIfNeeded: lv)) ?? .info,
                                text: String(decoding: text, as: UTF8.self),
                                truncated: (m.fields["flags"]?.uintValue ?? 0) & 1 != 0)
            let level: Logger.Level = switch log.level {
            case .error: .error
            case .warn: .warning
            case .info: .info
            case .debug: .debug
            case .verbose: .trace
            }
            logger.log(level: level, "\(log.text)", metadata: ["port": "\(path)", "source": "device"])
            logStream.yield(log)
        case .dropped:
            guard let m = try? f.message(), let w = m.fields["what"]?.uintValue, let c = m.fields["count"]?.uintValue,
                  let t = m.fields["total"]?.uintValue else { return }
            state.withLockedValue { $0.counters.deviceDropped[UInt8(truncatingIfNeeded: w), default: 0] += c }
            logger.warning("device dropped", metadata: ["what": "\(w)", "count": "\(c)", "total": "\(t)"])
            eventStream.yield(.dropped(what: UInt8(truncatingIfNeeded: w), count: UInt32(truncatingIfNeeded: c),
                                       total: UInt32(truncatingIfNeeded: t)))
        case .wifiEvent:
            guard let m = try? f.message() else { return }
            eventStream.yield(.wifi(event: UInt8(truncatingIfNeeded: m.fields["event"]?.uintValue ?? 0),
                                    channel: UInt8(truncatingIfNeeded: m.fields["channel"]?.uintValue ?? 0),
                                    reason: UInt16(truncatingIfNeeded: m.fields["reason"]?.uintValue ?? 0)))
        case .hello:
            guard let m = try? f.message(), let info = try? DeviceInfo(fields: m.fields) else { return }
            helloEvent(info, generation: generation)
        }
    }

    /// A HELLO event outside the handshake: the dongle rebooted. Fail what was in flight
    /// (never retransmit it: it may have run), then restore the state before users' calls go on.
    private func helloEvent(_ info: DeviceInfo, generation: UInt64) {
        let outcome = state.withLockedValue { s -> (failed: [Pending], gen: UInt64)? in
            guard s.linkGen == generation else { return nil }
            if s.phase == .connecting || s.phase == .disconnected {
                // The boot HELLO that was waiting in the port (a reopened link can deliver it
                // before the handshake marks the phase `.connecting`): expected.
                return nil
            }
            s.epoch += 1
            s.info = info
            // Behind a broker the broker restores the dongle's state for all its clients.
            s.phase = info.isBrokered ? .ready : .restoring
            s.counters.reboots += 1
            let failed = Array(s.pending.values)
            s.pending.removeAll()
            if info.isBrokered { admit(&s) }
            return (failed, s.epoch)
        }
        eventStream.yield(.hello(info))
        guard let (failed, gen) = outcome else { return }
        for p in failed { p.continuation?.resume(throwing: ESPNowError.deviceRebooted(command: p.code)) }
        if info.isBrokered {
            logger.warning("the broker's dongle rebooted; the broker restored its state",
                           metadata: ["port": "\(path)", "boot": "\(info.bootCount)", "failed_calls": "\(failed.count)"])
            eventStream.yield(.rebooted(info, failedCalls: failed.count))
            return
        }
        logger.warning("dongle rebooted; restoring state",
                       metadata: ["port": "\(path)", "boot": "\(info.bootCount)", "failed_calls": "\(failed.count)"])
        eventStream.yield(.rebooted(info, failedCalls: failed.count))
        Task { await self.restore(generation: gen) }
    }

    /// Replays the recorded state; users' calls wait until it is done.
    func restore(generation gen: UInt64) async {
        let steps = state.withLockedValue { $0.record.steps }
        var failed: [String] = []
        for step in steps {
            guard state.withLockedValue({ $0.epoch == gen && $0.phase == .restoring }) else { return }
            do {
                _ = try await call(step.command, step.fields, isInternal: true, record: false)
            } catch {
                failed.append("\(step.label): \(error)")
            }
        }
        let done = state.withLockedValue { s -> Bool in
            guard s.epoch == gen, s.phase == .restoring else { return false }
            s.phase = .ready
            admit(&s)
            return true
        }
        guard done else { return }
        if failed.isEmpty {
            logger.notice("state restored", metadata: ["port": "\(path)", "steps": "\(steps.count)"])
        } else {
            logger.error("state restore incomplete", metadata: ["port": "\(path)", "failed": "\(failed)"])
        }
        eventStream.yield(.restored(steps: steps.count, failed: failed))
    }
}

/// Received packets as an `AsyncSequence`; each `next()` is cancellation-safe (see
/// ``PacketQueue``). Throws `CancellationError` when the task is cancelled, and
/// ``ESPNowError/closed`` or ``ESPNowError/unplugged(path:)`` once the link is gone for good
/// (after the packets still queued).
public struct PacketSequence: AsyncSequence, Sendable {
    public typealias Element = ReceivedPacket
    let queue: PacketQueue
    public struct AsyncIterator: AsyncIteratorProtocol {
        let queue: PacketQueue
        public mutating func next() async throws -> ReceivedPacket? {
            try await queue.next(timeout: nil)
        }
    }
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: queue) }
}

/// Where a call's outcome goes: an awaiting task, or a callback (``ESPNowDevice/forward``).
enum Reply: Sendable {
    case continuation(CheckedContinuation<ESPNowDevice.Response, any Error>)
    case callback(@Sendable (Result<ESPNowDevice.Response, any Error>) -> Void)

    func resume(with r: Result<ESPNowDevice.Response, any Error>) {
        switch self {
        case .continuation(let c): c.resume(with: r)
        case .callback(let f): f(r)
        }
    }

    func resume(throwing e: any Error) { resume(with: .failure(e)) }
}
