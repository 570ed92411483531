// Scenarios of MicroPython's two-board espnow suite (tests/multi_espnow), written against our
// API in MicroPython's order of calls (ESP-NOW active before the interface, PMK set, ...),
// with the outcomes MicroPython's expected output records.
import ESPNow
import ESPNowSimulator
import Foundation
import Testing

/// MicroPython's init order: `e.active(True)`, then the STA interface, then the PMK.
func micropythonInit(_ e: ESPNow, channel: Int? = nil, pmk: String = "MicroPyth0nRules") async throws -> WLAN {
    let sta = try WLAN(WLAN.IF_STA, e)
    try await e.active(true)
    try await sta.active(true)
    try await sta.disconnect()
    if let channel { try await sta.config(channel: channel) }
    try await e.setPMK(Array(pmk.utf8))
    return sta
}

/// Receives until a `timeoutMs` wait comes back empty.
func drain(_ e: ESPNow, timeoutMs: Int) async throws -> [[UInt8]] {
    var got: [[UInt8]] = []
    while true {
        let (peer, msg) = try await e.recv(timeoutMs)
        guard peer != nil, let msg else { return got }
        got.append(msg)
    }
}

@Suite("MicroPython's two-board scenarios", .serialized)
struct PortedScenarioTests {
    /// Channels: a peer registered on the interface's channel is reached; after moving the
    /// sender to another channel nothing arrives; moving back works again.
    @Test func channelScenario() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (rx, tx) = (es[0], es[1])
            let rxSTA = try await micropythonInit(rx, channel: 3)
            let txSTA = try await micropythonInit(tx, channel: 3)
            let peer: [UInt8] = try await rxSTA.config("mac")
            #expect("\(try await rxSTA.config("channel"))" == "3")
            var channels: [Int] = []
            for (text, channel) in [("right channel 1", 3), ("wrong channel", 8), ("right channel 2", 3)] {
                try await txSTA.config(channel: channel)
                try await tx.addPeer(peer, channel: channel)
                for _ in 0..<3 { _ = try await tx.send(peer, Array("sent to \(text)".utf8)) }
                try await tx.delPeer(peer)
                channels.append(try await txSTA.config("channel"))
            }
            #expect(channels == [3, 8, 3])
            let got = try await drain(rx, timeoutMs: 1000).map { String(decoding: $0, as: UTF8.self) }
            #expect(got == Array(repeating: "sent to right channel 1", count: 3) + Array(repeating: "sent to right channel 2", count: 3))
        }
    }

    /// PHY rates: with Long Range added to the default protocols on both sides, every
    /// RATE_* constant (LR ones included) carries the messages, in order.
    @Test func rateScenario() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (rx, tx) = (es[0], es[1])
            for e in es {
                let sta = try await micropythonInit(e, channel: 9)
                try await sta.config(protocol: WLAN.PROTOCOL_LR | WLAN.PROTOCOL_DEFAULT)
            }
            let peer = try await sta(rx)
            try await tx.addPeer(peer)
            let plan: [(String, Int?)] = [
                ("default rate", nil), ("5Mbit", ESPNow.RATE_5M), ("11Mbit", ESPNow.RATE_11M),
                ("24Mbit", ESPNow.RATE_24M), ("54Mbit", ESPNow.RATE_54M), ("250K LR", ESPNow.RATE_LORA_250K),
                ("500K LR", ESPNow.RATE_LORA_500K), ("1Mbit again", ESPNow.RATE_1M), ("11Mbit again", ESPNow.RATE_11M),
            ]
            var rates: [UInt8] = []
            for (text, rate) in plan {
                if let rate { try await tx.config(rate: rate) }
                for _ in 0..<3 { _ = try await tx.send(peer, Array(text.utf8)) }
                for _ in 0..<3 {
                    let p = try #require(try await rx.recvPacket(5000), "\(text)")
                    #expect(String(decoding: p.bytes, as: UTF8.self) == text)
                    rates.append(p.rate)
                }
            }
            try await tx.delPeer(peer)
            #expect(try await rx.recv(1000) == (nil, nil) as ([UInt8]?, [UInt8]?))
            // The RECV event's rate field has no code for the LR rates: 63, "unknown".
            let expected = [ESPNow.RATE_1M, ESPNow.RATE_5M, ESPNow.RATE_11M, ESPNow.RATE_24M, ESPNow.RATE_54M,
                            63, 63, ESPNow.RATE_1M, ESPNow.RATE_11M]
            #expect(rates == expected.flatMap { Array(repeating: UInt8($0), count: 3) })
        }
    }

    /// v2 long payloads through an echo server, read with recvinto, irecv, recv and the
    /// iterator, at the default rxbuf.
    @Test func longPayloadEchoScenario() async throws {
        try await withAir(AirOptions(dongles: 2)) { _, es in
            let (server, client) = (es[0], es[1])
            _ = try await micropythonInit(server, pmk: "VerySecretValue!")
            _ = try await micropythonInit(client, pmk: "VerySecretValue!")
            let serverMAC = try await sta(server)
            let echo = Task {
                var peers: [[UInt8]] = []
                while true {
                    let (peer, msg) = try await server.irecv(8000)
                    guard let peer, let msg else { return }
                    if !peers.contains(peer) {
                        peers.append(peer)
                        try await server.addPeer(peer)
                    }
                    #expect(try await server.send(peer, msg, true))
                    if msg == Array("!done".utf8) { return }
                }
            }
            try await client.config(timeoutMs: 8000)
            try await client.addPeer(serverMAC)
            func random(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255) } }

            var msg = random(768)
            #expect(try await client.send(serverMAC, msg, true))
            var data: [[UInt8]] = [[UInt8](repeating: 0, count: ESPNow.ADDR_LEN), [UInt8](repeating: 0, count: client.MAX_DATA_LEN)]
            #expect(try await client.recvinto(&data) == 768)
            #expect(data[1] == msg)

            msg = random(768)
            #expect(try await client.send(serverMAC, msg, true))
            #expect(try await client.irecv().msg == msg)

            msg = random(1024)
            #expect(try await client.send(serverMAC, msg, true))
            #expect(try await client.recv().msg == msg)

            msg = random(client.MAX_DATA_LEN)
            #expect(try await client.send(serverMAC, msg, true))
            var it = client.makeAsyncIterator()
            #expect(try await it.next()?.msg == msg)

            #expect(try await client.send(serverMAC, Array("!done".utf8), true))
            #expect(try await client.irecv().msg == Array("!done".utf8))
            try await echo.value
            let (c, sv) = (try await client.stats(), try await server.stats())
            #expect(c.4 == 0 && sv.4 == 0)
        }
    }
}
