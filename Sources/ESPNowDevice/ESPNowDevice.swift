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
        /// One timer for every call's deadline.
        var callTimer = EarliestDeadlineTimer()
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

    /// Makes the link read, or not, as the queue's level asks now. At once: a serial port's
    /// thread stops reading before its next read (it reads up to 64 KiB at a time).
    static func applyReading(_ link: any FrameLink, _ queue: PacketQueue) {
        queue.applyReading { link.setReading($0) }
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
            s.callTimer.cancel()
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
                onInbound: { [weak self] batch in self?.inbound(batch, generation: gen) },
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
    static func drainAll(_ s: inout State) -> [Reply] {
        var out: [Reply] = []
        for (_, p) in s.pending {
            if let c = p.continuation { out.append(c) }
        }
        s.pending.removeAll()
        for q in s.queue { out.append(q.continuation) }
        s.queue.removeAll()
        return out
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
