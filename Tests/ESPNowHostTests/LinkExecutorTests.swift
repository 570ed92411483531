// A receive loop that prefers the link's thread as its task executor: it runs on that thread,
// gets every packet in order, and ends with the link's error when the dongle goes away (its
// jobs then run on the global executor). Assertions are on thread names, counts and order.
@testable import ESPNowSerial
import ESPNow
@testable import ESPNowDevice
import ESPNowSimulator
import Foundation
import Testing

@Suite("the link's thread as a task executor", .serialized)
struct LinkExecutorTests {
    @Test func receiveLoopRunsOnTheLinkThreadAndEndsWithTheLink() async throws {
        var device = DeviceOptions()
        device.autoReconnect = false
        try await withAir(AirOptions(dongles: 2), device: device) { air, es in
            let (a, b, peer) = try await pair(es)
            let executor = try #require(b.device.linkExecutor)
            let port = try #require(executor as? PortThread)
            let count = 300
            // The loop runs on the link's thread; it counts the packets it takes there.
            let receiver = Task {
                try await withTaskExecutorPreference(executor) { () async throws -> (seqs: [Int], onLinkThread: Int) in
                    var seqs: [Int] = []
                    var onLinkThread = 0
                    while seqs.count < count {
                        // Hang guard, not a pass condition.
                        guard let p = try await b.device.packetQueue.next(timeout: .seconds(60)) else { break }
                        let d = Array(p.data.readableBytesView)
                        seqs.append(Int(d[0]) | Int(d[1]) << 8)
                        if port.isCurrent { onLinkThread += 1 }
                    }
                    return (seqs, onLinkThread)
                }
            }
            for i in 0..<count {
                #expect(try await a.send(peer, [UInt8(i & 0xFF), UInt8(i >> 8)] + [UInt8](repeating: 7, count: 40), true))
            }
            let r = try await receiver.value
            #expect(r.seqs == Array(0..<count))
            #expect(r.onLinkThread == count)
            #expect(b.device.hostCounters.packetsDropped == 0)

            // The dongle goes away while a loop waits on the link's thread: it ends with the
            // error, and what follows runs although that thread is gone.
            let waiter = Task { () async -> (String, onLinkThread: Bool) in
                await withTaskExecutorPreference(executor) { () async -> (String, onLinkThread: Bool) in
                    do {
                        _ = try await b.device.packetQueue.next(timeout: nil)
                        return ("a packet", port.isCurrent)
                    } catch {
                        return ("\(error)", port.isCurrent)
                    }
                }
            }
            let guardEnd = ContinuousClock.now + .seconds(60)  // hang guard
            while b.device.packetQueue.waiting == 0 && ContinuousClock.now < guardEnd {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await air.unplug(1)
            let ended = await waiter.value
            #expect(ended.0 == "\(ESPNowError.unplugged(path: b.device.path))")
            #expect(!ended.onLinkThread)
        }
    }
}
