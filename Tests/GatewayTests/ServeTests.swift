import ESPNowDevice
import ESPNowGateway
import ESPNowSimulator
import ESPNowWire
import Foundation
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The gateway sharing its dongle (`--serve`): a broker owns the dongle, the gateway is one
/// of its clients, and other programs use the same dongle through the socket meanwhile.
@Suite("Gateway --serve")
struct GatewayServeTests {
    /// A second client lists, adds a peer and sends through the gateway's socket, hears the
    /// same packets the gateway stores, is refused a channel change while the gateway is
    /// attached; the gateway stores every reading exactly once.
    @Test func anotherClientSharesTheDongleWhileTheGatewayStoresEveryReading() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 3))
        defer { air.shutdown() }
        let gwMAC = try #require(air.dongles[0].staMAC)
        let sensor = try await GatewayServiceTests.nodeDevice(air.dongles[1].port!)
        let far = try await GatewayServiceTests.nodeDevice(air.dongles[2].port!)
        defer { Task { await sensor.close(); await far.close() } }
        try await sensor.espNowAddPeer(PeerInfo(peerAddr: gwMAC))

        var config = GatewayConfig()
        config.gatewayID = "shared"
        var serve = ServeConfig()
        let socket = tempPath("gw.sock")
        serve.socket = socket
        config.serve = serve
        let store = try SQLiteStore(path: tempPath("gw.sqlite"))
        let gateway = try Gateway(config: config, store: store, ports: [air.dongles[0].port!])
        let total = 300
        let heard = try await GatewayServiceTests.running([gateway]) { () -> Int in
            try await eventually("the gateway on its broker") { gateway.stats.dongles.values.first?.connected == true }
            #expect(gateway.stats.dongles.values.first?.note == "shared on unix:\(socket)")

            let client = try await ESPNowDevice.connect(path: "unix:" + socket)
            defer { Task { await client.close() } }
            #expect(client.info.staMAC == gwMAC)
            #expect(client.info.caps & BrokerWire.brokeredCap != 0)
            // Lists and sends through the socket; its SEND_STATUS comes back to it.
            #expect(try await client.espNowGetPeerNum().total == 0)
            try await client.espNowAddPeer(PeerInfo(peerAddr: far.info.staMAC))
            #expect(try await client.espNowGetPeerNum().total == 1)
            let r = try await client.espNowSend(peer: far.info.staMAC, data: Array("through the gateway".utf8), sync: true)
            #expect(r.failures == 0)
            let got = try await far.packetQueue.next(timeout: .seconds(30))
            #expect(got?.src == gwMAC && got?.bytes == Array("through the gateway".utf8))
            // The gateway is attached: a channel change would pull the dongle from under it.
            do {
                try await client.wifiSetChannel(primary: 6)
                Issue.record("a channel change while the gateway listens must be refused")
            } catch let e as ESPNowError {
                guard case .esp(let code, _) = e else { Issue.record("\(e)"); return 0 }
                #expect(code == .bridgeRefused)
            }

            for seq in 1...total {
                let s = try await sensor.espNowSend(peer: gwMAC, data: GatewayServiceTests.simPayload(seq: UInt32(seq)), sync: true)
                #expect(s.failures == 0)
            }
            try await eventually("every reading stored") { gateway.stats.stored >= Int64(total) }
            // The client heard the same packets (fan-out), in order.
            var seqs: [UInt32] = []
            while seqs.count < total, let p = try await client.packetQueue.next(timeout: .seconds(30)) {
                if p.src == sensor.info.staMAC { seqs.append(UInt32(p.bytes[2]) | UInt32(p.bytes[3]) << 8) }
            }
            #expect(seqs == Array(1...UInt32(total)))
            return seqs.count
        }
        #expect(heard == total)
        let check = try SQLiteStore(path: store.path)
        let packets = try await check.packets(node: sensor.info.staMAC, limit: 10_000)
        #expect(packets.compactMap(\.seq).sorted() == Array(1...Int64(total)))
        #expect(gateway.stats.stored == Int64(total) && gateway.stats.duplicates == 0)
        #expect(gateway.stats.drops.isEmpty)
        #expect(try await check.readings(node: sensor.info.staMAC, field: "temperature", sinceUs: nil, limit: 10_000).count == total)
        await check.close()
        // The broker stopped with the gateway: its socket is gone.
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    /// The dongle's status follows the dongle, not the gateway's link to its own broker
    /// (which stays up through an unplug): not connected while unplugged, connected again
    /// once it is back; readings flow again after it.
    @Test func dongleStatusFollowsAnUnplugBehindTheBroker() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 1, nodes: ["sensor,interval=50"]))
        defer { air.shutdown() }
        var config = GatewayConfig()
        config.gatewayID = "shared"
        var serve = ServeConfig()
        serve.socket = tempPath("gw.sock")
        config.serve = serve
        let store = try SQLiteStore(path: tempPath("gw.sqlite"))
        let port = air.dongles[0].port!
        let gateway = try Gateway(config: config, store: store, ports: [port])
        try await GatewayServiceTests.running([gateway]) {
            try await eventually("the gateway on its broker") { gateway.stats.dongles[port]?.connected == true }
            try await eventually("readings") { gateway.stats.stored >= 5 }
            try await air.unplug(0)
            try await eventually("the dongle shown as gone") { gateway.stats.dongles[port]?.connected == false }
            try await air.replug(0)
            try await eventually("the dongle shown as back") { gateway.stats.dongles[port]?.connected == true }
            let before = gateway.stats.stored
            try await eventually("readings after the replug") { gateway.stats.stored >= before + 5 }
        }
    }

    /// Settings that name one place cannot serve two dongles; bad [serve] keys name the key.
    @Test func serveConfigurationErrors() throws {
        var config = GatewayConfig()
        var serve = ServeConfig()
        serve.socket = "/tmp/x.sock"
        config.serve = serve
        #expect(throws: GatewayConfig.Error.self) {
            _ = try Gateway(config: config, store: nil, ports: ["/dev/a", "/dev/b"])
        }
        #expect(throws: GatewayConfig.Error.self) { try GatewayConfig.load(toml: "[serve]\nsockett = \"x\"\n") }
        #expect(throws: GatewayConfig.Error.self) { try GatewayConfig.load(toml: "[serve]\ntcp = \"0.0.0.0:7600\"\n") }
        let ok = try GatewayConfig.load(toml: "[serve]\ntcp = \"127.0.0.1:0\"\ninsecure = true\nallow_admin = true\nmax_clients = 4\n")
        #expect(ok.serve?.tcp == "127.0.0.1:0" && ok.serve?.insecure == true && ok.serve?.allowAdmin == true && ok.serve?.maxClients == 4)
        #expect(try GatewayConfig.load(toml: "[serve]\n").serve != nil)
        #expect(try GatewayConfig.load(toml: "").serve == nil)
    }

    /// `espnow gateway --serve` as a user runs it, with `espnow peers` and `espnow send`
    /// (other processes) on its socket while it stores the sensors' readings.
    @Test func commandServesWhileItIngests() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 2, nodes: ["sensor,interval=20"]))
        defer { air.shutdown() }
        let far = try await GatewayServiceTests.nodeDevice(air.dongles[1].port!)
        defer { Task { await far.close() } }
        let db = tempPath("serve.sqlite")
        let socket = tempPath("serve.sock")
        let done = Locked(false)
        let result = Locked<(peers: (Int32, String, String), send: (Int32, String, String))?>(nil)
        let farMAC = far.info.staMAC.description
        let r = try CommandTests.run(["gateway", "--port", air.dongles[0].port!, "--db", db, "--serve", "--serve-socket", socket,
                                      "--gateway-id", "srv"]) { out, p in
            guard !done.get(), out.split(separator: "\n").count >= 5 else { return }
            done.set(true)
            // Other processes on the same dongle while the gateway runs.
            let peers = try? CommandTests.run(["peers", "--port", "unix:\(socket)"])
            let send = try? CommandTests.run(["send", "--port", "unix:\(socket)", "--sync", farMAC, "hello from a second process"])
            if let peers, let send { result.set((peers, send)) }
            kill(p.processIdentifier, SIGTERM)
        }
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.err.contains("unix:\(socket)"))
        let (peers, send) = try #require(result.get())
        #expect(peers.0 == 0, "peers: \(peers.2)")
        #expect(send.0 == 0, "send: \(send.2)")
        // (The sensor node's broadcasts reach this dongle too.)
        let gwMAC = try #require(air.dongles[0].staMAC)
        var got: ReceivedPacket?
        while let p = try await far.packetQueue.next(timeout: .seconds(30)) {
            if p.src == gwMAC { got = p; break }
        }
        #expect(got?.bytes == Array("hello from a second process".utf8))
        // Every packet the gateway printed is stored, each seq once.
        let printed = r.out.split(separator: "\n").filter { $0.contains("[layout:espnow-sim]") }
        let store = try SQLiteStore(path: db)
        let packets = try await store.packets(node: nil, limit: 10_000)
        #expect(packets.count == printed.count && packets.count >= 5)
        #expect(Set(packets.compactMap(\.seq)).count == packets.count)
        await store.close()
    }
}
