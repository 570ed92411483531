import ESPNowDevice
import ESPNowGateway
import ESPNowSimulator
import ESPNowWire
import Foundation
import GatewayTestSupport
import Logging
import NIOCore
import ServiceLifecycle
import Testing

/// The gateway service end to end: simulated dongles, the real databases.
@Suite("Gateway")
struct GatewayServiceTests {
    static func simPayload(seq: UInt32, temp: Int16 = 2150) -> [UInt8] {
        [0x53, 1, UInt8(seq & 0xFF), UInt8(seq >> 8 & 0xFF), UInt8(seq >> 16 & 0xFF), UInt8(seq >> 24),
         UInt8(UInt16(bitPattern: temp) & 0xFF), UInt8(UInt16(bitPattern: temp) >> 8), 50, 9]
    }

    /// Runs `gateway` until `body` returns, then stops it the way SIGTERM does.
    static func running<T>(_ gateways: [Gateway], _ body: () async throws -> T) async throws -> T {
        let tasks = gateways.map { g in Task { try await g.run() } }
        do {
            let r = try await body()
            for t in tasks { t.cancel() }
            for t in tasks { try await t.value }
            return r
        } catch {
            for t in tasks { t.cancel() }
            for t in tasks { _ = try? await t.value }
            throw error
        }
    }

    static func nodeDevice(_ port: String) async throws -> ESPNowDevice {
        let d = try await ESPNowDevice.connect(path: port)
        try await d.wifiSetIfActive(.sta, true)
        try await d.espNowInit()
        return d
    }

    /// Simulated sensors into SQLite, through a dongle reboot and an unplug/replug, with a
    /// second configured dongle missing all along (the gateway keeps running and says so).
    @Test func simulatedSensorsIntoSQLite() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 1, nodes: ["sensor,interval=50", "sensor,interval=70"]))
        defer { air.shutdown() }
        var config = GatewayConfig()
        config.gatewayID = "test"
        let store = try SQLiteStore(path: tempPath("gw.sqlite"))
        let missing = tempPath("no-such-dongle")
        let gateway = try Gateway(config: config, store: store, ports: [air.dongles[0].port!, missing])
        // The schema exists before the first poll below; the gateway's own migrate (in
        // run()) may come later on a busy machine and then finds nothing to do.
        try await store.migrate()
        let check = try SQLiteStore(path: store.path)
        func packets() async throws -> Int64 { try await check.nodes().reduce(0) { $0 + $1.packets } }
        try await Self.running([gateway]) {
            try await eventually("10 readings from each sensor") {
                let n = try await check.nodes()
                return n.count == 2 && n.allSatisfy { $0.packets >= 10 }
            }
            #expect(gateway.stats.dongles[missing]?.connected == false)
            #expect(gateway.stats.dongles[air.dongles[0].port!]?.connected == true)
            try await air.reboot(0)
            var before = try await packets()
            try await eventually("readings after the dongle rebooted") { try await packets() >= before + 20 }
            try await air.unplug(0)
            try await air.replug(0)
            before = try await packets()
            try await eventually("readings after the dongle was replugged") { try await packets() >= before + 20 }
        }
        let sensors = Set(air.nodes.compactMap(\.staMAC))
        let nodes = try await check.nodes()
        #expect(Set(nodes.map(\.mac)) == sensors)
        for mac in sensors {
            let p = try await check.packets(node: mac, limit: 1000)
            #expect(p.allSatisfy { $0.decoder == "layout:espnow-sim" && $0.error == nil })
            let seqs = p.compactMap(\.seq)
            #expect(seqs.count == p.count)
            #expect(seqs == seqs.sorted())
            let temps = try await check.readings(node: mac, field: "temperature", sinceUs: nil, limit: 1000)
            #expect(temps.count == p.count)
            #expect(temps.allSatisfy { ($0.reading.value ?? 0) >= 20 && ($0.reading.value ?? 0) < 26 && $0.reading.unit == "°C" })
        }
        #expect(gateway.stats.stored == Int64(nodes.reduce(0) { $0 + $1.packets }))
        await check.close()
    }

    /// Crafted Cayenne/JSON/text payloads from simulated node dongles driven here, and a
    /// downlink delivered to a sleeping node in the moment after its uplink.
    @Test(arguments: Backend.allCases)
    func craftedFormatsAndSleepyDownlink(_ backend: Backend) async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 3))
        defer { air.shutdown() }
        let gwMAC = try #require(air.dongles[0].staMAC)
        let cayenneNode = try await Self.nodeDevice(air.dongles[1].port!)
        let jsonNode = try await Self.nodeDevice(air.dongles[2].port!)
        defer { Task { await cayenneNode.close(); await jsonNode.close() } }
        let cMAC = cayenneNode.info.staMAC, jMAC = jsonNode.info.staMAC
        for n in [cayenneNode, jsonNode] { try await n.espNowAddPeer(PeerInfo(peerAddr: gwMAC)) }

        var config = GatewayConfig()
        config.gatewayID = "g"
        config.spoolPath = tempPath("spool.sqlite")
        config.nodes[cMAC] = NodeConfig(mac: cMAC, name: "attic", decoder: .cayenne)
        let store = try await backend.makeStore()
        let gateway = try Gateway(config: config, store: store, ports: [air.dongles[0].port!])
        try await Self.running([gateway]) {
            try await eventually("the dongle listening") { gateway.stats.dongles.values.first?.connected == true }
            _ = try await cayenneNode.espNowSend(peer: gwMAC, data: CayenneLPP.encode(channel: 1, type: 103, [19.5]), sync: true)
            _ = try await jsonNode.espNowSend(peer: gwMAC, data: Array(#"{"seq": 1, "co2": 415}"#.utf8), sync: true)
            _ = try await jsonNode.espNowSend(peer: gwMAC, data: Array("door=open batt=3.1V".utf8), sync: true)
            try await eventually("three packets stored") { gateway.stats.stored == 3 }

            // The sleeping node: a message queued while it sleeps goes out right after its
            // next uplink; it only listens then.
            let id = try await gateway.queueDownlink(node: cMAC, payload: Array("interval=60".utf8))
            #expect(cayenneNode.packetQueue.clear() == 0)
            _ = try await cayenneNode.espNowSend(peer: gwMAC, data: CayenneLPP.encode(channel: 1, type: 103, [19.6]), sync: true)
            let got = try await cayenneNode.packetQueue.next(timeout: .seconds(30))
            #expect(got?.src == gwMAC)
            #expect(got?.bytes == Array("interval=60".utf8))
            try await eventually("downlink delivered") { try await store.downlink(id: id)?.state == .delivered }
        }
        let check = try reopen(store)
        let c = try await check.readings(node: cMAC, field: "temperature_1", sinceUs: nil, limit: 10)
        #expect(c.map { $0.reading.value } == [19.6, 19.5])
        let j = try await check.readings(node: jMAC, field: nil, sinceUs: nil, limit: 10)
        #expect(Set(j.map(\.reading.field)) == ["co2", "door", "batt"])
        #expect(j.first { $0.reading.field == "batt" }?.reading.unit == "V")
        #expect(try await check.nodes().first { $0.mac == cMAC }?.name == "attic")
        await check.close()
    }

    /// An always-listening node gets its message without an uplink; a node that never
    /// acknowledges ends `failed` after its attempts; a crash mid-attempt is undone at start.
    @Test func alwaysOnDeliveryFailureAndReleasedClaims() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 2))
        defer { air.shutdown() }
        let node = try await Self.nodeDevice(air.dongles[1].port!)
        defer { Task { await node.close() } }
        let ghost = MACAddress(0x02, 0x11, 0x22, 0x33, 0x44, 0x55)  // nobody has this address
        var config = GatewayConfig()
        config.gatewayID = "g"
        config.downlinkAttempts = 2
        config.downlinkPollUs = 200_000
        config.nodes[node.info.staMAC] = NodeConfig(mac: node.info.staMAC, alwaysOn: true)
        config.nodes[ghost] = NodeConfig(mac: ghost, alwaysOn: true)
        let path = tempPath("g.sqlite")
        let pre = try SQLiteStore(path: path)
        try await pre.migrate()
        let stuck = try await pre.queueDownlink(node: node.info.staMAC, payload: [0xAA], maxAttempts: 3, nowUs: 1)
        #expect(try await pre.claimDownlink(id: stuck, gateway: "g", nowUs: 2))  // as if the last run crashed here
        await pre.close()
        let store = try SQLiteStore(path: path)
        let gateway = try Gateway(config: config, store: store, ports: [air.dongles[0].port!])
        try await Self.running([gateway]) {
            let first = try await node.packetQueue.next(timeout: .seconds(30))
            #expect(first?.bytes == [0xAA])
            let id = try await gateway.queueDownlink(node: node.info.staMAC, payload: Array("on".utf8))
            let got = try await node.packetQueue.next(timeout: .seconds(30))
            #expect(got?.bytes == Array("on".utf8))
            try await eventually("delivered") { try await store.downlink(id: id)?.state == .delivered }
            let lost = try await gateway.queueDownlink(node: ghost, payload: [1])
            try await eventually("failed after 2 attempts") { try await store.downlink(id: lost)?.state == .failed }
            let d = try #require(try await store.downlink(id: lost))
            #expect(d.attempts == 2)
            #expect(d.lastError == "not acknowledged by the node")
            #expect(try await store.downlink(id: stuck)?.state == .delivered)
        }
    }

    /// Two gateways on the same air write into one PostgreSQL: every broadcast is heard
    /// twice and stored once (seq-keyed and payload-hash-keyed packets).
    @Test func twoGatewaysOnePostgres() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 3))
        defer { air.shutdown() }
        let node = try await Self.nodeDevice(air.dongles[2].port!)
        defer { Task { await node.close() } }
        try await node.espNowAddPeer(PeerInfo(peerAddr: .broadcast))
        let url = try await TestPG.freshDatabase()
        var gateways: [Gateway] = []
        for (i, id) in ["kitchen", "garage"].enumerated() {
            var c = GatewayConfig()
            c.gatewayID = id
            c.spoolPath = tempPath("spool-\(id).sqlite")
            // The payload-hash window is measured on each gateway's clock when it reads the
            // packet; on a loaded machine one gateway can read seconds after the other. Every
            // payload here is distinct, so a long window only removes that dependency.
            c.dedup = DedupPolicy(hashWindowUs: 60_000_000)
            gateways.append(try Gateway(config: c, store: try PostgresStore(url: url), ports: [air.dongles[i].port!]))
        }
        let n = 40
        try await Self.running(gateways) {
            try await eventually("both dongles listening") { gateways.allSatisfy { $0.stats.dongles.values.first?.connected == true } }
            for i in 1...n {
                let p = i % 2 == 0 ? Self.simPayload(seq: UInt32(i)) : Array("count=\(i)".utf8)
                _ = try await node.espNowSend(peer: .broadcast, data: p, sync: true)
            }
            try await eventually("both gateways heard every packet") { gateways.allSatisfy { $0.stats.received == Int64(n) } }
        }
        let store = try PostgresStore(url: url)
        let packets = try await store.packets(node: node.info.staMAC, limit: 1000)
        #expect(packets.count == n)
        #expect(Set(packets.map(\.gateway)).isSubset(of: ["kitchen", "garage"]))
        let rec = try #require(try await store.nodes().first)
        #expect(rec.packets == Int64(n))
        #expect(rec.duplicates == Int64(n))
        #expect(gateways.reduce(0) { $0 + $1.stats.stored } == Int64(n))
        await store.close()
    }
}
