import ESPNow
import ESPNowSimulator
import Foundation
import Testing

@Suite("validation, cancellation, recovery", .serialized)
struct BehaviourTests {
    /// Every bad argument is refused before anything touches the wire (the client's
    /// framesSent does not move), with MicroPython's exception class: ValueError where
    /// MicroPython raises it, OSError(ESP_ERR_ESPNOW_ARG) where it leaves the check to
    /// ESP-IDF; the device layer throws `.invalidArgument`.
    @Test func badInputIsRejectedBeforeTheWire() async throws {
        enum Expect { case value, espnowArg, osError(String), device }
        try await withESPNow(1) { es, _ in
            let e = es[0]
            let d = e.device
            let w = WLAN(.sta, e)
            let ap = WLAN(.ap, e)
            try await w.active(true)
            try await e.initialize()
            let good: [UInt8] = [2, 0, 0, 0, 0, 9]
            try await e.addPeer(good)
            let bcast: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            let multicast: [UInt8] = [0x01, 0x00, 0x5e, 0, 0, 1]
            let key = [UInt8](repeating: 1, count: 16)
            let inactive = ESPNow(d)  // a second object on the dongle, never initialised
            let peer = PeerInfo(peerAddr: MACAddress(bytes: good)!)
            let cases: [(String, Expect, @Sendable () async throws -> Void)] = [
                ("mac 5 bytes", .value, { try await e.send([1, 2, 3, 4, 5], [1]) }),
                ("mac 7 bytes", .value, { try await e.addPeer([1, 2, 3, 4, 5, 6, 7]) }),
                ("empty message", .espnowArg, { try await e.send(good, [UInt8]()) }),
                ("message too long", .espnowArg, { try await e.send(good, [UInt8](repeating: 0, count: e.MAX_DATA_LEN + 1)) }),
                ("pmk 15 bytes", .value, { try await e.setPMK([UInt8](repeating: 0, count: 15)) }),
                ("lmk 17 bytes", .value, { try await e.addPeer(good, lmk: [UInt8](repeating: 0, count: 17)) }),
                ("channel 15", .espnowArg, { try await e.addPeer(good, channel: 15) }),
                ("channel -1", .espnowArg, { try await e.addPeer(good, channel: -1) }),
                ("ifidx 2", .espnowArg, { try await e.addPeer(good, ifidx: 2) }),
                ("encrypted broadcast", .espnowArg, { try await e.addPeer(bcast, lmk: key) }),
                ("encrypted multicast", .espnowArg, { try await e.addPeer(multicast, nil, nil, nil, true) }),
                ("mod_peer lmk 15 bytes", .value, { try await e.modPeer(good, lmk: [UInt8](repeating: 1, count: 15)) }),
                ("mod_peer lmk 17 bytes", .value, { try await e.modPeer(good, [UInt8](repeating: 1, count: 17)) }),
                ("mod_peer channel 15", .espnowArg, { try await e.modPeer(good, channel: 15) }),
                ("mod_peer ifidx 2", .espnowArg, { try await e.modPeer(good, ifidx: 2) }),
                ("get_peer bad mac", .value, { _ = try await e.getPeer([]) }),
                ("del_peer bad mac", .value, { try await e.delPeer([1]) }),
                ("rxbuf 0", .value, { try await e.config(rxbuf: 0) }),
                ("rxbuf 2^32 while inactive", .value, { try await inactive.config(rxbuf: 1 << 32) }),
                ("timeout and timeout_ms disagree", .value, { try await e.config(timeout: 1, timeoutMs: 2) }),
                ("rate 256", .osError("ESP_ERR_INVALID_ARG"), { try await e.config(rate: 256) }),
                ("config unknown", .value, { _ = try e.config("nope") }),
                ("clear(false)", .value, { _ = try e.clear(false) }),
                ("recvinto one buffer", .value, { var b: [[UInt8]] = [[]]; _ = try await e.recvinto(&b, 0) }),
                ("peer rate phymode 300", .espnowArg, { try await e.setPeerRate(good, phymode: 300, rate: 0) }),
                ("stream garbage", .value, { _ = try await e.write([1, 2, 3]) }),
                ("stream truncated", .value, { _ = try await e.write(Array(ESPNow.streamPacket(mac: good, msg: [1, 2]).dropLast())) }),
                ("stream empty message", .espnowArg, { _ = try await e.write(ESPNow.streamPacket(mac: good, msg: [])) }),
                ("WLAN(2)", .value, { _ = try WLAN(2, e) }),
                ("wlan channel 0", .value, { try await w.config(channel: 0) }),
                ("wlan channel 20", .value, { try await w.config(channel: 20) }),
                ("ap channel 0", .value, { try await ap.config(channel: 0) }),
                ("wlan ps_mode 9", .value, { try await w.config(psMode: 9) }),
                ("wlan pm -1", .value, { try await w.config(pm: -1) }),
                ("wlan protocol 256", .value, { try await w.config(protocol: 256) }),
                ("ap essid 33 bytes", .value, { try await ap.config(essid: String(repeating: "x", count: 33)) }),
                ("ap password 65 bytes", .value, { try await ap.config(password: String(repeating: "p", count: 65)) }),
                ("sta essid", .value, { try await w.config(essid: "x") }),
                ("wlan config unknown", .value, { let _: WLAN.ConfigValue = try await w.config("nope") }),
                ("ap connect", .value, { try await ap.connect("x") }),
                ("device wifiSetChannel 0", .device, { try await d.wifiSetChannel(primary: 0) }),
                ("device wifiSetChannel 15", .device, { try await d.wifiSetChannel(primary: 15) }),
                ("device second channel 3", .device, { try await d.wifiSetChannel(primary: 6, second: 3) }),
                ("device setRxbuf 0", .device, { _ = try await d.setRxbuf(0) }),
                ("device setRxbuf 63", .device, { _ = try await d.setRxbuf(63) }),
                ("device setRxbuf 2^32", .device, { _ = try await d.setRxbuf(1 << 32) }),
                ("device send empty", .device, { _ = try await d.espNowSend(peer: peer.peerAddr, data: [], sync: true) }),
                ("device add_peer channel 15", .device, { var p = peer; p.channel = 15; try await d.espNowAddPeer(p) }),
                ("device mod_peer lmk 15", .device, { var p = peer; p.lmk = Array(key.prefix(15)); try await d.espNowModPeer(p) }),
                ("device encrypted broadcast", .device, {
                    var p = PeerInfo(peerAddr: MACAddress(bytes: bcast)!); p.encrypt = true; p.lmk = key
                    try await d.espNowAddPeer(p)
                }),
                ("device AP channel 0", .device, {
                    try await d.wifiAPConfig(ssid: [0x41], password: [], channel: 0, authmode: 0, hidden: false, maxConnection: 4)
                }),
                ("device tx power 85", .device, { try await d.wifiSetMaxTxPower(85) }),
                ("device tx power 7", .device, { try await d.wifiSetMaxTxPower(7) }),
                ("device ping 65 bytes", .device, { _ = try await d.ping([UInt8](repeating: 0, count: 65)) }),
                ("device ssid 33 bytes", .device, { try await d.wifiStaConnect(ssid: [UInt8](repeating: 0x41, count: 33), password: []) }),
                ("device AP ssid 33 bytes", .device, {
                    try await d.wifiAPConfig(ssid: [UInt8](repeating: 0x41, count: 33), password: [], channel: 1, authmode: 0,
                                             hidden: false, maxConnection: 4)
                }),
            ]
            // The counter counts: one PING is one frame.
            let start = d.hostCounters.framesSent
            _ = try await d.ping()
            #expect(d.hostCounters.framesSent == start + 1)
            for (name, expect, body) in cases {
                let before = d.hostCounters.framesSent
                do {
                    try await body()
                    Issue.record("\(name): accepted")
                } catch let v as ValueError {
                    if case .value = expect {} else { Issue.record("\(name): \(v) is a ValueError") }
                    #expect(!v.message.isEmpty, "\(name)")
                } catch let o as OSError {
                    switch expect {
                    case .espnowArg: #expect(o.args.1 == "ESP_ERR_ESPNOW_ARG" && o.args.0 == -0x3066, "\(name)")
                    case .osError(let s): #expect(o.args.1 == s, "\(name)")
                    default: Issue.record("\(name): \(o) is an OSError")
                    }
                    #expect(o.detail?.isEmpty == false, "\(name): says what was wrong")
                } catch let err as ESPNowError {
                    if case .invalidArgument(let m) = err, case .device = expect {
                        #expect(!m.isEmpty, "\(name)")
                    } else {
                        Issue.record("\(name): \(err)")
                    }
                } catch {
                    Issue.record("\(name): \(error)")
                }
                #expect(d.hostCounters.framesSent == before, "\(name): frames went out")
            }
            #expect(inactive.active() == false)
            // The device's own count agrees: only the PING and this STATS reached it.
            // (A copy retransmitted on a busy machine counts on the host; the device counts
            // the ones that arrived before it answered STATS.)
            let rx = UInt64(try await d.stats()["link_rx_frames"])
            let h = d.hostCounters
            #expect(rx <= h.framesSent && rx + h.retransmissions >= h.framesSent, "device \(rx), host \(h.framesSent)")
        }
    }

    /// Client options no client can work with are refused before any port is opened.
    @Test func badDeviceOptionsAreRefused() async throws {
        let sim = SimulatedDongles()
        defer { sim.shutdown() }
        let port = try sim.start(1)[0].port
        var bad: [(String, DeviceOptions)] = []
        var o = DeviceOptions()
        o.attemptTimeout = .milliseconds(-1)
        bad.append(("attemptTimeout -1", o))
        o = DeviceOptions()
        o.attempts = 0
        bad.append(("attempts 0", o))
        o = DeviceOptions()
        o.packetQueueCapacity = 0
        bad.append(("packetQueueCapacity 0", o))
        for (name, options) in bad {
            do {
                let d = try await ESPNowDevice.connect(path: port, options: options)
                await d.close()
                Issue.record("\(name): accepted")
            } catch {
                guard case .invalidArgument = error else {
                    Issue.record("\(name): \(error)")
                    continue
                }
            }
        }
        // The dongle heard nothing from those attempts.
        let d = try await ESPNowDevice.connect(path: port)
        #expect(try await d.stats()["link_rx_frames"] == 2)  // this client's HELLO and STATS
        await d.close()
    }

    /// After a refused setting the host's view and the dongle's state agree: a rejected
    /// essid is not kept, an AP setting the dongle refused is not re-applied, and a refused
    /// rxbuf leaves ESP-NOW uninitialised with active() false.
    @Test func refusedSettingsLeaveNothingBehind() async throws {
        try await withESPNow(1) { es, _ in
            let e = es[0]
            let ap = WLAN(.ap, e)
            await #expect(throws: ValueError.self) { try await ap.config(essid: String(repeating: "x", count: 33)) }
            try await ap.active(true)
            #expect(try await ap.active())
            // Country 01 has channels 1...11: the dongle refuses 13; the AP keeps working.
            do {
                try await ap.config(channel: 13)
                Issue.record("channel 13 accepted")
            } catch let err as OSError {
                #expect(err.args.1 == "ESP_ERR_INVALID_ARG")
            }
            try await ap.active(false)
            try await ap.active(true)
            #expect(try await ap.active())
            // Given while inactive and refused at active(True): dropped too.
            try await ap.active(false)
            try await ap.config(channel: 12)
            await #expect(throws: OSError.self) { try await ap.active(true) }
            try await ap.active(false)
            try await ap.active(true)
            #expect(try await ap.active())

            try await WLAN(.sta, e).active(true)
            await #expect(throws: ValueError.self) { try await e.config(rxbuf: 1 << 32) }
            #expect(e.active() == false)
            do {
                _ = try await e.peerCount()
                Issue.record("ESP-NOW initialised on the dongle")
            } catch let err as OSError {
                #expect(err.args.1 == "ESP_ERR_ESPNOW_NOT_INIT")
            }
            try await e.initialize()
            #expect(e.active())
            #expect(try e.config("rxbuf") == ESPNow.defaultRxbuf(maxPayload: e.MAX_DATA_LEN))
            // A size above the build's maximum: config('rxbuf') reports what is in force.
            try await e.config(rxbuf: 1 << 24)
            let inForce = try e.config("rxbuf")
            #expect(inForce < 1 << 24)
            #expect(try await e.device.setRxbuf(inForce) == inForce)
        }
    }

    /// Cancelling a recv never loses a packet: each one is returned or stays queued.
    @Test func cancellingRecvLosesNothing() async throws {
        try await withESPNow(2) { es, _ in
            let (a, b) = (es[0], es[1])
            try await activateAll(es)
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
            try await activateAll(es)
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
            try await activateAll(es)
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
