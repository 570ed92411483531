import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Testing

/// Starts `n` simulated dongles and connects a device client to each.
func withDevices(_ n: Int, options: DeviceOptions = DeviceOptions(),
                 _ body: ([ESPNowDevice], SimulatedDongles) async throws -> Void) async throws {
    let sim = SimulatedDongles()
    defer { sim.shutdown() }
    let ports = try sim.start(n)
    var devices: [ESPNowDevice] = []
    for p in ports { devices.append(try await ESPNowDevice.connect(path: p.port, options: options)) }
    do {
        try await body(devices, sim)
    } catch {
        for d in devices { await d.close() }
        throw error
    }
    for d in devices { await d.close() }
}

func activate(_ d: ESPNowDevice) async throws {
    try await d.wifiSetIfActive(.sta, true)
    try await d.espNowInit()
}

@Suite("device client", .serialized)
struct DeviceTests {
    @Test func handshakeSendReceiveAndErrors() async throws {
        try await withDevices(2) { devs, _ in
            let (a, b) = (devs[0], devs[1])
            #expect(a.info.protoVersion == WireProtocol.version)
            #expect(a.info.maxEncryptedPeers == 7 && a.info.lostAtReset == 0)
            #expect(a.info.window >= 1)
            // Before esp_now_init the IDF error comes back with its name.
            do {
                try await a.espNowAddPeer(PeerInfo(peerAddr: b.info.staMAC))
                Issue.record("expected ESP_ERR_ESPNOW_NOT_INIT")
            } catch let e as ESPNowError {
                #expect(e.espName == "ESP_ERR_ESPNOW_NOT_INIT")
            }
            try await activate(a)
            try await activate(b)
            try await a.espNowAddPeer(PeerInfo(peerAddr: b.info.staMAC))
            await #expect(throws: ESPNowError.esp(ESPError(rawValue: 0x306B), command: .espnowAddPeer)) {
                try await a.espNowAddPeer(PeerInfo(peerAddr: b.info.staMAC))
            }
            let r = try await a.espNowSend(peer: b.info.staMAC, data: Array("hi".utf8), sync: true)
            #expect(r.statuses == 1 && r.failures == 0)
            #expect(r.peerStatuses.count == 1)
            let p = try await b.packetQueue.next(timeout: .seconds(30))
            #expect(p?.bytes == Array("hi".utf8))
            #expect(p?.src == a.info.staMAC)
            #expect(b.peersTable[a.info.staMAC] != nil)
            #expect(try await a.espNowGetPeerNum().total == 1)
            let ping = try await a.ping([1, 2, 3])
            #expect(ping.data == [1, 2, 3])
        }
    }

    /// The all-zero MAC is no address: refused before the wire (the dongle sees no frame and
    /// sends nothing); `peer: nil` is "every peer", carried by the protocol's own flag.
    @Test func zeroMACIsRefusedAndEveryPeerIsExplicit() async throws {
        try await withDevices(3) { devs, _ in
            let (a, b, c) = (devs[0], devs[1], devs[2])
            for d in devs { try await activate(d) }
            try await a.espNowAddPeer(PeerInfo(peerAddr: b.info.staMAC))
            try await a.espNowAddPeer(PeerInfo(peerAddr: c.info.staMAC))
            let before = try await a.stats()
            for sync in [true, false] {
                await #expect(throws: ESPNowError.self) {
                    _ = try await a.espNowSend(peer: .zero, data: Array("oops".utf8), sync: sync)
                }
            }
            await #expect(throws: ESPNowError.self) { try await a.espNowAddPeer(PeerInfo(peerAddr: .zero)) }
            let after = try await a.stats()
            #expect(after["link_rx_frames"] == before["link_rx_frames"] + 1)   // only the second STATS
            #expect(after.txPackets == before.txPackets)
            let r = try await a.espNowSend(peer: nil, data: Array("all".utf8), sync: true)
            #expect(r.statuses == 2 && r.failures == 0)
            #expect(Set(r.peerStatuses.map(\.peer)) == [b.info.staMAC, c.info.staMAC])
            for d in [b, c] {
                let p = try await d.packetQueue.next(timeout: .seconds(30))
                #expect(p?.bytes == Array("all".utf8))
            }
        }
    }

    @Test func pipelinedSyncSends() async throws {
        try await withDevices(2) { devs, _ in
            let (a, b) = (devs[0], devs[1])
            try await activate(a)
            try await activate(b)
            try await a.espNowAddPeer(PeerInfo(peerAddr: b.info.staMAC))
            let n = 64
            let clock = ContinuousClock()
            let t0 = clock.now
            _ = try await a.espNowSend(peer: b.info.staMAC, data: [0], sync: true)
            let one = clock.now - t0
            let t1 = clock.now
            let ok = try await withThrowingTaskGroup(of: Bool.self) { g in
                for i in 0..<n {
                    g.addTask { try await a.espNowSend(peer: b.info.staMAC, data: [UInt8(i)], sync: true).failures == 0 }
                }
                var c = 0
                for try await r in g where r { c += 1 }
                return c
            }
            let all = clock.now - t1
            #expect(ok == n)
            print("pipelining: 1 sync send \(one), \(n) concurrent sync sends \(all) (window \(a.info.window))")
            var got = 0
            while try await b.packetQueue.next(timeout: .seconds(30)) != nil {
                got += 1
                if got == n + 1 { break }
            }
            #expect(got == n + 1)
        }
    }
}
