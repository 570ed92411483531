// Several clients on one simulated dongle through a broker (PROTOCOL.md "Multiplexing").
// Assertions are on counts, bytes, ids and codes only.
import ESPNowBroker
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Testing

@Suite("broker: several clients on one dongle", .serialized)
struct MultiplexTests {
    /// A listener, a sender and a stats poller at once: every client gets every received
    /// packet, in order; each SEND_STATUS goes to its sender only, under the sender's own
    /// request ids; the poller's calls are answered throughout; HELLO says "brokered".
    @Test func threeClientsSeeWhatIsPromised() async throws {
        try await BrokerFixture.with { f in
            let listener = try await f.client()
            let sender = try await f.client()
            let poller = try await f.client()
            for c in [listener, sender, poller] {
                #expect(c.info.isBrokered)
                #expect(c.info.window == 8)
                #expect(c.info.staMAC == f.brokeredMAC)
            }
            #expect(f.broker.counters.clientsAttached == 3)

            let remoteMAC = f.remote.info.staMAC
            try await sender.espNowAddPeer(PeerInfo(peerAddr: remoteMAC))
            let statuses = Task { () -> [SendStatus] in
                var got: [SendStatus] = []
                for await s in sender.sendStatuses {
                    got.append(s)
                    if got.count == 30 { break }
                }
                return got
            }
            let polls = Task { () -> Int in
                var n = 0
                while !Task.isCancelled {
                    guard (try? await poller.stats()) != nil else { break }
                    n += 1
                }
                return n
            }
            // 20 sync and 10 async sends from the sender, 25 packets from the remote.
            var results: [SendResult] = []
            for i in 0..<20 { results.append(try await sender.espNowSend(peer: remoteMAC, data: [0xA0, UInt8(i)], sync: true)) }
            for i in 0..<10 { results.append(try await sender.espNowSend(peer: remoteMAC, data: [0xB0, UInt8(i)], sync: false)) }
            let incoming = (0..<25).map { [0xC0, UInt8($0)] + Array(repeating: UInt8($0), count: 40) }
            for m in incoming { _ = try await f.remote.espNowSend(peer: f.brokeredMAC, data: m, sync: true) }

            #expect(results.allSatisfy { $0.statuses == 1 })
            #expect(results.prefix(20).allSatisfy { $0.failures == 0 && $0.peerStatuses.count == 1 && $0.peerStatuses[0].success })
            let got = await statuses.value
            #expect(got.count == 30)
            #expect(got.allSatisfy { $0.success && $0.peer == remoteMAC })
            // The statuses carry the sender's own ids: those of its sync sends' results.
            let syncIDs = Set(results.prefix(20).map(\.requestID))
            #expect(syncIDs.count == 20)
            #expect(syncIDs.isSubset(of: Set(got.map(\.requestID))))

            for c in [listener, sender, poller] {
                #expect(try await receive(c, 25) == incoming)
            }
            // The remote heard all 30 of the sender's packets.
            var fromSender: [[UInt8]] = []
            while let p = f.remote.packetQueue.tryNext() { fromSender.append(Array(p.data.readableBytesView)) }
            #expect(fromSender.count == 30)

            polls.cancel()
            #expect(await polls.value > 0)
            // The others saw no status at all: each drains what it has without waiting.
            for c in [listener, poller] {
                let none = Task { () -> Int in
                    var n = 0
                    for await _ in c.sendStatuses { n += 1 }
                    return n
                }
                await c.close()
                #expect(await none.value == 0)
            }
            await sender.close()
        }
    }

    /// A peer is removed when the last client that added it leaves; a peer two clients use
    /// survives the first one's departure; one client cannot delete another's peer; a
    /// client that asked to keep its peers leaves them behind.
    @Test func peersAreReferenceCounted() async throws {
        try await BrokerFixture.with { f in
            let a = try await f.client()
            let b = try await f.client()
            let watcher = try await f.client()
            let shared = f.remote.info.staMAC
            let onlyA = MACAddress(0x02, 0, 0, 0, 0, 0xA1)
            try await a.espNowAddPeer(PeerInfo(peerAddr: shared))
            try await b.espNowAddPeer(PeerInfo(peerAddr: shared))  // same settings: shared, not EXIST
            try await a.espNowAddPeer(PeerInfo(peerAddr: onlyA))
            #expect(try await watcher.espNowGetPeerNum().total == 2)
            // Not b's to delete.
            await #expect(throws: ESPNowError.esp(.bridgeRefused, command: .espnowDelPeer)) {
                try await b.espNowDelPeer(onlyA)
            }
            await a.close()
            #expect(try await eventually { try await watcher.espNowGetPeerNum().total == 1 })
            #expect(try await watcher.espNowIsPeerExist(shared))
            #expect(try await !watcher.espNowIsPeerExist(onlyA))
            await b.close()
            #expect(try await eventually { try await watcher.espNowGetPeerNum().total == 0 })

            var keep = DeviceOptions()
            keep.broker.keepPeers = true
            let k = try await f.client(keep)
            try await k.espNowAddPeer(PeerInfo(peerAddr: onlyA))
            await k.close()
            // Still there once the broker has seen the disconnect (watched through counters).
            #expect(try await eventually { f.broker.counters.clientsAttached == 1 })
            #expect(try await watcher.espNowIsPeerExist(onlyA))
            #expect(f.broker.counters.peersReleased == 2)
            await watcher.close()
        }
    }

    /// RESET, DEINIT and a channel change are refused while others are attached, with the
    /// broker's error; SET_BAUD is never possible through a broker; alone, a client may.
    @Test func disturbingCallsAreRefused() async throws {
        try await BrokerFixture.with { f in
            let a = try await f.client()
            let b = try await f.client()
            await #expect(throws: ESPNowError.esp(.bridgeRefused, command: .reset)) { try await a.reset() }
            await #expect(throws: ESPNowError.esp(.bridgeRefused, command: .espnowDeinit)) { try await a.espNowDeinit() }
            await #expect(throws: ESPNowError.esp(.bridgeRefused, command: .wifiSetChannel)) {
                try await a.wifiSetChannel(primary: 6)
            }
            // The country decides the channels everyone is allowed: the same rule.
            await #expect(throws: ESPNowError.esp(.bridgeRefused, command: .wifiSetCountryCode)) {
                try await a.wifiSetCountryCode("JP")
            }
            await #expect(throws: ESPNowError.esp(.notSupported, command: .setBaud)) { try await a.setBaud(115_200) }
            // The refusal is explained to the client in a LOG line.
            let logs = Task { () -> [String] in
                var out: [String] = []
                for await l in a.logs { out.append(l.text) }
                return out
            }
            #expect(f.broker.counters.refused == 4)
            await b.close()
            #expect(try await eventually { f.broker.counters.clientsAttached == 1 })
            try await a.wifiSetChannel(primary: 6)
            #expect(try await a.wifiGetChannel().primary == 6)
            await a.close()
            let lines = await logs.value
            #expect(lines.contains { $0.contains("RESET refused") && $0.contains("--allow-admin") })
        }
    }
}
