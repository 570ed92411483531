import ESPNowGateway
import ESPNowWire
import Foundation
import GatewayTestSupport
import Logging
import ServiceLifecycle
import Testing

/// Nothing lost, nothing doubled: PostgreSQL stopped and restarted mid-run, the gateway
/// restarted with a full spool, graceful shutdown, counted drops.
@Suite("Delivery guarantees")
struct SpoolTests {
    static func feed(_ g: Gateway, _ seqs: ClosedRange<UInt32>) {
        for s in seqs {
            let u = Uplink(node: nodeA, payload: GatewayServiceTests.simPayload(seq: s), hostTimeUs: nowUsForTests(), dongle: "feed")
            #expect(g.ingest(u))
        }
    }

    @Test func spoolWhilePostgresIsDownThenReplayInOrderAndAfterRestart() async throws {
        // A private server: this test stops it.
        let dir = "/tmp/espnow-pgspool-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try TestPG.run(["start", dir])
        defer { _ = try? TestPG.run(["destroy", dir]) }
        let url = try await TestPG.freshDatabase(dir: dir)
        var config = GatewayConfig()
        config.gatewayID = "spooler"
        config.spoolPath = tempPath("spool.sqlite")
        config.batchSize = 37

        let g = try Gateway(config: config, store: try PostgresStore(url: url), ports: [])
        let task = Task { try await g.run() }
        Self.feed(g, 1...100)
        try await eventually("100 stored") { g.stats.stored == 100 }

        try TestPG.run(["stop", dir])
        Self.feed(g, 101...200)
        try await eventually("100 spooled") { g.stats.spoolDepth == 100 }
        #expect(g.stats.databaseUp == false)
        try TestPG.run(["start", dir])
        Self.feed(g, 201...250)
        try await eventually("everything replayed") { g.stats.stored == 250 && g.stats.spoolDepth == 0 }

        // Stop the server again, then the gateway: the spool survives it.
        try TestPG.run(["stop", dir])
        Self.feed(g, 251...280)
        try await eventually("30 spooled") { g.stats.spoolDepth == 30 }
        task.cancel()
        try await task.value
        try TestPG.run(["start", dir])
        let g2 = try Gateway(config: config, store: try PostgresStore(url: url), ports: [])
        let task2 = Task { try await g2.run() }
        Self.feed(g2, 281...290)
        try await eventually("the restart replayed the spool") { g2.stats.stored == 40 && g2.stats.spoolDepth == 0 }
        task2.cancel()
        try await task2.value

        let store = try PostgresStore(url: url)
        let packets = try await store.packets(node: nodeA, limit: 1000)
        #expect(packets.compactMap(\.seq) == Array(1...290))
        #expect(try await store.nodes().first?.duplicates == 0)
        await store.close()
    }

    @Test func gracefulShutdownWritesEverythingQueued() async throws {
        var config = GatewayConfig()
        config.batchSize = 10
        let path = tempPath("g.sqlite")
        let g = try Gateway(config: config, store: try SQLiteStore(path: path), ports: [])
        Self.feed(g, 1...2000)  // queued before the writer even starts
        let group = ServiceGroup(configuration: .init(services: [.init(service: g)], gracefulShutdownSignals: [.sigterm], logger: Logger(label: "t")))
        try await withThrowingTaskGroup(of: Void.self) { tg in
            tg.addTask { try await group.run() }
            await group.triggerGracefulShutdown()
            try await tg.waitForAll()
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.packets(node: nil, limit: 5000).compactMap(\.seq) == Array(1...2000))
        await store.close()
    }

    @Test func fullQueueDropsAreCountedInTheDatabase() async throws {
        var config = GatewayConfig()
        config.queueCapacity = 10
        config.allow = [nodeA]
        let path = tempPath("g.sqlite")
        let g = try Gateway(config: config, store: try SQLiteStore(path: path), ports: [])
        for s in UInt32(1)...15 {
            g.ingest(Uplink(node: nodeA, payload: GatewayServiceTests.simPayload(seq: s), hostTimeUs: nowUsForTests()))
        }
        g.ingest(Uplink(node: nodeB, payload: [1], hostTimeUs: nowUsForTests()))  // not on the allow-list
        let t = Task { try await g.run() }
        try await eventually("10 stored") { g.stats.stored == 10 }
        t.cancel()
        try await t.value
        let store = try SQLiteStore(path: path)
        #expect(try await store.dropTotals() == ["gateway_queue": 5, "not_allowed": 1])
        #expect(try await store.packets(node: nil, limit: 100).compactMap(\.seq) == Array(1...10))
        await store.close()
    }
}

func nowUsForTests() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e6) }
