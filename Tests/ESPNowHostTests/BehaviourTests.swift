import ESPNow
import ESPNowSimulator
import Foundation
import Testing

@Suite("validation, cancellation, recovery", .serialized)
struct BehaviourTests {
    /// Every bad input is refused with ValueError before anything touches the wire
    /// (the device's link_rx_frames does not move).
    @Test func badInputIsRejectedBeforeTheWire() async throws {
        try await withESPNow(1) { es, _ in
            let e = es[0]
            let w = WLAN(.sta, e)
            let ap = WLAN(.ap, e)
            try await w.active(true)
            try await e.initialize()
            let good: [UInt8] = [2, 0, 0, 0, 0, 9]
            let bcast: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            let multicast: [UInt8] = [0x01, 0x00, 0x5e, 0, 0, 1]
            let key = [UInt8](repeating: 1, count: 16)
            let cases: [(String, @Sendable () async throws -> Void)] = [
                ("mac 5 bytes", { try await e.send([1, 2, 3, 4, 5], [1]) }),
                ("mac 7 bytes", { try await e.addPeer([1, 2, 3, 4, 5, 6, 7]) }),
                ("empty message", { try await e.send(good, [UInt8]()) }),
                ("message too long", { try await e.send(good, [UInt8](repeating: 0, count: e.maxDataLen + 1)) }),
                ("key 15 bytes", { try await e.setPMK([UInt8](repeating: 0, count: 15)) }),
                ("lmk 17 bytes", { try await e.addPeer(good, lmk: [UInt8](repeating: 0, count: 17)) }),
                ("channel 15", { try await e.addPeer(good, channel: 15) }),
                ("channel -1", { try await e.addPeer(good, channel: -1) }),
                ("ifidx 2", { try await e.addPeer(good, ifidx: 2) }),
                ("encrypted broadcast", { try await e.addPeer(bcast, lmk: key) }),
                ("encrypted multicast", { try await e.addPeer(multicast, nil, nil, nil, true) }),
                ("encrypt without key", { try await e.addPeer(good, encrypt: true) }),
                ("get_peer bad mac", { _ = try await e.getPeer([]) }),
                ("del_peer bad mac", { try await e.delPeer([1]) }),
                ("rxbuf 0", { try await e.config(rxbuf: 0) }),
                ("config unknown", { _ = try e.config("nope") }),
                ("clear(false)", { _ = try e.clear(false) }),
                ("wlan channel 20", { try await w.config(channel: 20) }),
                ("wlan ps_mode 9", { try await w.config(psMode: 9) }),
                ("wlan config unknown", { _ = try await w.config("nope") }),
                ("ap connect", { try await ap.connect("x") }),
                ("stream garbage", { _ = try await e.write([1, 2, 3]) }),
                ("stream truncated", { _ = try await e.write(Array(ESPNow.streamPacket(mac: good, msg: [1, 2]).dropLast())) }),
            ]
            let before = try await e.device.stats()["link_rx_frames"]
            for (name, body) in cases {
                do {
                    try await body()
                    Issue.record("\(name): accepted")
                } catch let v as ValueError {
                    #expect(!v.message.isEmpty, "\(name)")
                } catch {
                    Issue.record("\(name): \(error) is not a ValueError")
                }
            }
            // Only the two STATS requests and the WLAN active() reads went out.
            let after = try await e.device.stats()["link_rx_frames"]
            #expect(after - before <= 4)
        }
    }

    /// Cancelling a recv never loses a packet: each one is returned or stays queued.
    @Test func cancellingRecvLosesNothing() async throws {
        try await withESPNow(2) { es, _ in
            let (a, b) = (es[0], es[1])
            for e in es {
                try await WLAN(.sta, e).active(true)
                try await e.initialize()
            }
            let peer = try await sta(b)
            try await a.addPeer(peer)
            let n = 200
            let sender = Task { for i in 0..<n { try await a.send(peer, [UInt8(i & 0xFF), UInt8(i >> 8)]) } }
            var got: [[UInt8]] = []
            var cancelled = 0
            while got.count < n {
                let t = Task { try await b.recv(20_000) }
                if Int.random(in: 0..<3) == 0 {
                    await Task.yield()
                    t.cancel()
                }
                do {
                    let (_, msg) = try await t.value
                    guard let msg else { break }
                    got.append(msg)
                } catch is CancellationError {
                    cancelled += 1
                }
            }
            try await sender.value
            print("recv cancellation: \(cancelled) cancelled waits, \(got.count) packets")
            #expect(got.count == n)
            #expect(got == (0..<n).map { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        }
    }

    /// Cancelling sync sends leaves the client usable and the window consistent.
    @Test func cancellingSyncSendLeavesClientUsable() async throws {
        try await withESPNow(2) { es, _ in
            let (a, b) = (es[0], es[1])
            for e in es {
                try await WLAN(.sta, e).active(true)
                try await e.initialize()
            }
            let peer = try await sta(b)
            try await a.addPeer(peer)
            var tasks: [Task<Bool, any Error>] = []
            for i in 0..<40 { tasks.append(Task { try await a.send(peer, [UInt8(i)], true) }) }
            for t in tasks where Bool.random() { t.cancel() }
            var ok = 0, cancelled = 0
            for t in tasks {
                do { if try await t.value { ok += 1 } } catch is CancellationError { cancelled += 1 }
            }
            #expect(ok + cancelled == 40)
            for i in 0..<20 { #expect(try await a.send(peer, [UInt8(i)], true)) }
            #expect(try await a.device.ping([9]).data == [9])
        }
    }

    /// RESET in the middle of traffic: every send succeeded, threw, or is counted; the
    /// client restores interfaces, init and peers before new calls go on.
    @Test func recoveryAfterResetMidTraffic() async throws {
        try await withESPNow(2) { es, _ in
            let (a, b) = (es[0], es[1])
            for e in es {
                try await WLAN(.sta, e).active(true)
                try await e.initialize()
            }
            let peer = try await sta(b)
            try await a.addPeer(peer)
            try await a.setPMK([UInt8](repeating: 3, count: 16))
            try await a.config(rxbuf: 1024)
            let events = Task { () -> (rebooted: Int, restored: [String]?) in
                var r = 0
                for await ev in a.device.events {
                    if case .rebooted = ev { r += 1 }
                    if case .restored(_, let failed) = ev { return (r, failed) }
                }
                return (r, nil)
            }
            let total = 300
            let outcome = try await withThrowingTaskGroup(of: (Int, Int, Int).self) { g in
                for w in 0..<4 {
                    g.addTask {
                        var ok = 0, failed = 0, threw = 0
                        for i in 0..<(total / 4) {
                            do {
                                if try await a.send(peer, [UInt8(w), UInt8(i)], true) { ok += 1 } else { failed += 1 }
                            } catch {
                                threw += 1
                            }
                        }
                        return (ok, failed, threw)
                    }
                }
                g.addTask {
                    try await Task.sleep(for: .milliseconds(20))
                    try await a.device.reset()
                    return (0, 0, 0)
                }
                var sum = (0, 0, 0)
                for try await r in g { sum = (sum.0 + r.0, sum.1 + r.1, sum.2 + r.2) }
                return sum
            }
            print("reset mid-traffic: ok \(outcome.0), failed \(outcome.1), threw \(outcome.2)")
            #expect(outcome.0 + outcome.1 + outcome.2 == total)
            let ev = await events.value
            #expect(ev.rebooted == 1)
            #expect(ev.restored == [])
            #expect(a.device.hostCounters.reboots == 1)
            // Restored state: peer back, esp-now initialised, rxbuf set again.
            #expect(try await a.peerCount().total == 1)
            #expect(try await a.send(peer, "after reset"))
            #expect(try await a.device.setRxbuf(1024) == 1024)
        }
    }

    /// Unplug (the simulator dies: EIO/HUP on the tty) and replug on the same path.
    @Test func unplugAndReplugRestoresState() async throws {
        let sim = SimulatedDongles()
        defer { sim.shutdown() }
        let link = sim.airDir + "-dongle"
        let d0 = try sim.startOne(link: link)
        let other = try sim.startOne()
        let a = try await ESPNow.open(d0.port)
        let b = try await ESPNow.open(other.port)
        for e in [a, b] {
            try await WLAN(.sta, e).active(true)
            try await e.initialize()
        }
        let peer = try await sta(b)
        try await a.addPeer(peer)
        #expect(try await a.send(peer, "before"))
        let events = Task { () -> [String] in
            var seen: [String] = []
            for await ev in a.device.events {
                switch ev {
                case .unplugged: seen.append("unplugged")
                case .replugged: seen.append("replugged")
                case .restored(_, let f):
                    seen.append("restored \(f.count)")
                    return seen
                default: break
                }
            }
            return seen
        }
        _ = try sim.replug(d0)
        let seen = await events.value
        #expect(seen == ["unplugged", "replugged", "restored 0"])
        #expect(try await a.peerCount().total == 1)
        #expect(try await a.send(peer, "after"))
        #expect(try await b.recv(20_000).msg == Array("before".utf8))
        #expect(try await b.recv(20_000).msg == Array("after".utf8))
        await a.device.close()
        await b.device.close()
    }

    /// A second opener gets a clear "port busy" error naming the path.
    @Test func portBusy() async throws {
        try await withDevices(1) { devs, _ in
            do {
                _ = try await ESPNowDevice.connect(path: devs[0].path)
                Issue.record("second open succeeded")
            } catch let e as ESPNowError {
                #expect(e.description == "port busy: \(devs[0].path) (another program has it open)")
            }
        }
    }
}
