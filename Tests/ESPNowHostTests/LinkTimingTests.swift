// Retry timing that follows the link: control calls on a slow serial link during a
// receive flood, and attempt timeouts that are not usable durations.
@testable import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import NIOCore
import Testing

@Suite("link-aware retry timing", .serialized)
struct LinkTimingTests {
    /// At 115,200 baud a flood fills the dongle's queue towards the host many times over;
    /// a PING's response queues behind those RECV events. With the default options every
    /// call still succeeds: the client does not give up while the link keeps delivering.
    @Test func pingDuringFloodAtSlowBaud() async throws {
        var o = AirOptions(dongles: 1, nodes: ["flood,len=250"])
        o.baud = 115_200
        o.seed = 11
        let air = try await SimulatedAir.start(o)
        defer { air.shutdown() }
        let d = try await ESPNowDevice.connect(path: air.dongles[0].port!)
        do {
            #expect(d.info.baud == 115_200)
            try await activate(d)
            // The flood reaches the host: the link is saturated from here on.
            #expect(try await d.packetQueue.next(timeout: .seconds(30)) != nil)
            let clock = ContinuousClock()
            var failures: [String] = []
            var slowest = Duration.zero
            let n = 20
            for i in 0..<n {
                let t0 = clock.now
                do {
                    let r = try await d.ping([UInt8(i)])
                    #expect(r.data == [UInt8(i)])
                } catch {
                    failures.append("\(error)")
                }
                slowest = max(slowest, clock.now - t0)
            }
            let st = try await d.stats()
            let h = d.hostCounters
            print("""
                PING during a flood at 115200 baud: \(n - failures.count)/\(n) answered, slowest \(slowest); \
                host retransmissions \(h.retransmissions), packets received \(h.packetsReceived), \
                host drops \(h.packetsDropped); device events dropped \(st["events_dropped"]), rx dropped \(st.rxDropped)
                """)
            #expect(failures == [])
        } catch {
            await d.close()
            throw error
        }
        await d.close()
    }

    /// Options no client can work with are refused with a message naming the option,
    /// before the port is touched: the dongle sees exactly the frames a good client sends.
    @Test func unusableTimingOptionsAreRefusedBeforeTheWire() async throws {
        let sim = SimulatedDongles()
        defer { sim.shutdown() }
        let ports = try sim.start(2)
        var bad: [(String, DeviceOptions)] = []
        for t in [TimeAmount.milliseconds(-1), .zero, .nanoseconds(Int64.min)] {
            var o = DeviceOptions()
            o.attemptTimeout = t
            bad.append(("attemptTimeout", o))
        }
        for n in [0, -3] {
            var o = DeviceOptions()
            o.attempts = n
            bad.append(("attempts", o))
        }
        var o = DeviceOptions()
        o.deviceBacklogBytes = -1
        bad.append(("deviceBacklogBytes", o))
        o = DeviceOptions()
        o.packetQueueCapacity = 0
        bad.append(("packetQueueCapacity", o))
        o = DeviceOptions()
        o.reconnectInterval = .milliseconds(-5)
        bad.append(("reconnectInterval", o))
        for (name, options) in bad {
            do {
                let d = try await ESPNowDevice.connect(path: ports[0].port, options: options)
                await d.close()
                Issue.record("\(name): accepted")
            } catch {
                if case .invalidArgument(let text) = error {
                    #expect(text.contains(name), "\(text)")
                } else {
                    Issue.record("\(name): \(error) is not invalidArgument")
                }
            }
        }
        // Dongle 0 saw the refused clients (if anything reached it), dongle 1 did not.
        var frames: [UInt32] = []
        for p in ports {
            let d = try await ESPNowDevice.connect(path: p.port)
            frames.append(try await d.stats()["link_rx_frames"])
            await d.close()
        }
        #expect(frames[0] == frames[1], "link_rx_frames \(frames)")
    }

    /// The decision an expiring attempt takes, case by case (pure; no clock involved).
    @Test func attemptVerdicts() {
        let slow = LinePace(bytesPerSecond: 11_520)  // 115,200 baud
        let fast = LinePace(bytesPerSecond: nil)
        let t = TimeAmount.milliseconds(300)
        func v(_ spoke: Bool, _ bytes: UInt64, _ since: TimeAmount, _ first: TimeAmount, _ line: LinePace) -> AttemptVerdict {
            AttemptVerdict(linkSpoke: spoke, bytesSinceStart: bytes, sinceStart: since, sinceFirst: first,
                           attemptTimeout: t, attempts: 4, backlogBytes: 16_384, line: line)
        }
        // A silent dongle: the attempt counts, on any link.
        #expect(v(false, 0, t, t, slow) == .retransmit)
        #expect(v(false, 0, t, t, fast) == .retransmit)
        // A talking dongle on a fast link: retransmit, uncounted.
        #expect(v(true, 50_000, t, t, fast) == .retransmitUncounted)
        // On a slow link: wait while the backlog may still hold the response...
        #expect(v(true, 8_000, .milliseconds(900), .milliseconds(900), slow) == .extend)
        // ...not once a full backlog has arrived, nor once it had time to drain.
        #expect(v(true, 16_384, .milliseconds(900), .milliseconds(900), slow) == .retransmit)
        #expect(v(true, 100, .milliseconds(1_800), .milliseconds(1_800), slow) == .retransmit)
        // The hang guard: 4 x attempts x (timeout + drain time) since the first transmission.
        #expect(v(true, 0, t, .seconds(5), fast) == .giveUp)
        #expect(v(true, 0, t, .seconds(20), slow) == .extend)
        #expect(v(true, 0, t, .seconds(28), slow) == .giveUp)
        // The line time of a request and its response is added on a UART link only.
        #expect(slow.attemptTimeout(t, requestBytes: 1_088) == t + .milliseconds(100))
        #expect(fast.attemptTimeout(t, requestBytes: 1_088) == t)
    }

    /// A dongle that gets no CPU for a while (stopped with SIGSTOP: what a busy machine
    /// does to a simulated dongle, in the extreme) is late, not gone: a call made meanwhile
    /// completes once it runs again, as long as that is within `minimumCallTime`.
    @Test func aStalledDongleIsLateNotGone() async throws {
        let sim = SimulatedDongles()
        defer { sim.shutdown() }
        let port = try sim.start(1)[0]
        let pid = try #require(port.process?.processIdentifier)
        let d = try await ESPNowDevice.connect(path: port.port)
        do {
            // Settled first: a late boot HELLO right after the handshake (seen on a busy
            // machine) would fail the call below as a reboot, which is not what this tests.
            for _ in 0..<3 where (try? await d.ping()) == nil {}
            #expect(kill(pid, SIGSTOP) == 0)
            let resume = Task {
                try await Task.sleep(for: .seconds(2))  // longer than 4 attempts x 300 ms
                kill(pid, SIGCONT)
            }
            let clock = ContinuousClock()
            let t0 = clock.now
            let r = try await d.ping([7])
            print("PING to a dongle stopped for 2 s: answered after \(clock.now - t0), "
                  + "\(d.hostCounters.retransmissions) retransmissions")
            #expect(r.data == [7])
            try await resume.value
        } catch {
            kill(pid, SIGCONT)
            await d.close()
            throw error
        }
        await d.close()
    }

    /// The client paces its retry timing by the HELLO's UART rate, and follows SET_BAUD.
    @Test func lineRateFollowsHelloAndSetBaud() async throws {
        var o = AirOptions(dongles: 1)
        o.baud = 115_200
        let air = try await SimulatedAir.start(o)
        defer { air.shutdown() }
        let d = try await ESPNowDevice.connect(path: air.dongles[0].port!)
        do {
            #expect(d.state.withLockedValue { $0.line.bytesPerSecond } == 11_520)
            try await d.setBaud(921_600)
            #expect(d.state.withLockedValue { $0.line.bytesPerSecond } == 92_160)
            #expect(try await d.ping([1]).data == [1])
        } catch {
            await d.close()
            throw error
        }
        await d.close()
    }
}
