import ESPNowBroker
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Testing

/// Per-client RECV filters (PROTOCOL.md section 12, BROKER_FILTER).
@Suite("broker: per-client RECV filters")
struct FilterTests {
    /// Received packets in order until one from `last` carrying `end` (a hang guard ends it).
    static func packets(_ d: ESPNowDevice, until end: [UInt8], from last: MACAddress) async throws -> [ReceivedPacket] {
        var got: [ReceivedPacket] = []
        while let p = try await d.packetQueue.next(timeout: .seconds(30)) {
            got.append(p)
            if p.src == last && p.bytes == end { return got }
        }
        Issue.record("no end marker after \(got.count) packets")
        return got
    }

    /// A client that filters on one sender gets exactly that sender's packets, in order, and
    /// nothing counts as dropped; an unfiltered client beside it gets everyone's.
    @Test func aFilteredClientGetsOnlyItsSendersPackets() async throws {
        try await BrokerFixture.with(dongles: 3) { f in
            let other = try await ESPNowDevice.connect(path: f.air.dongles[2].port!)
            defer { Task { await other.close() } }
            try await other.wifiSetIfActive(.sta, true)
            try await other.espNowInit()
            try await other.espNowAddPeer(PeerInfo(peerAddr: f.brokeredMAC))
            let wanted = f.remote.info.staMAC
            var o = DeviceOptions()
            o.broker.sources = [wanted]
            let filtered = try await f.client(o)
            let everyone = try await f.client()
            defer { Task { await filtered.close(); await everyone.close() } }

            for i in 0..<40 {
                #expect(try await f.remote.espNowSend(peer: f.brokeredMAC, data: Array("r\(i)".utf8), sync: true).failures == 0)
                #expect(try await other.espNowSend(peer: f.brokeredMAC, data: Array("o\(i)".utf8), sync: true).failures == 0)
            }
            // The end marker comes last from the wanted sender: every packet before it has
            // been fanned out (or filtered) by then, since a client's events keep their order.
            let end = Array("end".utf8)
            #expect(try await f.remote.espNowSend(peer: f.brokeredMAC, data: end, sync: true).failures == 0)

            let mine = try await Self.packets(filtered, until: end, from: wanted)
            #expect(mine.allSatisfy { $0.src == wanted })
            #expect(mine.map { String(decoding: $0.bytes, as: UTF8.self) } == (0..<40).map { "r\($0)" } + ["end"])
            let all = try await Self.packets(everyone, until: end, from: wanted)
            #expect(all.count == 81)
            #expect(all.filter { $0.src == other.info.staMAC }.map { String(decoding: $0.bytes, as: UTF8.self) } == (0..<40).map { "o\($0)" })
            // Filtered out is not dropped: nothing reported to the client, nothing counted.
            #expect(filtered.hostCounters.deviceDropped.isEmpty && filtered.hostCounters.packetsDropped == 0)
            #expect(f.broker.counters.droppedForClients == 0)
            // The filtered client's own send still gets its status.
            try await filtered.espNowAddPeer(PeerInfo(peerAddr: other.info.staMAC))
            #expect(try await filtered.espNowSend(peer: other.info.staMAC, data: [1], sync: true).failures == 0)

            // More senders than the protocol allows: refused before anything is sent.
            var bad = DeviceOptions()
            bad.broker.sources = (0..<21).map { MACAddress(2, 0, 0, 0, 0, UInt8($0)) }
            await #expect(throws: (any Error).self) { _ = try await f.client(bad) }
        }
    }
}
