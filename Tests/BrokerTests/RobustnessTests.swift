// A broker under a killed client, a rebooted dongle, a client that stops reading, and
// clients that send garbage. Assertions on counts, bytes and codes; rates are printed.
import ESPNowBroker
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("broker: killed clients, reboots, slow and hostile clients", .serialized)
struct RobustnessTests {
    /// `espnow ping` registers a temporary peer through the broker and is killed with
    /// SIGKILL (no clean-up of its own): the broker removes the peer when the socket closes.
    @Test func sigkilledClientLeavesNoPeer() async throws {
        try await BrokerFixture.with { f in
            let watcher = try await f.client()
            let target = f.remote.info.staMAC
            let p = Process()
            p.executableURL = URL(fileURLWithPath: espnowBinary)
            // Pings for minutes (nobody answers), its peer registered for the call.
            p.arguments = ["ping", "--port", f.url, "--count", "100000", "--interval", "100", "--wait", "50",
                           target.description]
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let registered = try await eventually { try await watcher.espNowIsPeerExist(target) }
            #expect(registered)
            #expect(f.broker.counters.clientsAttached == 2)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(p.terminationReason == .uncaughtSignal)
            #expect(try await eventually { try await !watcher.espNowIsPeerExist(target) })
            #expect(try await watcher.espNowGetPeerNum().total == 0)
            #expect(f.broker.counters.peersReleased == 1)
            #expect(f.broker.counters.clientsAttached == 1)
            await watcher.close()
        }
    }

    /// The dongle reboots under three clients: each hears it once (a brokered HELLO, its
    /// in-flight calls failed, no restore of its own), the broker restores the peers they
    /// added, and every client goes on.
    @Test func dongleRebootedUnderThreeClients() async throws {
        try await BrokerFixture.with { f in
            let clients = [try await f.client(), try await f.client(), try await f.client()]
            let target = f.remote.info.staMAC
            try await clients[1].espNowAddPeer(PeerInfo(peerAddr: target))
            let heard = clients.map { c in
                Task { () -> (rebooted: Int, boot: UInt32?) in
                    var n = 0
                    for await e in c.events {
                        if case .rebooted(let info, _) = e {
                            n += 1
                            return (n, info.bootCount)
                        }
                    }
                    return (n, nil)
                }
            }
            try await f.air.reboot(0)
            for (i, h) in heard.enumerated() {
                let r = await h.value
                #expect(r.rebooted == 1, "client \(i)")
                #expect(r.boot == 2, "client \(i)")
            }
            // The broker's own restore re-adds the peer before clients' calls go on.
            #expect(try await eventually { (try? await clients[0].espNowIsPeerExist(target)) == true })
            for c in clients {
                #expect(c.info.bootCount == 2)
                #expect(c.info.isBrokered)
                #expect(c.hostCounters.reboots == 1)
            }
            let r = try await clients[1].espNowSend(peer: target, data: Array("after reboot".utf8), sync: true)
            #expect(r.failures == 0)
            #expect(try await f.remote.packetQueue.next(timeout: .seconds(20)).map { Array($0.data.readableBytesView) }
                    == Array("after reboot".utf8))
            #expect(f.broker.device.info.bootCount == 2)
            for c in clients { await c.close() }
        }
    }

    /// The dongle is unplugged and plugged back under two clients: calls while it is gone
    /// fail with the broker's "no device" error (never hang), each client is told (a LOG
    /// line, then a brokered HELLO once the broker has restored the dongle) and goes on with
    /// its peer back in place.
    @Test func dongleUnpluggedUnderTwoClients() async throws {
        try await BrokerFixture.with { f in
            let a = try await f.client()
            let b = try await f.client()
            let target = f.remote.info.staMAC
            try await a.espNowAddPeer(PeerInfo(peerAddr: target))
            let told = [a, b].map { c in
                Task { () -> (logs: [String], rebooted: Int) in
                    var logs: [String] = []
                    let l = Task { () -> [String] in
                        var out: [String] = []
                        for await x in c.logs where x.text.hasPrefix("broker:") { out.append(x.text) }
                        return out
                    }
                    var n = 0
                    for await e in c.events { if case .rebooted = e { n += 1; break } }
                    l.cancel()
                    logs = await l.value
                    return (logs, n)
                }
            }
            try await f.air.unplug(0)
            #expect(try await eventually {
                do {
                    _ = try await b.ping([1])
                    return false
                } catch let e as ESPNowError {
                    return e == .esp(.bridgeNoDevice, command: .ping)
                }
            })
            try await f.air.replug(0)
            for t in told {
                let r = await t.value
                #expect(r.rebooted == 1)
                #expect(r.logs.contains { $0.contains("is gone") })
            }
            #expect(try await a.espNowIsPeerExist(target))
            let r = try await a.espNowSend(peer: target, data: [7], sync: true)
            #expect(r.failures == 0)
            #expect(a.info.bootCount == 2 && b.info.bootCount == 2)
            await a.close()
            await b.close()
        }
    }

    /// One client stops reading while a flood arrives: the broker drops only for it, counts
    /// the drops and reports them to it as DROPPED when it reads again (received + reported
    /// = sent); a client that keeps up gets every packet and no broker drop.
    @Test func clientThatStopsReadingLosesOnlyItsOwn() async throws {
        try await BrokerFixture.with(configure: { $0.clientQueueLimit = 256 }) { f in
            var o = DeviceOptions()
            o.packetQueueCapacity = 100_000
            let keeper = try await f.client(o)
            _ = try await keeper.setRxbuf(16 * 1024)
            let stalled = try RawClient(socket: f.socket)
            try stalled.send(Frame(kind: .request, id: 1, code: BrokerWire.openCode, body: [0]))
            #expect(stalled.response(id: 1).map(RawClient.err) == 0)
            #expect(try await eventually { f.broker.counters.clientsAttached == 2 })

            let n = 8000
            let payload = Array(repeating: UInt8(0x5A), count: 32)
            let keeperReads = Task { () -> (packets: Int, deviceDropped: UInt64) in
                var got = 0
                // Until every packet is in, or (dongle drops) nothing more comes for 5 s.
                while got < n {
                    if try await keeper.packetQueue.next(timeout: .seconds(5)) != nil { got += 1 } else { break }
                }
                return (got, keeper.hostCounters.deviceDropped[1] ?? 0)
            }
            let start = Date()
            try await withThrowingTaskGroup(of: Void.self) { g in
                for w in 0..<4 {
                    g.addTask {
                        for _ in 0..<(n / 4) { _ = try await f.remote.espNowSend(peer: f.brokeredMAC, data: payload, sync: w % 2 == 0) }
                    }
                }
                try await g.waitForAll()
            }
            let seconds = Date().timeIntervalSince(start)
            let k = try await keeperReads.value
            print("slow client: \(n) packets sent in \(String(format: "%.2f", seconds)) s "
                  + "(\(Int(Double(n) / seconds)) packets/s); keeper got \(k.packets), dongle dropped \(k.deviceDropped)")
            #expect(k.packets + Int(k.deviceDropped) == n)
            #expect(keeper.hostCounters.packetsDropped == 0)

            // Now the stalled client reads everything it was sent, DROPPED reports included.
            var received = 0
            var reported: UInt64 = 0
            var reads = 0
            while received + Int(reported) < n && reads < 10_000 {
                reads += 1
                let frames = stalled.read(timeoutMs: 5000)
                if frames.isEmpty { break }
                for fr in frames where fr.kind == .event {
                    if fr.code == EventCode.recv.rawValue { received += 1 }
                    if fr.code == EventCode.dropped.rawValue, fr.body.first == 1 {
                        reported += UInt64(fr.body[1]) | UInt64(fr.body[2]) << 8 | UInt64(fr.body[3]) << 16 | UInt64(fr.body[4]) << 24
                    }
                }
            }
            let c = f.broker.counters
            print("slow client: received \(received), reported dropped \(reported); broker dropped \(c.droppedForClients) for it")
            #expect(c.droppedPacketsForClients > 0)
            #expect(received + Int(reported) == n)
            // The keeper's DROPPED reports are the dongle's own plus any the broker made for the
            // keeper on a busy machine; the broker's counter sums both clients.
            let dongleDrops = Int(f.broker.device.hostCounters.deviceDropped[1] ?? 0)
            let keeperBrokerDrops = Int(k.deviceDropped) - dongleDrops
            #expect(keeperBrokerDrops >= 0)
            #expect(Int(reported) == Int(c.droppedPacketsForClients) - keeperBrokerDrops + dongleDrops)
            await keeper.close()
        }
    }

    /// Garbage, bad CRCs, bad bodies and unknown codes from a client: counted, never acted on
    /// (bad bodies and unknown codes are answered as a dongle would); other clients go on.
    @Test func hostileFramesAreCountedNotActedOn() async throws {
        try await BrokerFixture.with { f in
            let good = try await f.client()
            let raw = try RawClient(socket: f.socket)
            try raw.send(Frame(kind: .request, id: 7, code: BrokerWire.openCode, body: [0]))
            #expect(raw.response(id: 7).map(RawClient.err) == 0)
            var bad = try Frame(kind: .request, id: 8, code: CommandCode.reset.rawValue, body: []).encoded()
            bad[bad.count - 3] ^= 0x40  // CRC (or COBS) damaged: never executed
            raw.write(bad)
            raw.write([0x13, 0x37, 0xFF, 0xFF, 0x00, 0x00])  // noise
            raw.write(Array(repeating: 0x41, count: 3000) + [0])  // oversize
            // A response frame from a client is the wrong kind.
            try raw.send(Frame(kind: .response, id: 9, code: CommandCode.ping.rawValue, body: [0, 0, 0, 0]))
            // Bad body: ESPNOW_SEND too short; unknown code.
            try raw.send(Frame(kind: .request, id: 10, code: CommandCode.espnowSend.rawValue, body: [1, 2]))
            #expect(raw.response(id: 10).map(RawClient.err) == ESPError.invalidSize.rawValue)
            try raw.send(Frame(kind: .request, id: 11, code: 0x6F, body: []))
            #expect(raw.response(id: 11).map(RawClient.err) == ESPError.notSupported.rawValue)
            // Still a working session, and the dongle never rebooted.
            try raw.send(Frame(kind: .request, id: 12, code: CommandCode.ping.rawValue, body: [1, 2, 3]))
            #expect(raw.response(id: 12).map(RawClient.err) == 0)
            let link = f.broker.counters.clientLink
            #expect(link.badCRC + link.badCOBS + link.truncated >= 2)
            #expect(link.oversize == 1)
            #expect(link.badKind == 1)
            #expect(link.badBody == 1)
            #expect(good.info.bootCount == 1)
            _ = try await good.ping([9])
            #expect(good.hostCounters.reboots == 0)
            await good.close()
        }
    }

    /// Each client is its own session (section 8 applied per client): an identical copy of
    /// an answered request is answered from the replay window, a copy the window no longer
    /// covers is STALE, a HELLO starts a new session; another client's ids are unaffected.
    @Test func eachClientHasItsOwnReplayWindow() async throws {
        try await BrokerFixture.with { f in
            let other = try await f.client()
            let raw = try RawClient(socket: f.socket)
            try raw.send(Frame(kind: .request, id: 0, code: BrokerWire.openCode, body: [0]))
            #expect(raw.response(id: 0).map(RawClient.err) == 0)
            try raw.send(Frame(kind: .request, id: 100, code: CommandCode.hello.rawValue, body: []))
            let hello = try #require(raw.response(id: 100))
            #expect(RawClient.err(hello) == 0)
            let ping = Frame(kind: .request, id: 101, code: CommandCode.ping.rawValue, body: [1, 2, 3])
            try raw.send(ping)
            let first = try #require(raw.response(id: 101))
            try raw.send(ping)  // a retransmission: the remembered answer, byte for byte
            #expect(raw.response(id: 101) == first)
            #expect(f.broker.counters.replayed == 1)
            try raw.send(Frame(kind: .request, id: 117, code: CommandCode.ping.rawValue, body: [4]))  // same slot, newer
            #expect(raw.response(id: 117).map(RawClient.err) == 0)
            try raw.send(ping)  // now older than its slot: never executed again
            #expect(raw.response(id: 101).map(RawClient.err) == ESPError.bridgeStale.rawValue)
            // A new session may reuse any id.
            try raw.send(Frame(kind: .request, id: 7, code: CommandCode.hello.rawValue, body: []))
            #expect(raw.response(id: 7).map(RawClient.err) == 0)
            try raw.send(ping)
            #expect(raw.response(id: 101).map(RawClient.err) == 0)
            #expect(f.broker.counters.replayed == 1)
            _ = try await other.ping([1])  // the other client's session went on regardless
            await other.close()
        }
    }

    /// Unauthenticated clients get nothing: before BROKER_OPEN with the token every request
    /// is refused; a wrong token closes the connection.
    @Test func tokenIsRequiredOnTheSocketWhenSet() async throws {
        try await BrokerFixture.with(configure: { $0.token = Array("s3cret".utf8) }) { f in
            let raw = try RawClient(socket: f.socket)
            try raw.send(Frame(kind: .request, id: 1, code: CommandCode.hello.rawValue, body: []))
            #expect(raw.response(id: 1).map(RawClient.err) == ESPError.bridgeRefused.rawValue)
            var wrong = DeviceOptions()
            wrong.broker.token = Array("guess".utf8)
            await #expect(throws: ESPNowError.self) { _ = try await ESPNowDevice.connect(url: f.url, options: wrong) }
            var right = DeviceOptions()
            right.broker.token = Array("s3cret".utf8)
            let d = try await ESPNowDevice.connect(url: f.url, options: right)
            #expect(d.info.isBrokered)
            await d.close()
        }
    }
}
