// The packet queue on its own: the one deadline timer shared by waiting readers, and the
// level at which it asks for reading to stop and to resume. Counts and values only.
@testable import ESPNowDevice
import ESPNowWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

private func packet(_ n: UInt8) -> ReceivedPacket {
    ReceivedPacket(src: MACAddress(1, 2, 3, 4, 5, 6), dst: .station, dstAddr: nil, rate: 11, rssi: -40, channel: 1,
                   timestampUs: UInt32(n), data: ByteBuffer(bytes: [n]))
}

@Suite("packet queue")
struct PacketQueueTests {
    /// A later reader with an earlier deadline re-points the shared timer; when it fires,
    /// that reader gets nil, the one with the later deadline keeps waiting and gets the
    /// next packet, and a reader with no deadline is never timed out.
    @Test func waitersShareOneTimer() async throws {
        let q = PacketQueue(capacity: 8, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let long = Task { try await q.next(timeout: .seconds(120)) }
        let forever = Task { try await q.next(timeout: nil) }
        // Let both wait before the short one arms the timer for its own, earlier deadline.
        while q.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        let short = try await q.next(timeout: .milliseconds(50))
        #expect(short == nil)
        #expect(q.waiting == 2)
        q.push(packet(7))
        q.push(packet(8))
        let a = try await long.value, b = try await forever.value
        #expect(Set([a?.timestampUs, b?.timestampUs]) == [7, 8])
        #expect(q.count == 0)
    }

    /// Full at `capacity`: reading is asked to stop once; taking packets down to half asks
    /// for it to resume, once; nothing is dropped before `capacity + overflow`.
    @Test func pauseAndResumeLevels() async throws {
        let q = PacketQueue(capacity: 4, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let resumed = NIOLockedValueBox(0)
        q.setReadingHandler { resumed.withLockedValue { $0 += 1 } }
        #expect(q.push(packet(0)) == false)
        #expect(q.pauseIfFull() == false)
        for i in 1..<4 { _ = q.push(packet(UInt8(i))) }
        #expect(q.pauseIfFull() == true)
        #expect(q.pauseIfFull() == false)  // already paused
        #expect(q.readingPaused)
        // Packets still read after the pause are kept.
        for i in 4..<10 { #expect(q.push(packet(UInt8(i))) == true) }
        #expect(q.count == 10 && q.counters.dropped == 0)
        var taken: [UInt32] = []
        while q.count > 2 {
            taken.append(try #require(try await q.next(timeout: .zero)).timestampUs)
            #expect(resumed.withLockedValue { $0 } == 0 || q.count <= 2)
        }
        #expect(taken == Array(0..<8))
        #expect(resumed.withLockedValue { $0 } == 1)
        #expect(!q.readingPaused)
        // A request outstanding lifts the pause whatever the level.
        for i in 10..<14 { _ = q.push(packet(UInt8(i))) }
        #expect(q.pauseIfFull())
        #expect(q.unpause())
        #expect(!q.readingPaused)
        // Beyond capacity + overflow a packet is dropped and counted.
        while q.count < 4 + PacketQueue.overflow { _ = q.push(packet(0)) }
        #expect(q.counters.dropped == 0)
        _ = q.push(packet(0))
        #expect(q.counters.dropped == 1)
        #expect(q.clear() == 4 + PacketQueue.overflow)
    }

    /// One read's packets pushed together: waiting readers get the first ones, in the order
    /// they began to wait; the rest are queued in order, each counted once and each owed one
    /// arrival call; the batch reports a full queue like single pushes do; beyond
    /// `capacity + overflow` the rest of the batch is dropped and counted.
    @Test func batchGoesToWaitersThenQueue() async throws {
        let q = PacketQueue(capacity: 4, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let arrivals = NIOLockedValueBox(0)
        q.setArrivalHandler { arrivals.withLockedValue { $0 += 1 } }
        let first = Task { try await q.next(timeout: nil) }
        while q.waiting < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let second = Task { try await q.next(timeout: nil) }
        while q.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(q.push(contentsOf: (0..<5).map { packet(UInt8($0)) }) == false)
        #expect(try await first.value?.timestampUs == 0)
        #expect(try await second.value?.timestampUs == 1)
        #expect(q.count == 3 && arrivals.withLockedValue { $0 } == 3)
        #expect(q.push(contentsOf: [packet(5)]) == true)  // 4 queued: at capacity
        var rest: [UInt32] = []
        while let p = q.tryNext() { rest.append(p.timestampUs) }
        #expect(rest == [2, 3, 4, 5])
        #expect(q.counters.received == 6 && q.counters.dropped == 0)
        let over = (0..<(4 + PacketQueue.overflow + 3)).map { packet(UInt8(truncatingIfNeeded: $0)) }
        #expect(q.push(contentsOf: over) == true)
        #expect(q.count == 4 + PacketQueue.overflow)
        #expect(q.counters.dropped == 3)
        #expect(q.counters.received == UInt64(6 + over.count))
    }
}
