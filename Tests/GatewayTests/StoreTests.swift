import ESPNowGateway
import ESPNowWire
import Foundation
import GatewayTestSupport
import Testing

/// The same behaviour against the real SQLite file and the real PostgreSQL server.
@Suite("Stores")
struct StoreTests {
    @Test(arguments: Backend.allCases)
    func everyDecoderStoresReadings(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        try await store.migrate()
        try await store.migrate()  // idempotent
        let layout = try BinaryLayout(name: "th", spec: "<u32 seq, i16 temp/100 °C, u8 hum %")
        let t0: Int64 = 1_700_000_000_000_000
        let batch = [
            ingest(uplink(nodeA, [0x53, 1, 5, 0, 0, 0, 0x66, 0x08, 45, 2], at: t0), .auto),
            ingest(uplink(nodeA, Array("temp=20.5 state=open".utf8), at: t0 + 1), .text),
            ingest(uplink(nodeA, Array(#"{"t": 19.25, "seq": 3}"#.utf8), at: t0 + 2), .json),
            ingest(uplink(nodeB, CayenneLPP.encode(channel: 1, type: 103, [22.4]) + CayenneLPP.encode(channel: 2, type: 104, [50]), at: t0 + 3), .cayenne),
            ingest(uplink(nodeB, FDRS.encode([(7.5, 1, 1)]), at: t0 + 4), .fdrs),
            ingest(uplink(nodeB, [9, 0, 0, 0, 0x10, 0x27, 60], at: t0 + 5), .layout("th"), layouts: [layout]),
            ingest(uplink(nodeB, [1, 2, 3], at: t0 + 6), .raw),
        ]
        let o = try await store.write(batch, drops: [], dedup: DedupPolicy())
        #expect(o.stored == 7)
        #expect(o.duplicates == 0)
        #expect(o.readings == 3 + 2 + 1 + 2 + 1 + 2)
        let a = try await store.readings(node: nodeA, field: nil, sinceUs: nil, limit: 100)
        #expect(a.first { $0.reading.field == "temperature" }?.reading.value == 21.5)
        #expect(a.first { $0.reading.field == "temperature" }?.reading.unit == "°C")
        #expect(a.first { $0.reading.field == "state" }?.reading.text == "open")
        #expect(a.first { $0.reading.field == "t" }?.reading.value == 19.25)
        let b = try await store.readings(node: nodeB, field: nil, sinceUs: nil, limit: 100)
        #expect(b.first { $0.reading.field == "temperature_1" }?.reading.value == 22.4)
        #expect(b.first { $0.reading.field == "humidity_2" }?.reading.value == 50)
        #expect(b.first { $0.reading.field == "1.temperature" }?.reading.value == 7.5)
        #expect(b.first { $0.reading.field == "temp" }?.reading.value == 100)
        let packets = try await store.packets(node: nil, limit: 100)
        #expect(packets.count == 7)
        #expect(packets.map(\.decoder) == ["layout:espnow-sim", "text", "json", "cayenne", "fdrs", "layout:th", "raw"])
        #expect(packets[0].seq == 5)
        #expect(packets[5].seq == 9)
        #expect(packets[6].payload == [1, 2, 3])
        let nodes = try await store.nodes()
        #expect(nodes.map(\.packets) == [3, 4])
        #expect(nodes.first?.lastRSSI == -50)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func decodeFailureKeepsTheRawPacket(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        try await store.migrate()
        let bad = ingest(uplink(nodeA, [1, 103, 0]), .cayenne)
        #expect(bad.decoded.error != nil)
        let o = try await store.write([bad], drops: [], dedup: DedupPolicy())
        #expect(o.stored == 1)
        let p = try await store.packets(node: nodeA, limit: 10)
        #expect(p.count == 1)
        #expect(p[0].payload == [1, 103, 0])
        #expect(p[0].error == bad.decoded.error)
        #expect(try await store.nodes().first?.decodeErrors == 1)
        await store.close()
    }

    /// Field names, text values and units come from the air: they must reach the database
    /// as data, never as SQL.
    @Test(arguments: Backend.allCases)
    func hostilePayloadIsStoredVerbatim(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        try await store.migrate()
        let evil = #"{"x'); DROP TABLE readings; --": "'; DELETE FROM nodes; --", "n\"q": 1}"#
        let i = ingest(uplink(nodeA, Array(evil.utf8)), .json)
        #expect(i.decoded.error == nil)
        _ = try await store.write([i], drops: [], dedup: DedupPolicy())
        let r = try await store.readings(node: nodeA, field: nil, sinceUs: nil, limit: 10)
        #expect(r.count == 2)
        #expect(r.contains { $0.reading.field == "x'); DROP TABLE readings; --" && $0.reading.text == "'; DELETE FROM nodes; --" })
        #expect(try await store.nodes().count == 1)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func deduplicationBySeqAndByHashWindow(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        try await store.migrate()
        let policy = DedupPolicy(seqWindowUs: 60_000_000, hashWindowUs: 2_000_000)
        let t0: Int64 = 1_700_000_000_000_000
        let sim: [UInt8] = [0x53, 1, 5, 0, 0, 0, 0x66, 0x08, 45, 2]
        // Same seq from two gateways 10 s apart: one packet. Same bytes without seq 1 s
        // apart: one; 3 s apart: two. A repeat inside one batch: dropped before the DB.
        var o = try await store.write([ingest(uplink(nodeA, sim, at: t0), gateway: "g1"),
                                       ingest(uplink(nodeA, sim, at: t0 + 1), gateway: "g1")], drops: [], dedup: policy)
        #expect(o.stored == 1)
        #expect(o.duplicates == 1)
        o = try await store.write([ingest(uplink(nodeA, sim, at: t0 + 10_000_000), gateway: "g2")], drops: [], dedup: policy)
        #expect(o.stored == 0)
        #expect(o.duplicates == 1)
        let raw: [UInt8] = [7, 7, 7]
        o = try await store.write([ingest(uplink(nodeB, raw, at: t0), .raw)], drops: [], dedup: policy)
        #expect(o.stored == 1)
        o = try await store.write([ingest(uplink(nodeB, raw, at: t0 + 1_000_000), .raw, gateway: "g2")], drops: [], dedup: policy)
        #expect(o.duplicates == 1)
        o = try await store.write([ingest(uplink(nodeB, raw, at: t0 + 4_000_000), .raw)], drops: [], dedup: policy)
        #expect(o.stored == 1)
        // Another node's identical payload is not a duplicate.
        o = try await store.write([ingest(uplink(nodeA, raw, at: t0 + 4_000_000), .raw)], drops: [], dedup: policy)
        #expect(o.stored == 1)
        #expect(try await store.packets(node: nil, limit: 100).count == 4)
        let nodes = try await store.nodes()
        #expect(nodes.first { $0.mac == nodeA }?.duplicates == 2)
        #expect(nodes.first { $0.mac == nodeB }?.duplicates == 1)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func downlinkStates(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        try await store.migrate()
        let id = try await store.queueDownlink(node: nodeA, payload: [1, 2], maxAttempts: 2, nowUs: 1)
        #expect(try await store.pendingDownlinks().map(\.id) == [id])
        #expect(try await store.claimDownlink(id: id, gateway: "g1", nowUs: 2))
        #expect(try await store.claimDownlink(id: id, gateway: "g2", nowUs: 2) == false)  // taken
        #expect(try await store.finishDownlink(id: id, delivered: false, error: "no ack", nowUs: 3) == .pending)
        #expect(try await store.claimDownlink(id: id, gateway: "g1", nowUs: 4))
        #expect(try await store.finishDownlink(id: id, delivered: false, error: "no ack", nowUs: 5) == .failed)
        let d = try #require(try await store.downlink(id: id))
        #expect(d.attempts == 2)
        #expect(d.lastError == "no ack")
        let ok = try await store.queueDownlink(node: nodeB, payload: [3], maxAttempts: 3, nowUs: 6)
        #expect(try await store.claimDownlink(id: ok, gateway: "g1", nowUs: 7))
        #expect(try await store.finishDownlink(id: ok, delivered: true, error: nil, nowUs: 8) == .delivered)
        #expect(try await store.pendingDownlinks().isEmpty)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func dropsAndRetention(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        try await store.migrate()
        let drops = [DropRecord(cause: .gatewayQueue, count: 5, timeUs: 1, detail: nil, gateway: "g"),
                     DropRecord(cause: .dongleRxbuf, count: 2, timeUs: 1, detail: "/dev/x", gateway: "g")]
        _ = try await store.write([ingest(uplink(nodeA, [1], at: 1_000), .raw), ingest(uplink(nodeA, [2], at: 5_000), .raw)],
                                  drops: drops, dedup: DedupPolicy())
        #expect(try await store.dropTotals() == ["gateway_queue": 5, "dongle_rxbuf": 2])
        let (p, _) = try await store.prune(rawBeforeUs: 2_000, readingsBeforeUs: nil, dedupBeforeUs: 0)
        #expect(p == 1)
        #expect(try await store.packets(node: nil, limit: 10).map(\.payload) == [[2]])
        await store.close()
    }
    /// Retention deletes in chunks (one transaction each): every old row goes, across chunk
    /// boundaries, and nothing newer.
    @Test func sqliteRetentionDeletesInChunks() async throws {
        let path = tempPath("prune.sqlite")
        let store = try SQLiteStore(path: path)
        try await store.migrate()
        let old = (0..<23).map { ingest(uplink(nodeA, [UInt8($0)], at: 1_000 + Int64($0)), .raw) }
        let new = (0..<4).map { ingest(uplink(nodeA, [0xF0 + UInt8($0)], at: 9_000 + Int64($0)), .raw) }
        _ = try await store.write(old + new, drops: [], dedup: .disabled)
        let (p, _) = try await store.prune(rawBeforeUs: 5_000, readingsBeforeUs: nil, dedupBeforeUs: 0, chunk: 5)
        #expect(p == 23)
        #expect(Set(try await store.packets(node: nil, limit: 100).map(\.payload)) == Set(new.map(\.uplink.payload)))
        await store.close()
    }
}
