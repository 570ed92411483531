// host-bench: figures of the host library (`make bench-host`). Prints figures; nothing here
// passes or fails.
//
//   1. receive, Swift beside C (medians of interleaved rounds), from a synthetic dongle (`host-bench-c produce`: a pty into
//      which pre-encoded 250-byte RECV frames are written as fast as it takes them, or at
//      10,000 frames/s one frame per write). Swift: an `ESPNow.irecv` loop on the default
//      executor, and the same loop on the link's thread (`ESPNowDevice.linkExecutor`); C: read + COBS +
//      CRC + count (`host-bench-c read`, the firmware's portable codec). Packets/s, CPU per
//      packet (getrusage of the reading process: user + system), context switches per packet
//      (getrusage: voluntary + involuntary, every thread of the process), packets dropped
//      inside the host.
//   2. PING round trip on a simulated dongle: the C client (`host-bench-c ping`) and
//      `ESPNowDevice.ping` (default executor, then on the link executor), p50/p99 and
//      switches per round trip; host-added = Swift − C.
//   3. sync send latency, API call to status, p50/p99 (HdrHistogram), one sender alone.
//   4. 16 concurrent sync senders, 250-byte unicast at 1 Mbps in --realtime mode, against
//      the air limit (docs/SIMULATOR.md: published 357 pkt/s, model 328), and their latency.
//   5. the codec alone: Swift's FrameSplitter against the C reader's decoding, same frames.
//   6. receive from a simulated dongle hearing `flood` nodes (instant mode): what the
//      dongle and the host drop.
//
// Options: --seconds S (per phase, default 5), --floods K (default 4), --flood-rate R
// (wifi_phy_rate_t, default 12 = 54 Mbps), --senders N (default 16), --rounds R (section 1's
// interleaved rounds, default 5; medians and best rounds are printed), --c-tool PATH
// (default .build-bench/host-bench-c, built by `make bench-host`), --only LIST (comma-separated
// section numbers), --receive-row READER@RATE[,...] (runs of section 1 alone, in one process, for a profiler:
// READER is c, default or link; RATE 0 for as fast as it goes).
import ESPNow
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Histogram
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

struct Args {
    var seconds = 5.0
    var floods = 4
    var floodRate = 12
    var senders = 16
    var rounds = 5
    var cTool = ".build-bench/host-bench-c"
    var only: Set<Int> = [1, 2, 3, 4, 5, 6]
    /// `--receive-row`: one receive run alone (for a profiler), e.g. `link@0` or `default@10000`.
    var receiveRow: String?

    init() {
        var it = CommandLine.arguments.dropFirst().makeIterator()
        while let a = it.next() {
            func value() -> String {
                guard let v = it.next() else { fatalError("\(a) needs a value") }
                return v
            }
            switch a {
            case "--seconds": seconds = Double(value()) ?? seconds
            case "--floods": floods = Int(value()) ?? floods
            case "--flood-rate": floodRate = Int(value()) ?? floodRate
            case "--senders": senders = Int(value()) ?? senders
            case "--rounds": rounds = Int(value()) ?? rounds
            case "--c-tool": cTool = value()
            case "--only": only = Set(value().split(separator: ",").compactMap { Int($0) })
            case "--receive-row": receiveRow = value()
            case "-h", "--help":
                print("usage: host-bench [--seconds S] [--floods K] [--flood-rate R] [--senders N] [--rounds R] [--c-tool PATH] [--only 1,2,...] [--receive-row c|default|link@RATE]")
                exit(0)
            default: fatalError("unknown argument \(a) (try --help)")
            }
        }
    }
}

func cpuSeconds() -> Double { usage().cpu }

/// CPU seconds (user + system) and context switches (voluntary + involuntary) of this process.
func usage() -> (cpu: Double, switches: Int) {
    var ru = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return (s(ru.ru_utime) + s(ru.ru_stime), ru.ru_nvcsw + ru.ru_nivcsw)
}

func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) / 1e18
}

func ms(_ us: UInt64) -> String { String(format: "%.3f", Double(us) / 1000) }

func summary(_ h: Histogram<UInt64>) -> String {
    guard h.totalCount > 0 else { return "no samples" }
    return "n \(h.totalCount), p50 \(ms(h.valueAtPercentile(50))) ms, p90 \(ms(h.valueAtPercentile(90))) ms, "
        + "p99 \(ms(h.valueAtPercentile(99))) ms, max \(ms(h.max)) ms"
}

func newHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
}

let args = Args()
let clock = ContinuousClock()

// MARK: 6. Receive from a simulated flood

func benchReceive() async throws {
    let nodes = Array(repeating: "flood,len=250,rate=\(args.floodRate)", count: args.floods)
    let air = try await SimulatedAir.start(AirOptions(dongles: 1, nodes: nodes))
    defer { air.shutdown() }
    let e = try await ESPNow.open(air.dongles[0].port!)
    try await WLAN(.sta, e).active(true)
    try await e.config(rxbuf: 65536)
    try await e.initialize()
    // Warm up (queues filled, code paths hot), then measure.
    let warm = clock.now
    while clock.now - warm < .seconds(1) { _ = try await e.irecv(1000) }
    let dev0 = try await e.device.stats()
    let air0 = try await air.stats()
    let host0 = e.device.hostCounters
    let cpu0 = cpuSeconds()
    let t0 = clock.now
    let end = t0 + .seconds(args.seconds)
    var packets = 0, bytes = 0, bad = 0
    while clock.now < end {
        let (_, msg) = try await e.irecv(1000)
        guard let msg else { continue }
        packets += 1
        bytes += msg.count
        if msg.count != 250 { bad += 1 }
    }
    let wall = seconds(clock.now - t0)
    let cpu = cpuSeconds() - cpu0
    let dev1 = try await e.device.stats()
    let air1 = try await air.stats()
    let host1 = e.device.hostCounters
    let offered = (air1[0]?.rx ?? 0) - (air0[0]?.rx ?? 0)
    let devRx = Int(dev1.rxPackets &- dev0.rxPackets)
    let devDropped = Int(dev1.rxDropped &- dev0.rxDropped)
    let evDropped = Int(dev1["events_dropped"] &- dev0["events_dropped"])
    let hostDropped = Int(host1.packetsDropped - host0.packetsDropped)
    print("""
        6. receive from a simulated dongle: \(args.floods) flood node(s), 250-byte payloads, rate \(args.floodRate), instant mode, unpaced pty
           offered to the dongle (air rx)  \(offered) pkt = \(Int(Double(offered) / wall)) pkt/s
           dongle received / dropped       \(devRx) / rxbuf \(devDropped), link queue \(evDropped)
           host received                   \(packets) pkt in \(String(format: "%.2f", wall)) s = \(Int(Double(packets) / wall)) pkt/s, \
        \(String(format: "%.1f", Double(bytes) * 8 / wall / 1e6)) Mbit/s of payload (\(bad) of wrong length)
           host queue drops                \(hostDropped)
           host CPU                        \(String(format: "%.2f", cpu)) s (\(String(format: "%.0f", cpu / wall * 100)) % of one core), \
        \(String(format: "%.1f", packets > 0 ? cpu / Double(packets) * 1e6 : 0)) µs per packet
        """)
    await e.device.close()
}

struct Tally: Sendable {
    var ok = 0, failed = 0, threw = 0
    var h = newHistogram()
}

final class TallyBox: Sendable {
    let m = NIOLockedValueBox(Tally())
}

// MARK: 2 + 3. Concurrent sync senders in realtime mode, latency

func benchSenders() async throws {
    let air = try await SimulatedAir.start(AirOptions(dongles: 2, realtime: true))
    defer { air.shutdown() }
    let a = try await ESPNow.open(air.dongles[0].port!)
    let b = try await ESPNow.open(air.dongles[1].port!)
    for e in [a, b] {
        try await WLAN(.sta, e).active(true)
        try await e.initialize()
    }
    let peer: [UInt8] = try await WLAN(.sta, b).config("mac")
    try await a.addPeer(peer)
    try await a.addPeer([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    let drain = Task {
        var n = 0
        while !Task.isCancelled {
            if (try? await b.irecv(200))?.msg != nil { n += 1 }
        }
        return n
    }

    // 3a. One sender alone: 10-byte broadcast (the calibration table's case) and 250-byte unicast.
    var bcast = newHistogram(), uni = newHistogram()
    let small = [UInt8](repeating: 0x42, count: 10)
    let big = [UInt8](repeating: 0x42, count: 250)
    for (payload, dest, lat) in [(small, [UInt8](repeating: 0xff, count: 6), 0), (big, peer, 1)] {
        let end = clock.now + .seconds(args.seconds / 2)
        while clock.now < end {
            let t = clock.now
            _ = try await a.send(dest, payload, true)
            let us = UInt64(max(0, seconds(clock.now - t) * 1e6))
            if lat == 0 { _ = bcast.record(us) } else { _ = uni.record(us) }
        }
    }
    print("""
        3. sync send latency, API call to status, one sender, realtime 1 Mbps
           10-byte broadcast   \(summary(bcast))   (docs/SIMULATOR.md: airtime 0.82 ms, published ~1.3 ms)
           250-byte unicast    \(summary(uni))
        """)

    // 2. N concurrent senders.
    let tally = TallyBox()
    let senders = args.senders
    let air0 = try await air.stats()
    let t0 = clock.now
    let end = t0 + .seconds(args.seconds)
    try await withThrowingTaskGroup(of: Void.self) { g in
        for _ in 0..<senders {
            g.addTask { [big, peer] in
                var local = Tally()
                while clock.now < end {
                    let t = clock.now
                    do {
                        if try await a.send(peer, big, true) { local.ok += 1 } else { local.failed += 1 }
                        _ = local.h.record(UInt64(max(0, seconds(clock.now - t) * 1e6)))
                    } catch {
                        local.threw += 1
                    }
                }
                let l = local
                tally.m.withLockedValue { t in
                    t.ok += l.ok
                    t.failed += l.failed
                    t.threw += l.threw
                    t.h.add(l.h)
                }
            }
        }
        try await g.waitForAll()
    }
    let wall = seconds(clock.now - t0)
    let air1 = try await air.stats()
    drain.cancel()
    let received = await drain.value
    let t = tally.m.withLockedValue { $0 }
    let attempts = (air1[0]?.attempts ?? 0) - (air0[0]?.attempts ?? 0)
    let pps = Double(t.ok) / wall
    print("""
        4. \(args.senders) concurrent sync senders, 250-byte unicast, realtime 1 Mbps, window \(a.device.info.window)
           delivered \(t.ok), not acknowledged \(t.failed), threw \(t.threw) in \(String(format: "%.2f", wall)) s
           throughput \(String(format: "%.0f", pps)) pkt/s = \(String(format: "%.0f", pps / 357 * 100)) % of the published \
        air limit 357 pkt/s, \(String(format: "%.0f", pps / 328 * 100)) % of the model's 328
           air attempts \(attempts) (retries included); peer host received \(received) in total
           sync send latency under that load (each of \(args.senders) senders): \(summary(t.h))
        """)
    await a.device.close()
    await b.device.close()
}

let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
print("host-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(load), \(args.seconds) s per phase")
do {
    if let row = args.receiveRow {
        try await benchReceiveRow(row, tool: args.cTool, seconds: args.seconds)
        exit(0)
    }
    if args.only.contains(1) { try await benchReceiveSideBySide(tool: args.cTool, seconds: args.seconds, rounds: args.rounds) }
    if args.only.contains(2) { try await benchPing(tool: args.cTool) }
    if args.only.contains(3) || args.only.contains(4) { try await benchSenders() }
    if args.only.contains(5) { try benchCodec(tool: args.cTool, seconds: 1) }
    if args.only.contains(6) { try await benchReceive() }
} catch {
    print("host-bench: \(error)")
    exit(1)
}
