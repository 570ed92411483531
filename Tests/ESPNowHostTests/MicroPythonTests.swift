// Today's MicroPython espnow (its modespnow.c, espnow.py and documentation) against our API:
// defaults, exception classes, constants, counters and spellings a ported program relies on.
import ESPNow
import ESPNowSimulator
import Foundation
import Testing

/// Every dongle's STA interface up and ESP-NOW initialised, as each seed example starts.
func activateAll(_ es: [ESPNow]) async throws {
    for e in es {
        try await WLAN(.sta, e).active(true)
        try await e.initialize()
    }
}

/// Both dongles' STA interfaces up and ESP-NOW initialised, `b` registered on `a`.
func pair(_ es: [ESPNow]) async throws -> (a: ESPNow, b: ESPNow, peer: [UInt8]) {
    try await activateAll(es)
    let peer = try await sta(es[1])
    try await es[0].addPeer(peer)
    return (es[0], es[1], peer)
}

/// Polls the receiver's stats until `done` holds (a hang guard, not a timing bound).
func statsWhen(_ e: ESPNow, _ done: ((Int, Int, Int, Int, Int)) -> Bool) async throws -> (Int, Int, Int, Int, Int) {
    var s = try await e.stats()
    for _ in 0..<500 where !done(s) {
        try await Task.sleep(for: .milliseconds(10))
        s = try await e.stats()
    }
    return s
}

@Suite("MicroPython compatibility", .serialized)
struct MicroPythonTests {
    /// rxbuf defaults to two packets of the dongle's largest size plus MicroPython's
    /// 14-byte packet header, so long packets are not dropped by default.
    @Test func defaultRxbufHoldsLongPackets() async throws {
        #expect(ESPNow.defaultRxbuf(maxPayload: 250) == 528)
        #expect(ESPNow.defaultRxbuf(maxPayload: 1470) == 2968)
        try await withAir(AirOptions(dongles: 2)) { _, es in
            #expect(try es[1].config("rxbuf") == ESPNow.defaultRxbuf(maxPayload: es[1].device.info.maxPayload))
            let (a, b, peer) = try await pair(es)
            #expect(try b.config("rxbuf") == 2 * (14 + b.MAX_DATA_LEN))
            for n in [768, 1024, b.MAX_DATA_LEN] {
                let msg = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                #expect(try await a.send(peer, msg, true))
                let (from, got) = try await b.recv(10_000)
                #expect(from == (try await sta(a)), "\(n) bytes")
                let intact = got == msg
                #expect(intact, "\(n) bytes: got \(got?.count ?? 0)")
            }
            let s = try await b.stats()
            #expect(s.3 == 3 && s.4 == 0)
        }
    }

    /// MAX_DATA_LEN is the connected dongle's limit; the v1 limit keeps its own name.
    @Test func maxDataLenIsTheDonglesLimit() async throws {
        #expect(ESPNow.MAX_DATA_LEN_V1 == 250)
        #expect(ESPNow.ADDR_LEN == 6 && ESPNow.KEY_LEN == 16)
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (a, b, peer) = try await pair(es)
            #expect(a.MAX_DATA_LEN == a.device.info.maxPayload)
            #expect(a.MAX_DATA_LEN > ESPNow.MAX_DATA_LEN_V1)  // the simulator is a v2 build
            let msg = [UInt8](repeating: 0x5A, count: a.MAX_DATA_LEN)
            #expect(try await a.send(peer, msg))
            let got = try await b.recv(10_000).msg
            let intact = got == msg
            #expect(intact, "got \(got?.count ?? 0) bytes")
        }
    }

    /// Empty and over-long messages raise OSError(ESP_ERR_ESPNOW_ARG) as ESP-IDF makes
    /// MicroPython do, with MicroPython's errnum, and nothing is sent.
    @Test func badMessageLengthRaisesOSError() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (a, _, peer) = try await pair(es)
            for msg in [[UInt8](), [UInt8](repeating: 1, count: a.MAX_DATA_LEN + 1)] {
                let before = a.device.hostCounters.framesSent
                do {
                    try await a.send(peer, msg)
                    Issue.record("\(msg.count) bytes accepted")
                } catch let err as OSError {
                    #expect(err.args.1 == "ESP_ERR_ESPNOW_ARG")
                    #expect(err.args.0 == -0x3066)
                    #expect(err.detail?.contains("\(msg.count)") == true)
                }
                #expect(a.device.hostCounters.framesSent == before)
            }
            // The dongle's own refusals carry the same errnum.
            try await a.addPeer([2, 0, 0, 0, 0, 7])
            do {
                try await a.addPeer([2, 0, 0, 0, 0, 7])
                Issue.record("duplicate peer accepted")
            } catch let err as OSError {
                #expect(err.args.1 == "ESP_ERR_ESPNOW_EXIST" && err.args.0 == -0x306B)
            }
        }
    }

    /// A packet the dongle's buffer dropped is counted only in dropped_recv_packets.
    @Test func droppedPacketIsNotCountedAsReceived() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (a, b, peer) = try await pair(es)
            try await b.config(rxbuf: ESPNow.minRxbuf)
            #expect(try await a.send(peer, [UInt8](repeating: 3, count: 100)))  // acknowledged, then dropped
            let s = try await statsWhen(b) { $0.4 >= 1 }
            #expect(s == (0, 0, 0, 0, 1))
            #expect(try await b.recv(0).msg == nil)
            try await b.config(rxbuf: 4096)
            #expect(try await a.send(peer, [7]))
            #expect(try await b.recv(10_000).msg == [7])
            let t = try await b.stats()
            #expect(t.3 == 1 && t.4 == 1)
        }
    }

    /// `timeout_ms` and the seed's `timeout` are one setting; recv falls back to it.
    @Test func timeoutMsSpelling() async throws {
        try await withAir(AirOptions(dongles: 1)) { _, es in
            let e = es[0]
            #expect(try e.config("timeout_ms") == 300_000)
            try await e.config(timeoutMs: 1234)
            #expect(try e.config("timeout_ms") == 1234 && e.config("timeout") == 1234)
            try await e.config(timeout: 40)
            #expect(try e.config("timeout_ms") == 40)
            try await WLAN(.sta, e).active(true)
            try await e.initialize()
            let r = try await e.recv()  // the default timeout, not 5 minutes
            #expect(r.mac == nil && r.msg == nil)
        }
    }

    /// irq(callback) with a callback that throws: the error is counted and the callback
    /// keeps being called for later packets.
    @Test func irqWithThrowingCallback() async throws {
        struct Boom: Error {}
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (a, b, peer) = try await pair(es)
            let seen = Counter()
            b.irq { e in
                while true {
                    let (_, msg) = try await e.irecv(0)
                    guard let msg else { return }
                    seen.add(msg)
                    if msg == [1] { throw Boom() }
                }
            }
            try await a.send(peer, [1])
            try await seen.wait(for: 1)
            try await a.send(peer, [2])
            try await seen.wait(for: 2)
            try await a.send(peer, [3])
            try await seen.wait(for: 3)
            #expect(seen.values == [[1], [2], [3]])
            #expect(b.irqErrors == 1)
            // active(False) removes the callback, as in MicroPython.
            try await b.active(false)
            try await b.active(true)
            try await a.send(peer, [4])
            #expect(try await b.recv(10_000).msg == [4])
            #expect(seen.values.count == 3)
        }
    }

    /// irq calls the callback once per packet, as MicroPython schedules it, so a callback
    /// that reads one packet per call (MicroPython's own irq test) gets every packet even
    /// when they arrive together.
    @Test func irqCallsOncePerPacket() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (a, b, peer) = try await pair(es)
            let n = 40
            // Queued before the callback is installed: owed one call each too.
            for i in 0..<5 { try await a.send(peer, [UInt8(i)]) }
            _ = try await statsWhen(b) { $0.3 >= 5 }
            let seen = Counter()
            b.irq { e in
                if let msg = try await e.irecv(0).msg { seen.add(msg) }
            }
            for i in 5..<n { try await a.send(peer, [UInt8(i)], false) }
            try await seen.wait(for: n)
            #expect(seen.values == (0..<n).map { [UInt8($0)] })
            #expect(!b.any())
            b.irq(nil)
        }
    }

    /// recvinto([peer, buffer], timeout_ms): fills the buffers, 0 on timeout; a message
    /// larger than the buffer raises ValueError and is not lost.
    @Test func recvinto() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (a, b, peer) = try await pair(es)
            var data: [[UInt8]] = [[UInt8](repeating: 0, count: 6), [UInt8](repeating: 0, count: b.MAX_DATA_LEN)]
            #expect(try await b.recvinto(&data, 0) == 0)
            try await a.send(peer, "hello")
            #expect(try await b.recvinto(&data, 10_000) == 5)
            #expect(data[0] == (try await sta(a)))
            #expect(data[1] == Array("hello".utf8))
            var small: [[UInt8]] = [[], [0, 0]]
            try await a.send(peer, "too long")
            do {
                _ = try await b.recvinto(&small, 10_000)
                Issue.record("8 bytes fitted a 2-byte buffer")
            } catch let v as ValueError {
                #expect(v.message.contains("8"))
            }
            #expect(b.any())
            #expect(try await b.recv(0).msg == Array("too long".utf8))
            #expect(!b.any())
        }
    }

    /// aioespnow's asend/arecv/airecv, and `async for` waiting instead of yielding (nil, nil).
    @Test func asyncSpellingsAndIteratorWaits() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (a, b, peer) = try await pair(es)
            #expect(try await a.asend(peer, Array("one".utf8)))
            #expect(try await b.arecv().msg == Array("one".utf8))
            #expect(try await a.asend(Array("two".utf8)))
            #expect(try await b.airecv().msg == Array("two".utf8))
            try await b.config(timeoutMs: 20)  // would have expired many times over below
            let first = Task { () -> (mac: [UInt8]?, msg: [UInt8]?)? in
                for try await item in b { return item }
                return nil
            }
            try await Task.sleep(for: .milliseconds(300))
            try await a.send(peer, "late")
            let item = try await first.value
            #expect(item?.msg == Array("late".utf8))
            #expect(item?.mac == (try await sta(a)))
        }
    }

    /// config(rate=RATE_*) sets the ESP-NOW PHY rate on the active interfaces; the
    /// receiver sees it. No interface active: OSError ENOENT as in MicroPython.
    @Test func configRate() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            do {
                try await es[0].config(rate: ESPNow.RATE_54M)
                Issue.record("rate accepted with no interface active")
            } catch let err as OSError {
                #expect(err.args.0 == 2)
            }
            let (a, b, peer) = try await pair(es)
            try await a.config(rate: ESPNow.RATE_54M)
            try await a.send(peer, [1])
            #expect(try await b.recvPacket(10_000)?.rate == UInt8(ESPNow.RATE_54M))
            try await a.config(rate: ESPNow.RATE_1M)
            try await a.send(peer, [2])
            #expect(try await b.recvPacket(10_000)?.rate == UInt8(ESPNow.RATE_1M))
        }
    }

    /// WLAN(STA_IF)/WLAN(WLAN.IF_AP) by integer, config(protocol=PROTOCOL_*), pm=PM_*,
    /// and config('channel') as an integer.
    @Test func wlanSpellings() async throws {
        try await withAir(AirOptions(dongles: 1)) { _, es in
            let e = es[0]
            let sta = try WLAN(WLAN.STA_IF, e)
            let ap = try WLAN(WLAN.IF_AP, e)
            #expect(sta.interface == .sta && ap.interface == .ap)
            #expect(throws: ValueError.self) { try WLAN(2, e) }
            try await sta.active(true)
            let ch = try await sta.config("channel")
            #expect(ch == 1)
            #expect("\(ch)" == "1")  // prints like MicroPython's int, not "[1]"
            let n: Int = try await sta.config("channel")
            #expect(n == 1)
            let mac = try await sta.config("mac")
            #expect(mac.bytesValue == e.device.info.staMAC.bytes)
            try await sta.config(channel: 6)
            #expect(try await sta.config("channel") == 6)
            try await sta.config(protocol: WLAN.PROTOCOL_LR)
            #expect(try await sta.config("protocol") == .int(WLAN.PROTOCOL_LR))
            try await sta.config(protocol: WLAN.PROTOCOL_DEFAULT)
            #expect(try await sta.config("protocol") == .int(WLAN.PROTOCOL_DEFAULT))
            try await sta.config(pm: WLAN.PM_NONE)
            #expect(try await sta.config("pm") == .int(WLAN.PM_NONE))
            try await sta.config(pm: WLAN.PM_POWERSAVE)
            #expect(try await sta.config("ps_mode") == .int(WLAN.WIFI_PS_MAX_MODEM))
        }
    }

    /// add_peer/mod_peer arguments as MicroPython applies them: a non-empty lmk turns
    /// encryption on, an empty one turns it off and leaves the key; encrypt=True without a
    /// key is ESP-IDF's business (accepted, all-zero key).
    @Test func peerArgumentsAsMicroPython() async throws {
        try await withAir(AirOptions(dongles: 1)) { _, es in
            let e = es[0]
            try await WLAN(.sta, e).active(true)
            try await e.initialize()
            let key = [UInt8](repeating: 0x42, count: 16)
            let (p1, p2): ([UInt8], [UInt8]) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            try await e.addPeer(p1, encrypt: true)
            #expect(try await e.getPeer(p1).encrypt)
            try await e.addPeer(p2, key)
            #expect(try await e.peerCount() == (total: 2, encrypted: 2))
            try await e.modPeer(p2, lmk: [])
            let info = try await e.getPeer(p2)
            #expect(info.encrypt == false && info.lmk == key)
            try await e.modPeer(p2, channel: 0, encrypt: true)
            #expect(try await e.getPeer(p2).encrypt)
        }
    }

    /// peers_table's time is ticks_ms(): the host's monotonic milliseconds at arrival.
    @Test func peersTableTimeIsTicksMs() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (a, b, peer) = try await pair(es)
            let before = ESPNow.ticks_ms()
            try await a.send(peer, [1])
            _ = try await b.recv(10_000)
            let after = ESPNow.ticks_ms()
            let entry = try #require(b.peersTable[try await sta(a)])
            #expect(before <= entry.timeMs && entry.timeMs <= after)
            #expect(entry.rssi < 0)
        }
    }
}
