import ESPNowSerial
import ESPNowWire
import Logging
import NIOCore

/// What comes from the dongle, on the link's thread: responses matched to their calls,
/// events to their queues and streams, a reboot's HELLO to the restore.
extension ESPNowDevice {
    /// One read of the link. Its RECV events go to the packet queue together (one lock for
    /// the counters and peers, one for the queue); anything else is handled where it stands,
    /// after the packets before it.
    func inbound(_ batch: [LinkInbound], generation: UInt64) {
        var run = RecvRun()
        let fast = options.eventTap == nil
        for item in batch {
            if fast, case .frame(let f) = item, f.header.kind == .event, f.header.code == EventCode.recv.rawValue {
                run.add(f)
                continue
            }
            if !run.isEmpty { deliver(&run, generation: generation) }
            inbound(item, generation: generation)
        }
        if !run.isEmpty { deliver(&run, generation: generation) }
    }

    func inbound(_ item: LinkInbound, generation: UInt64) {
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
            state.withLockedValue { s in Self.countFrame(&s, f) }
            switch f.header.kind {
            case .response: response(f, generation: generation)
            case .event:
                if let tap = options.eventTap, tap(f), f.header.code == EventCode.recv.rawValue { return }
                event(f, generation: generation)
            case .request: break
            }
        }
    }

    func response(_ f: DecodedFrame, generation: UInt64) {
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

    static func countFrame(_ s: inout State, _ f: DecodedFrame) {
        s.counters.link.frames += 1
        s.rxFrames += 1
        s.rxBytes += UInt64(LinePace.wireBytes(body: f.body.readableBytes))
    }

    /// RECV events parsed, not yet queued.
    struct RecvRun {
        var packets: [ReceivedPacket] = []
        var frames = 0
        var wireBytes = 0
        var badBodies = 0
        var isEmpty: Bool { frames == 0 }

        mutating func add(_ f: DecodedFrame, countFrame: Bool = true) {
            if countFrame {
                frames += 1
                wireBytes += LinePace.wireBytes(body: f.body.readableBytes)
            }
            let body = f.body
            let parsed: ReceivedPacket? = body.withUnsafeReadableBytes { raw in
                guard let v = try? RecvEventView(body: raw) else { return nil }
                let offset = v.bodyCount - v.data.count
                return ReceivedPacket(src: v.srcAddr, dst: v.dst, dstAddr: v.dstAddr, rate: v.rate, rssi: v.rssi,
                                      channel: v.channel, timestampUs: v.timestampUs,
                                      data: f.body.getSlice(at: f.body.readerIndex + offset, length: v.data.count)!)
            }
            if let p = parsed { packets.append(p) } else { badBodies += 1 }
        }
    }

    /// A RECV event that came as an event (through the tap, or counted already).
    func recv(_ f: DecodedFrame, generation: UInt64, countFrame: Bool) {
        var run = RecvRun()
        run.add(f, countFrame: countFrame)
        deliver(&run, generation: generation)
    }

    /// Queues parsed packets (or hands them to waiting readers); the frames' counters and the
    /// peers table are updated under one lock.
    func deliver(_ run: inout RecvRun, generation: UInt64) {
        defer { run = RecvRun() }
        let now = NIODeadline.now().uptimeNanoseconds / 1_000_000
        state.withLockedValue { s in
            s.counters.link.frames += UInt64(run.frames)
            s.rxFrames += UInt64(run.frames)
            s.rxBytes += UInt64(run.wireBytes)
            s.counters.link.badBody += UInt64(run.badBodies)
            // The last packet of each run from one sender is the one that stays.
            let ps = run.packets
            for i in ps.indices where i == ps.count - 1 || ps[i + 1].src != ps[i].src {
                s.peersTable[ps[i].src] = (ps[i].rssi, now)
            }
        }
        guard !run.packets.isEmpty, packetQueue.push(contentsOf: run.packets) else { return }
        // Full: stop reading, unless a response is awaited (it comes on this link).
        let link = state.withLockedValue { s -> (any FrameLink)? in
            guard s.pending.isEmpty, s.linkGen == generation, let l = s.link, packetQueue.pauseIfFull() else {
                return nil
            }
            return l
        }
        if let link { Self.applyReading(link, packetQueue) }
    }

    func event(_ f: DecodedFrame, generation: UInt64) {
        guard let code = EventCode(rawValue: f.header.code) else {
            state.withLockedValue { $0.counters.unknownEvents += 1 }
            return
        }
        switch code {
        case .recv:
            recv(f, generation: generation, countFrame: false)
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
    func helloEvent(_ info: DeviceInfo, generation: UInt64) {
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
