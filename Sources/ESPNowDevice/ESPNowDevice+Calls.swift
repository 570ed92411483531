import ESPNowSerial
import ESPNowWire
import Logging
import NIOCore

/// Calls: queued in order, admitted into the device's window (PROTOCOL.md section 8),
/// written under the client's lock, retransmitted or failed when their deadline passes.
extension ESPNowDevice {
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
    func enqueue(_ q: Queued) -> Bool {
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
    func cancel(token: UInt64) {
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
    func admit(_ s: inout State) {
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

    /// An answered call leaves the shared timer alone: it costs no timer operation, and no
    /// thread wake-up, of its own.
    func armCallTimer(_ s: inout State, _ deadline: NIODeadline) {
        s.callTimer.arm(deadline, on: eventLoop) { [weak self] in self?.callTimerFired() }
    }

    /// The shared timer fired: every call whose deadline passed is looked at.
    func callTimerFired() {
        let now = NIODeadline.now()
        let failed: [(Reply?, CommandCode, Int)] = state.withLockedValue { s in
            s.callTimer.fired()
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
    func attemptTimedOut(_ s: inout State, _ id: UInt16, _ now: NIODeadline) -> (Reply?, CommandCode, Int)? {
        guard var p = s.pending[id] else { return nil }
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
}
