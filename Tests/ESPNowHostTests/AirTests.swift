// Tests against the coordinator (`espnow-sim --dongles N`, docs/SIMULATOR.md): the seed's
// "ESPNow and Wifi" examples with a simulated access point, peer management, serial link
// faults, and reboot/unplug/replug through the control socket.
// Assertions are on counts, bytes and codes only; timings are printed.
import ESPNow
import ESPNowDevice
import ESPNowSimulator
import Foundation
import NIOConcurrencyHelpers
import Testing

/// Collects what `e` receives until the test says the traffic is over and a receive then
/// comes back empty: the test decides when the stream ends, never a quiet gap while the
/// senders are still going (which a busy machine can produce).
final class Collector: Sendable {
    private let box = NIOLockedValueBox<(got: [[UInt8]], finished: Bool)>(([], false))
    private let task: NIOLockedValueBox<Task<Void, any Error>?> = NIOLockedValueBox(nil)

    init(_ e: ESPNow) {
        let box = self.box
        task.withLockedValue {
            $0 = Task {
                while true {
                    let (_, msg) = try await e.recv(500)
                    if let msg {
                        box.withLockedValue { $0.got.append(msg) }
                    } else if box.withLockedValue({ $0.finished }) {
                        return
                    }
                }
            }
        }
    }

    var received: [[UInt8]] { box.withLockedValue { $0.got } }

    /// Waits (a hang guard of `guardSeconds`, not a pass condition) until `complete` holds
    /// for what arrived, then ends the collection and returns everything received.
    func finish(guardSeconds: Double = 60, when complete: ([[UInt8]]) -> Bool = { _ in true }) async throws -> [[UInt8]] {
        let end = ContinuousClock.now + .seconds(guardSeconds)
        while !complete(received) && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
        box.withLockedValue { $0.finished = true }
        try await task.withLockedValue({ $0 })?.value
        return received
    }
}

/// Starts a coordinator with `options` and opens an ESPNow object on each dongle.
func withAir(_ options: AirOptions, device: DeviceOptions = DeviceOptions(),
             _ body: (SimulatedAir, [ESPNow]) async throws -> Void) async throws {
    let air = try await SimulatedAir.start(options)
    defer { air.shutdown() }
    var es: [ESPNow] = []
    do {
        for d in air.dongles { es.append(try await ESPNow.open(d.port!, options: device)) }
        try await body(air, es)
    } catch {
        for e in es { await e.device.close() }
        throw error
    }
    for e in es { await e.device.close() }
}

/// Payload `i` of the fault tests: a 2-byte sequence number, then a pattern derived from it.
func faultPayload(_ i: Int) -> [UInt8] {
    let len = 24 + (i * 37) % 200
    return [UInt8(i & 0xFF), UInt8(i >> 8)] + (2..<len).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 7) }
}

/// Polls `isconnected()` like the seed's `while not w0.isconnected(): time.sleep(0.1)`.
func waitConnected(_ w: WLAN, tries: Int = 50) async throws -> Bool {
    for _ in 0..<tries {
        if try await w.isconnected() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}

func peerChannelError(_ body: () async throws -> Bool) async -> String? {
    do {
        _ = try await body()
        return nil
    } catch let e as OSError {
        return e.errstring
    } catch {
        return "\(error)"
    }
}

@Suite("simulated air: Wi-Fi, peers, link faults, control socket", .serialized)
struct AirTests {
    /// Seed "ESPNow and Wifi", example 1: connect STA_IF to an AP, disable power saving,
    /// send on STA_IF. Connecting moves the home channel to the AP's; an ESP-NOW peer has
    /// to follow (the other radio moves; a peer registered on the old channel is refused
    /// with ESP_ERR_ESPNOW_CHAN until mod_peer moves it).
    @Test func espnowAndWifiExample1() async throws {
        let ap = SimAccessPoint(ssid: "myssid", password: "mypassword", channel: 6)
        try await withAir(AirOptions(dongles: 2, accessPoints: [ap])) { _, es in
            let (e, other) = (es[0], es[1])
            let w1 = WLAN(.sta, other)
            try await w1.active(true)
            try await other.initialize()
            let peer: [UInt8] = try await w1.config("mac")

            // --- the seed's example ---
            try await e.initialize()
            let w0 = WLAN(.sta, e)
            try await w0.active(true)
            #expect(try await w0.config("channel") == 1)
            // A wrong password first: STAT_WRONG_PASSWORD (202), not connected, channel unchanged.
            try await w0.connect("myssid", "wrong password")
            #expect(try await w0.isconnected() == false)
            #expect(try await e.device.wifiStaStatus().status == 202)
            #expect(try await w0.config("channel") == 1)
            try await w0.connect("myssid", "mypassword")
            #expect(try await waitConnected(w0))
            try await w0.config(psMode: WLAN.WIFI_PS_NONE)
            #expect(try await w0.config("channel") == 6)  // home channel moved to the AP's
            try await e.addPeer(peer)  // channel 0: the home channel
            // The peer radio is still on channel 1: nobody acknowledges.
            #expect(try await e.send(peer, Array("ping".utf8)) == false)
            // The peer follows to channel 6.
            try await w1.config(channel: 6)
            #expect(try await e.send(peer, Array("ping".utf8)))
            let myMAC: [UInt8] = try await w0.config("mac")
            print("Send me messages at:", myMAC.map { String(format: "%02x", $0) }.joined(separator: ":"))
            let (from, msg) = try await other.recv(20_000)
            #expect(from == myMAC && msg == Array("ping".utf8))

            // A peer registered with an explicit channel must follow too.
            try await e.delPeer(peer)
            try await e.addPeer(peer, channel: 1)
            #expect(await peerChannelError { try await e.send(peer, Array("x".utf8)) } == "ESP_ERR_ESPNOW_CHAN")
            try await e.modPeer(peer, channel: 6)  // keyword form
            #expect(try await e.getPeer(peer).channel == 6)
            #expect(try await e.send(peer, Array("after mod_peer".utf8)))
            #expect(try await other.recv(20_000).msg == Array("after mod_peer".utf8))
            // The STA is still associated.
            #expect(try await w0.isconnected())
            let st = try await e.device.wifiStaStatus()
            #expect(st.channel == 6 && st.status == 1010)
        }
    }

    /// Seed "ESPNow and Wifi", example 2: STA_IF connected, ESP-NOW on AP_IF. The AP_IF
    /// operates on the STA's (the AP's) channel whatever was configured; messages come
    /// from the AP_IF MAC.
    @Test func espnowAndWifiExample2() async throws {
        let ap = SimAccessPoint(ssid: "myssid", password: "myppassword", channel: 11)
        try await withAir(AirOptions(dongles: 2, accessPoints: [ap])) { _, es in
            let (e, other) = (es[0], es[1])
            let wo = WLAN(.sta, other)
            try await wo.active(true)
            try await wo.config(channel: 11)  // the peer radio lives on the AP's channel
            try await other.initialize()
            let peer: [UInt8] = try await wo.config("mac")

            // --- the seed's example ---
            try await e.initialize()
            let w0 = WLAN(.sta, e)
            try await w0.config(channel: 6)  // before active(True): applied on activation
            try await w0.active(true)
            #expect(try await w0.config("channel") == 6)
            try await w0.connect("myssid", "myppassword")
            #expect(try await waitConnected(w0))
            #expect(try await w0.config("channel") == 11)

            let w1 = WLAN(.ap, e)
            try await w1.config(hidden: true)  // AP_IF operates on same channel as STA_IF
            try await w1.active(true)
            #expect(try await w1.config("channel") == 11)
            #expect(try await w0.config("channel") == 11)
            #expect(try await w0.isconnected())  // still associated

            try await e.addPeer(peer, nil, nil, WLAN.AP_IF)  // register peer on AP_IF
            #expect(try await e.getPeer(peer).ifidx == WLAN.AP_IF)
            #expect(try await e.send(peer, Array("ping".utf8)))  // message will be from AP_IF mac address
            let apMAC: [UInt8] = try await w1.config("mac")
            print("Send me messages at:", apMAC.map { String(format: "%02x", $0) }.joined(separator: ":"))
            #expect(apMAC != (try await w0.config("mac")))
            let (from, msg) = try await other.recv(20_000)
            #expect(from == apMAC)
            #expect(msg == Array("ping".utf8))

            // The other direction: addressed to the AP_IF MAC.
            try await other.addPeer(apMAC)
            #expect(try await other.send(apMAC, "pong"))
            let back = try await e.recv(20_000)
            #expect(back.mac == peer && back.msg == Array("pong".utf8))
        }
    }

    /// `get_peers()` and the keyword form of `mod_peer()`: only the given fields change.
    @Test func getPeersAndKeywordModPeer() async throws {
        try await withAir(AirOptions(dongles: 1)) { _, es in
            let e = es[0]
            try await WLAN(.sta, e).active(true)
            try await WLAN(.ap, e).active(true)
            try await e.initialize()
            #expect(try await e.getPeers().isEmpty)
            let m1: [UInt8] = [0x02, 0, 0, 0, 0, 1]
            let m2: [UInt8] = [0x02, 0, 0, 0, 0, 2]
            let bcast: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            let k1 = [UInt8](repeating: 0x11, count: 16)
            let k2 = [UInt8](repeating: 0x22, count: 16)
            try await e.addPeer(m1, nil, 0, WLAN.STA_IF, false)  // positional
            try await e.addPeer(m2, lmk: k1, channel: 1)  // keyword
            try await e.addPeer(bcast)
            // get_peers() walks esp_now_fetch_peer, which (IDF doc, and so MicroPython)
            // returns unicast peers only; peer_count() counts the broadcast peer too.
            var peers = try await e.getPeers()
            #expect(peers.count == 2)
            #expect(Set(peers.map(\.mac)) == Set([m1, m2]))
            #expect(try await e.peerCount().total == 3)
            let p2 = try #require(peers.first { $0.mac == m2 })
            #expect(p2.lmk == k1 && p2.encrypt && p2.channel == 1 && p2.ifidx == WLAN.STA_IF)
            let p1 = try #require(peers.first { $0.mac == m1 })
            #expect(p1.lmk == [UInt8](repeating: 0, count: 16) && !p1.encrypt && p1.channel == 0)  // MicroPython: the 16 bytes

            try await e.modPeer(m1, ifidx: WLAN.AP_IF)  // only ifidx
            var q1 = try await e.getPeer(m1)
            #expect(q1.ifidx == WLAN.AP_IF && q1.channel == 0 && !q1.encrypt && q1.lmk == [UInt8](repeating: 0, count: 16))
            try await e.modPeer(m1, lmk: k2)  // a key: encrypted from now on
            q1 = try await e.getPeer(m1)
            #expect(q1.lmk == k2 && q1.encrypt && q1.ifidx == WLAN.AP_IF)
            try await e.modPeer(m2, channel: 3)  // lmk and encrypt stay
            let q2 = try await e.getPeer(m2)
            #expect(q2.channel == 3 && q2.lmk == k1 && q2.encrypt)
            try await e.modPeer(m2, encrypt: false)
            #expect(try await e.getPeer(m2).encrypt == false)
            #expect(try await e.peerCount().total == 3)
            #expect(try await e.peerCount().encrypted == 1)
            // Errors come back with their IDF names.
            do {
                try await e.modPeer([0x02, 9, 9, 9, 9, 9], channel: 1)
                Issue.record("mod_peer of an unknown peer succeeded")
            } catch let err as OSError {
                #expect(err.errstring == "ESP_ERR_ESPNOW_NOT_FOUND")
            }
            try await e.delPeer(m1)
            peers = try await e.getPeers()
            #expect(peers.map(\.mac) == [m2])
            #expect(try await e.peerCount().total == 2)
        }
    }

    /// Bit errors on the serial link in both directions: no corrupted payload is ever
    /// delivered, and no radio send happens twice (retransmitted requests are replays).
    @Test func bitErrorsNeitherCorruptNorDuplicate() async throws {
        var options = AirOptions(dongles: 2, faults: SerialFaults(berH2D: 1e-4, berD2H: 1e-4))
        options.seed = 5
        var dev = DeviceOptions()
        dev.attempts = 25  // a call fails only if 25 transmissions in a row are hit
        try await withAir(options, device: dev) { air, es in
            let (a, b) = (es[0], es[1])
            try await activateAll(es)
            let peer = try await sta(b)
            try await a.addPeer(peer)
            let before = try await a.device.stats()
            let airBefore = try await air.stats()
            let n = 300
            let clock = ContinuousClock()
            let t0 = clock.now
            let receiver = Collector(b)
            var ok = 0, failed = 0, threw = 0
            for i in 0..<n {
                do {
                    if try await a.send(peer, faultPayload(i), true) { ok += 1 } else { failed += 1 }
                } catch {
                    threw += 1
                }
            }
            let elapsed = clock.now - t0
            // Acknowledged packets can still be lost on the receiver's noisy link: end
            // when the traffic is over (nothing is asserted on how many arrived).
            let got = try await receiver.finish()
            let after = try await a.device.stats()
            let airAfter = try await air.stats()
            let txDelta = Int(after.txPackets - before.txPackets)
            let airTx = (airAfter[0]?.tx ?? 0) - (airBefore[0]?.tx ?? 0)
            var corrupted = 0
            var seqs: [Int] = []
            for m in got {
                let seq = m.count >= 2 ? Int(m[0]) | Int(m[1]) << 8 : -1
                if seq < 0 || seq >= n || m != faultPayload(seq) { corrupted += 1 } else { seqs.append(seq) }
            }
            let ha = a.device.hostCounters, hb = b.device.hostCounters
            let s0 = airAfter[0]
            print("""
                BER 1e-4: \(n) sync sends in \(elapsed): ok \(ok), failed \(failed), threw \(threw); \
                tx_packets +\(txDelta), air tx +\(airTx); received \(got.count) (\(corrupted) corrupted); \
                device req_replayed \(after["req_replayed"]), bad CRC h2d \(after["link_rx_bad_crc"]) cobs \(after["link_rx_bad_cobs"]); \
                host A retransmissions \(ha.retransmissions), bad CRC d2h A \(ha.link.badCRC) B \(hb.link.badCRC); \
                flipped bits h2d \(s0?.h2d?.flippedBits ?? -1) d2h \(s0?.d2h?.flippedBits ?? -1)
                """)
            #expect(corrupted == 0)
            #expect(Set(seqs).count == seqs.count)  // nothing delivered twice
            #expect(ok + failed + threw == n)
            #expect(threw == 0)
            // Every esp_now_send the dongle executed is one the host saw an answer to:
            // retransmissions were answered from the replay window, never executed again.
            #expect(txDelta == ok + failed)
            #expect(airTx == ok + failed)
            #expect(seqs.count <= ok)
            // The faults were real: bits flipped both ways, and some requests were replayed.
            #expect((s0?.h2d?.flippedBits ?? 0) > 0 && (s0?.d2h?.flippedBits ?? 0) > 0)
            #expect(after["req_replayed"] > before["req_replayed"])
            #expect(ha.retransmissions > 0)
        }
    }

    /// Reboot through the control socket in the middle of traffic: every send succeeded,
    /// failed, or threw; every acknowledged one arrived; the client restored its state.
    @Test func rebootViaControlSocketMidTraffic() async throws {
        try await withAir(AirOptions(dongles: 2)) { air, es in
            let (a, b) = (es[0], es[1])
            try await activateAll(es)
            let peer = try await sta(b)
            try await a.addPeer(peer)
            try await a.config(rxbuf: 1024)
            let deviceEvents = Task { () -> (rebooted: Int, failedCalls: Int, restored: [String]?) in
                var r = 0, f = 0
                for await ev in a.device.events {
                    if case .rebooted(_, let n) = ev { r += 1; f += n }
                    if case .restored(_, let failed) = ev { return (r, f, failed) }
                }
                return (r, f, nil)
            }
            let receiver = Collector(b)
            let workers = 4, perWorker = 75
            let results = try await withThrowingTaskGroup(of: (ok: [[UInt8]], failed: Int, threw: Int).self) { g in
                for w in 0..<workers {
                    g.addTask {
                        var ok: [[UInt8]] = [], failed = 0, threw = 0
                        for i in 0..<perWorker {
                            if w == 0 && i == 10 { try await air.reboot(0) }  // mid-traffic, by count
                            let msg = [UInt8(w), UInt8(i)]
                            do {
                                if try await a.send(peer, msg, true) { ok.append(msg) } else { failed += 1 }
                            } catch {
                                threw += 1
                            }
                        }
                        return (ok, failed, threw)
                    }
                }
                var all: [(ok: [[UInt8]], failed: Int, threw: Int)] = []
                for try await r in g { all.append(r) }
                return all
            }
            let ok = results.flatMap(\.ok), failed = results.map(\.failed).reduce(0, +), threw = results.map(\.threw).reduce(0, +)
            let ev = await deviceEvents.value
            // What the receiver's dongle or host dropped (its buffer full: a slow host) is
            // counted there; on a machine that keeps up this is zero.
            let counted = { () -> Int in
                let h = b.device.hostCounters
                return Int((h.deviceDropped[1] ?? 0) + h.packetsDropped)
            }
            let received = Set(try await receiver.finish { Set(ok).subtracting($0).count <= counted() })
            let missing = Set(ok).subtracting(received).count
            print("reboot via control socket: ok \(ok.count), failed \(failed), threw \(threw); "
                  + "in-flight calls failed by the reboot \(ev.failedCalls); received \(received.count); "
                  + "acknowledged but not received \(missing), receiver counted \(counted()) dropped")
            #expect(ok.count + failed + threw == workers * perWorker)
            #expect(missing <= counted())  // an acknowledged send is delivered, or its loss counted
            #expect(ev.rebooted == 1)
            #expect(ev.restored == [])
            #expect(air.radio(0)?.bootCount == 2)
            #expect(a.device.info.bootCount == 2)
            // State restored: the peer is back and rxbuf too.
            #expect(try await a.peerCount().total == 1)
            #expect(try await a.device.setRxbuf(1024) == 1024)
            #expect(try await a.send(peer, "after reboot"))
            #expect(try await b.recv(20_000).msg == Array("after reboot".utf8))
            let st = try await air.stats()
            #expect(st[0]?.bootCount == 2 && st[0]?.respawns == 0)
        }
    }

    /// Unplug and replug through the control socket: the pty closes, the `--link-dir`
    /// symlink comes back pointing at a new pty, the client reopens it and restores.
    @Test func unplugReplugViaControlSocket() async throws {
        try await withAir(AirOptions(dongles: 2)) { air, es in
            let (a, b) = (es[0], es[1])
            try await activateAll(es)
            let peer = try await sta(b)
            try await a.addPeer(peer)
            #expect(try await a.send(peer, "before"))
            let seen = Task { () -> [String] in
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
            try await air.unplug(0)
            // A send while unplugged throws (it does not vanish).
            var threwWhileUnplugged = false
            do { _ = try await a.send(peer, "while unplugged") } catch { threwWhileUnplugged = true }
            try await air.replug(0)
            #expect(await seen.value == ["unplugged", "replugged", "restored 0"])
            #expect(threwWhileUnplugged)
            // The coordinator announced both (its lines, in order).
            var it = air.events.makeAsyncIterator()
            #expect(await it.next() == .unplug(index: 0))
            if case .replug(let r)? = await it.next() {
                #expect(r.index == 0 && r.bootCount == 2 && r.port == air.dongles[0].port)
            } else {
                Issue.record("no replug line")
            }
            #expect(air.radio(0)?.bootCount == 2)
            #expect(try await a.peerCount().total == 1)
            #expect(try await a.send(peer, "after"))
            #expect(try await b.recv(20_000).msg == Array("before".utf8))
            #expect(try await b.recv(20_000).msg == Array("after".utf8))
        }
    }

    /// Control-socket errors come back as thrown SimulatorErrors; scripted nodes are listed.
    @Test func controlErrorsAndNodes() async throws {
        var o = AirOptions(dongles: 1, nodes: ["echo", "sensor,interval=50"])
        o.seed = 3
        let air = try await SimulatedAir.start(o)
        defer { air.shutdown() }
        #expect(air.dongles.count == 1 && air.nodes.map(\.script) == ["echo", "sensor"])
        #expect(air.dongles[0].staMAC != nil && air.dongles[0].port != nil)
        await #expect(throws: SimulatorError.self) { try await air.reboot(7) }
        await #expect(throws: SimulatorError.self) { try await air.control("frobnicate") }
        try await air.setBitErrorRate(0, .both, 0)
        let st = try await air.stats()
        #expect(st.radios.count == 3 && st[1]?.kind == "echo" && st[2]?.kind == "sensor")
    }
}
