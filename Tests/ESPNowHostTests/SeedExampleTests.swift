// The seed's examples (MicroPython espnow docs) transliterated to Swift, against simulated dongles.
import ESPNow
import ESPNowSimulator
import Foundation
import NIOConcurrencyHelpers
import Testing

/// Two (or more) ESPNow objects on simulated dongles sharing one air.
func withESPNow(_ n: Int, _ body: ([ESPNow], SimulatedDongles) async throws -> Void) async throws {
    try await withDevices(n) { devs, sim in
        try await body(devs.map { ESPNow($0) }, sim)
    }
}

func sta(_ e: ESPNow) async throws -> [UInt8] { try await WLAN(.sta, e).config("mac") }

@Suite("seed examples", .serialized)
struct SeedExampleTests {
    @Test func senderAndReceiver() async throws {
        try await withESPNow(2) { es, _ in
            let (sender, receiver) = (es[0], es[1])
            let senderMAC = try await sta(sender)
            let peer = try await sta(receiver)
            // Receiver
            let (ready, readyTold) = AsyncStream.makeStream(of: Void.self)
            let received = Task { () -> [[UInt8]] in
                defer { readyTold.finish() }  // also when the set-up throws: the sender must not wait forever
                let w0 = WLAN(.sta, receiver)
                try await w0.active(true)
                try await receiver.initialize()
                try await receiver.addPeer(senderMAC)
                readyTold.finish()
                var msgs: [[UInt8]] = []
                while true {
                    let (host, msg) = try await receiver.irecv(10_000)  // seed: irecv() (5 min)
                    if let msg {
                        #expect(host == senderMAC)
                        msgs.append(msg)
                        if msg == Array("end".utf8) { break }
                    }
                }
                return msgs
            }
            // The seed runs the two on separate boards, the receiver started first: here the
            // sender begins once the receiver's ESP-NOW is up (a packet before that is not
            // received, as on a board).
            for await _ in ready {}
            // Sender
            let w0 = WLAN(.sta, sender)
            try await w0.active(true)
            try await sender.initialize()
            try await sender.addPeer(peer)
            #expect(try await sender.send("Starting..."))
            for i in 0..<100 {
                #expect(try await sender.send(peer, String(repeating: String(i), count: 20), true))
            }
            #expect(try await sender.send(Array("end".utf8)))
            let msgs = try await received.value
            #expect(msgs.count == 102)
            #expect(msgs.first == Array("Starting...".utf8))
            #expect(msgs[1 + 42] == Array(String(repeating: "42", count: 20).utf8))
            let st = try await sender.stats()
            #expect(st.0 == 102 && st.1 == 102 && st.2 == 0)
        }
    }

    @Test func broadcastAndSendToAllSkipsBroadcast() async throws {
        try await withESPNow(3) { es, _ in
            try await activateAll(es)
            let bcast: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            try await es[0].addPeer(bcast)
            #expect(try await es[0].send(bcast, Array("to all".utf8), true))  // always true for broadcast
            for r in es[1...] {
                let (mac, msg) = try await r.recv(20_000)
                #expect(msg == Array("to all".utf8))
                #expect(mac == (try await sta(es[0])))
            }
            // send(None): every peer except broadcast; with only the broadcast peer nothing goes out.
            let ghost: [UInt8] = [0x02, 0xde, 0xad, 0, 0, 1]
            try await es[0].addPeer(ghost)
            #expect(try await es[0].send(nil, Array("x".utf8), true) == false)  // the ghost never acks
            #expect(try await es[1].recv(200) == (nil, nil) as ([UInt8]?, [UInt8]?))
            #expect(try await es[0].peerCount().total == 2)
            // Encrypting a broadcast peer is refused as ESP-IDF refuses it: ESP_ERR_ESPNOW_ARG.
            do {
                try await es[0].modPeer(bcast, lmk: Array(repeating: 7, count: 16))
                Issue.record("encrypted broadcast peer accepted")
            } catch let err as OSError {
                #expect(err.args.1 == "ESP_ERR_ESPNOW_ARG")
            }
        }
    }

    @Test func errorHandlingExample() async throws {
        try await withESPNow(2) { es, _ in
            let e = es[0]
            let peer = try await sta(es[1])
            try await WLAN(.sta, es[1]).active(true)
            var recovered: [String] = []
            for _ in 0..<4 {
                do {
                    try await e.send(peer, "Hello")
                    break
                } catch let err as OSError {
                    recovered.append(err.args.1)
                    if err.args.1 == "ESP_ERR_ESPNOW_NOT_INIT" {
                        try await e.initialize()
                    } else if err.args.1 == "ESP_ERR_ESPNOW_NOT_FOUND" {
                        try await e.addPeer(peer)
                    } else if err.args.1 == "ESP_ERR_ESPNOW_IF" {
                        try await WLAN(.sta, e).active(true)
                    } else {
                        throw err
                    }
                }
            }
            #expect(recovered.first == "ESP_ERR_ESPNOW_NOT_INIT")
            #expect(recovered.contains("ESP_ERR_ESPNOW_NOT_FOUND"))
            #expect(recovered.contains("ESP_ERR_ESPNOW_IF"))
            #expect(try await e.send(peer, "Hello"))
            do {
                try await e.addPeer(peer)
                Issue.record("expected EXIST")
            } catch let err as OSError {
                #expect(err.errstring == "ESP_ERR_ESPNOW_EXIST" && err.errnum == -0x306B)  // MicroPython: -esp_err_t
            }
        }
    }

    @Test func iterationAndOnRecvCallbackDraining() async throws {
        try await withESPNow(2) { es, _ in
            let (a, b) = (es[0], es[1])
            try await activateAll(es)
            let peer = try await sta(b)
            try await a.addPeer(peer)
            // Iteration yields (mac, msg), waiting for each (never (nil, nil), as aioespnow).
            for i in 0..<3 { try await a.send(peer, [UInt8(i + 1)]) }
            var got: [[UInt8]] = []
            for try await (mac, msg) in b {
                #expect(mac == (try await sta(a)))
                got.append(try #require(msg))
                if got.count == 3 { break }
            }
            #expect(got == [[1], [2], [3]])
            // on_recv: the callback drains with poll()/irecv(0).
            let seen = Counter()
            b.config(onRecv: { e in
                while e.poll() {
                    if let m = try? await e.irecv(0).msg { seen.add(m) }
                }
            })
            for i in 0..<50 { try await a.send(peer, [UInt8(i)]) }
            try await seen.wait(for: 50)
            #expect(seen.values == (0..<50).map { [UInt8($0)] })
            b.config(onRecv: nil)
        }
    }

    @Test func streamAndAsyncReading() async throws {
        try await withESPNow(2) { es, _ in
            let (e, responder) = (es[0], es[1])
            for x in es {
                try await WLAN(.sta, x).active(true)
                try await x.initialize()
            }
            try await e.addPeer(try await sta(responder))
            try await responder.addPeer(try await sta(e))
            #expect(e.read() == nil)  // non-blocking, nothing yet
            // The responder answers every 'ping' with 'pong' three times, then 'stop'.
            let pongs = Task {
                for i in 0..<4 {
                    let (mac, _) = try await responder.recv(20_000)
                    try await responder.send(mac, i < 3 ? "pong" : "stop")
                }
            }
            let s = StreamReader(e)
            var rounds = 0
            while try await e.send(Array("ping".utf8)) {
                let msg = try await s.read1()
                if Array(msg[ESPNow.streamHeaderLength...]) != Array("pong".utf8) { break }
                rounds += 1
            }
            #expect(rounds == 3)
            try await pongs.value
            // read/readinto with the documented format; write sends buffer packets.
            try await responder.send(try await sta(e), "abc")
            try await responder.send(try await sta(e), "defg")
            // Both queued before the non-blocking reads (30 s: a hang guard, not a timing).
            let guardEnd = ContinuousClock.now + .seconds(30)
            while e.device.packetQueue.count < 2 && ContinuousClock.now < guardEnd {
                try await Task.sleep(for: .milliseconds(10))
            }
            var buf = [UInt8](repeating: 0, count: 10)
            #expect(e.readinto1(&buf) == 10)  // first 10 bytes of the first packet
            let rest = e.read1()!
            #expect(rest.count == ESPNow.streamHeaderLength + 3 - 10)
            let second = e.read()!
            #expect(second[0] == ESPNow.streamMagic && Array(second[16...]) == Array("defg".utf8))
            let pkt = ESPNow.streamPacket(mac: try await sta(responder), msg: Array("via write".utf8))
            #expect(try await e.write(pkt + pkt) == 2 * pkt.count)
            #expect(try await responder.recv(20_000).msg == Array("via write".utf8))
            #expect(try await responder.recv(20_000).msg == Array("via write".utf8))
        }
    }

    @Test func sleepExampleSendThenDeinit() async throws {
        try await withESPNow(2) { es, _ in
            let (e, other) = (es[0], es[1])
            try await WLAN(.sta, other).active(true)
            let peer = try await sta(other)
            try await e.initialize()
            let w0 = WLAN(.sta, e)
            try await w0.active(true)
            try await w0.config(channel: 6)
            try await WLAN(.sta, other).config(channel: 6)
            try await e.addPeer(peer)
            #expect(try await e.send(peer, Array("ping".utf8)))
            try await e.deinitialize()
            try await w0.active(false)
            // Not checked: w0.active() after active(false). The firmware's WIFI_SET_IF_ACTIVE
            // stops Wi-Fi without clearing the mode, so WIFI_GET_IF_ACTIVE still says true
            // (bridge_dispatch.c set_if_active; reported, not ours to edit).
            #expect(e.active() == false)
        }
    }
}

/// Collects values from callbacks and lets a test wait for a count.
final class Counter: @unchecked Sendable {
    private let lock = NIOLock()
    private var items: [[UInt8]] = []
    func add(_ v: [UInt8]) { lock.withLock { items.append(v) } }
    var values: [[UInt8]] { lock.withLock { items } }
    func wait(for n: Int, seconds: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while values.count < n && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
    }
}
