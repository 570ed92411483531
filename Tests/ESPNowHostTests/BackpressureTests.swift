// A slow consumer: the host stops reading when its packet queue is full, so the dongle
// pushes back and every packet the application does not get is dropped there and reported
// (STATS, DROPPED events); nothing is dropped inside the host.
// Assertions are on counts only.
@testable import ESPNowDevice
import ESPNow
import ESPNowSimulator
import Foundation
import NIOConcurrencyHelpers
import Testing

@Suite("backpressure: a slow consumer", .serialized)
struct BackpressureTests {
    /// 800 acknowledged 250-byte packets arrive while the application takes none (a queue of
    /// 16): far more than the host queue, the link's buffers and the dongle's rxbuf hold
    /// together. Then the application drains: what it got plus what the dongle reports
    /// dropped is exactly what was acknowledged, and the host dropped nothing.
    @Test func slowConsumerLosesNothingInsideTheHost() async throws {
        var device = DeviceOptions()
        device.packetQueueCapacity = 16
        try await withAir(AirOptions(dongles: 2), device: device) { air, es in
            let (a, b, peer) = try await pair(es)
            let workers = 8, perWorker = 100
            let acknowledged = try await withThrowingTaskGroup(of: Int.self) { g in
                for w in 0..<workers {
                    g.addTask {
                        var ok = 0
                        for i in 0..<perWorker {
                            let payload = [UInt8(w), UInt8(i)] + [UInt8](repeating: UInt8(truncatingIfNeeded: w &* 31 &+ i), count: 248)
                            if try await a.send(peer, payload, true) { ok += 1 }
                        }
                        return ok
                    }
                }
                var n = 0
                for try await ok in g { n += ok }
                return n
            }
            // Only now does the application start taking packets.
            let got = NIOLockedValueBox<[[UInt8]]>([])
            let drain = Task {
                while !Task.isCancelled {
                    guard let p = try await b.device.packetQueue.next(timeout: .milliseconds(200)) else { continue }
                    got.withLockedValue { $0.append(Array(p.data.readableBytesView)) }
                }
            }
            // Hang guard, not a pass condition: until what arrived and what the dongle
            // counted (and reported in DROPPED events) add up.
            var dongleDropped = 0, reported = 0
            let guardEnd = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < guardEnd {
                let st = try await b.device.stats()
                dongleDropped = Int(st.rxDropped) + Int(st["events_dropped"])
                let h = b.device.hostCounters
                reported = Int((h.deviceDropped[1] ?? 0) + (h.deviceDropped[2] ?? 0))
                if got.withLockedValue({ $0.count }) + dongleDropped >= acknowledged && reported == dongleDropped { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            drain.cancel()
            _ = try? await drain.value
            let received = got.withLockedValue { $0 }
            let h = b.device.hostCounters
            let airStats = try await air.stats()
            print("""
                slow consumer: acknowledged \(acknowledged), application received \(received.count), \
                dongle dropped \(dongleDropped) (DROPPED events \(reported)), host dropped \(h.packetsDropped); \
                air rx \(airStats[1]?.rx ?? -1), rx overflow \(airStats[1]?.rxOverflow ?? -1)
                """)
            #expect(acknowledged == workers * perWorker)
            #expect(h.packetsDropped == 0)
            #expect(received.count + dongleDropped == acknowledged)
            #expect(reported == dongleDropped)
            #expect(Set(received).count == received.count)  // nothing delivered twice
            // The buffers between the dongle and the application hold a few hundred of
            // these packets at most: the dongle had to drop the rest.
            #expect(dongleDropped > 0)
        }
    }

    /// A command issued while the packet queue is full and the host has stopped reading
    /// still gets its response (the host reads while a request is outstanding), and reading
    /// stops again afterwards: the queue stays within capacity + overflow, nothing dropped
    /// inside the host.
    @Test func commandsAreAnsweredWhileTheQueueIsFull() async throws {
        var device = DeviceOptions()
        device.packetQueueCapacity = 8
        try await withAir(AirOptions(dongles: 1, nodes: ["flood,len=250"]), device: device) { _, es in
            let b = es[0]
            try await activateAll([b])
            // The flood fills the queue: reading stops.
            let guardEnd = ContinuousClock.now + .seconds(60)
            while b.device.packetQueue.count < 8 && ContinuousClock.now < guardEnd {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(b.device.packetQueue.count >= 8)
            for i in 0..<20 {
                let r = try await b.device.ping([UInt8(i)])
                #expect(r.data == [UInt8(i)])
            }
            // While a response is awaited the link is read, so how many packets arrive meanwhile
            // depends on the machine's speed; what may not vary: every packet read is queued or
            // counted, and one is dropped only once the queue is at its hard limit.
            let queued = b.device.packetQueue.count
            let afterPings = b.device.hostCounters
            #expect(queued <= 8 + PacketQueue.overflow)
            #expect(afterPings.packetsReceived == UInt64(queued) + afterPings.packetsDropped)
            if afterPings.packetsDropped > 0 { #expect(queued == 8 + PacketQueue.overflow) }
            // Draining resumes reading: packets keep coming, and with no request outstanding
            // the queue pauses the link instead of dropping.
            let before = b.device.hostCounters.packetsReceived
            // Everything queued, then 200 more: those can only come from reading resumed.
            let target = queued + 200
            var taken = 0
            while taken < target {
                if try await b.device.packetQueue.next(timeout: .seconds(30)) == nil { break }
                taken += 1
            }
            #expect(taken == target)
            #expect(b.device.hostCounters.packetsReceived > before)
            #expect(b.device.hostCounters.packetsDropped == afterPings.packetsDropped)
        }
    }

    /// The dongle goes away while the host has stopped reading (queue full): the link still
    /// ends (a hang-up is looked at while reading is paused), the queued packets come first,
    /// then the error; nothing waits forever.
    @Test func unplugWhileReadingIsPausedEndsTheLink() async throws {
        var device = DeviceOptions()
        device.packetQueueCapacity = 8
        device.autoReconnect = false
        try await withAir(AirOptions(dongles: 1, nodes: ["flood,len=250"]), device: device) { air, es in
            let b = es[0]
            try await activateAll([b])
            let guardEnd = ContinuousClock.now + .seconds(60)  // hang guard
            while !(b.device.packetQueue.count >= 8 && b.device.packetQueue.readingPaused) && ContinuousClock.now < guardEnd {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(b.device.packetQueue.readingPaused)
            let queued = b.device.packetQueue.count
            try await air.unplug(0)
            var taken = 0
            var ending = "none"
            do {
                while try await b.device.packetQueue.next(timeout: .seconds(60)) != nil { taken += 1 }
                ending = "hang guard: no packet and no error for 60 s"
            } catch {
                ending = "\(error)"
            }
            #expect(ending == "\(ESPNowError.unplugged(path: b.device.path))")
            #expect(taken >= queued)
            #expect(b.device.hostCounters.packetsDropped == 0)
        }
    }
}
