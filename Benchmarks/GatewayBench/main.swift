// Gateway figures (`make bench-gateway`): sustained readings/s into SQLite and into
// PostgreSQL, p99 latency from the RECV event to the committed row, resident memory over
// the run. Prints; never fails. Two sources:
//  - radio: unpaced simulated dongles, each with flood nodes whose frames decode through a
//    declared layout into 8 readings (the whole path: pty, device client, queue, decoder, DB);
//  - feed: packets handed to the gateway as fast as it takes them (the store's ceiling).
// Arguments: [--seconds N] (per run, default 10) [--only sqlite|postgres] [--dongles N]
//   [--source radio|feed] (default both) [--rate R] (feed: R readings/s, paced; default
//   unpaced) [--batch N] (the writer's largest batch, default the gateway's)
//   [--memory MIN] [--rss-every S]: one long run (radio into SQLite, with retention so the
//   file stays small) printing resident memory every S seconds (default 30)
//   [--query-rows N]: the readings query figure instead (QueryBench.swift)

import ESPNowGateway
import ESPNowSimulator
import ESPNowWire
import Foundation
import Histogram
import NIOConcurrencyHelpers

func monoNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func rssMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb / 1024
}

var seconds = 10.0
var only: String?
var dongleCount = 1
var sources = ["radio", "feed"]
var feedRate: Double?
var batchSize: Int?
var memoryMinutes: Double?
var rssEvery = 30.0
var queryRows: Int?
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--seconds": seconds = Double(args.next() ?? "") ?? seconds
    case "--only": only = args.next()
    case "--dongles": dongleCount = Int(args.next() ?? "") ?? dongleCount
    case "--source": sources = [args.next() ?? "radio"]
    case "--rate": feedRate = Double(args.next() ?? "")
    case "--batch": batchSize = Int(args.next() ?? "")
    case "--memory": memoryMinutes = Double(args.next() ?? "")
    case "--rss-every": rssEvery = Double(args.next() ?? "") ?? rssEvery
    case "--query-rows": queryRows = Int(args.next() ?? "")
    default: print("unknown argument \(a)"); exit(1)
    }
}

let layout = try BinaryLayout(name: "flood8", spec: "<u32 seq, u16 a, u16 b, u16 c, u16 d, u16 e, u16 f, u16 g, u16 h")

final class Probe: Sendable {
    let hist = NIOLockedValueBox(Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))
    let readings = NIOLockedValueBox<Int64>(0)

    func attach(_ g: Gateway) {
        g.onCommit { batch in
            let now = monoNs()
            var n: Int64 = 0
            self.hist.withLockedValue { h in
                for i in batch {
                    n += Int64(i.decoded.readings.count)
                    if i.uplink.receivedNs > 0 { _ = h.record((now - min(now, i.uplink.receivedNs)) / 1000) }
                }
            }
            self.readings.withLockedValue { $0 += n }
        }
    }
}

func pgDir() -> String? { ProcessInfo.processInfo.environment["ESPNOW_TEST_PG_DIR"] }

func makeStore(_ kind: String) throws -> any GatewayStore {
    let dir = "/tmp/espnow-gwbench-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    if kind == "sqlite" {
        let path = "\(dir)/bench-\(UInt32.random(in: 0...UInt32.max)).sqlite"
        return try SQLiteStore(path: path)
    }
    guard let d = pgDir() else { throw StoreError("no PostgreSQL: run through `make bench-gateway` (ESPNOW_TEST_PG_DIR)") }
    let user = getuid() == 0 ? "postgres" : (ProcessInfo.processInfo.environment["USER"] ?? "postgres")
    // A new database per run, through psql (the bench has no other use for a raw connection).
    let name = "bench\(UInt32.random(in: 0...UInt32.max))"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
    p.arguments = ["-q", "-h", d, "-U", user, "-d", "postgres", "-c", "CREATE DATABASE \(name)"]
    try p.run()
    p.waitUntilExit()
    return try PostgresStore(url: "postgres://\(user)@/\(name)?host=\(d)")
}

struct Figures {
    var readingsPerSecond: Double
    var packetsPerSecond: Double
    var p50ms: Double
    var p99ms: Double
    var rssStart: Double
    var rssEnd: Double
    var rssMax: Double
    var drops: [String: Int64]
}

@MainActor
func measure(store kind: String, source: String, memoryRun: Bool = false) async throws -> Figures {
    var config = GatewayConfig()
    if let batchSize { config.batchSize = batchSize }
    if memoryRun {
        // Keep the database small: what is older than two minutes goes (pruned every minute).
        config.retainRawUs = 120_000_000
        config.retainReadingsUs = 120_000_000
    }
    config.gatewayID = "bench"
    config.defaultDecoder = .layout("flood8")
    config.layouts = [layout]
    config.spoolPath = "/tmp/espnow-gwbench-\(getpid())/spool-\(UInt32.random(in: 0...UInt32.max)).sqlite"
    config.dedup = .disabled
    var air: SimulatedAir?
    var ports: [String] = []
    if source == "radio" {
        // Unpaced (instant) air: the floods are paced by their own airtime at 54 Mbps; every
        // dongle hears every flood (de-duplication is off, so each copy is stored).
        let nodes = ["flood,len=20,rate=11", "flood,len=20,rate=11"]
        let o = AirOptions(dongles: dongleCount, nodes: nodes)
        let a = try await SimulatedAir.start(o)
        air = a
        ports = a.dongles.compactMap(\.port)
    }
    defer { air?.shutdown() }
    let store = try makeStore(kind)
    let g = try Gateway(config: config, store: store, ports: ports)
    let probe = Probe()
    probe.attach(g)
    let task = Task { try await g.run() }
    let stopFeed = NIOLockedValueBox(false)
    var feeder: Task<Void, Never>?
    if source == "feed" {
        let packetsPerSecond = feedRate.map { $0 / 8 }
        feeder = Task.detached {
            var seq: UInt32 = 0
            let node = MACAddress(0x02, 0, 0, 0, 0, 1)
            let start = monoNs()
            while !stopFeed.withLockedValue({ $0 }) {
                if let pps = packetsPerSecond {
                    // Paced: as many packets as the rate allows by now, in 1 ms steps.
                    if Double(seq) >= Double(monoNs() - start) / 1e9 * pps { try? await Task.sleep(for: .milliseconds(1)); continue }
                } else if g.stats.queueDepth > config.queueCapacity / 2 {
                    // Unpaced: keep the queue near half full, as fast as the writer takes them.
                    try? await Task.sleep(for: .milliseconds(1))
                    continue
                }
                seq &+= 1
                var p = withUnsafeBytes(of: seq.littleEndian, Array.init)
                p += [UInt8](repeating: UInt8(seq & 0x7F), count: 16)
                g.ingest(Uplink(node: node, payload: p, hostTimeUs: Int64(Date().timeIntervalSince1970 * 1e6), dongle: "feed", receivedNs: monoNs()))
            }
        }
    }
    // Warm-up, then the measured window.
    try await Task.sleep(for: .seconds(2))
    probe.hist.withLockedValue { $0.reset() }
    let r0 = probe.readings.withLockedValue { $0 }
    let s0 = g.stats.stored
    let t0 = monoNs()
    let rssStart = rssMiB()
    var rssMax = rssStart
    let end = t0 + UInt64((memoryRun ? memoryMinutes! * 60 : seconds) * 1e9)
    var nextPrint = t0 + UInt64(rssEvery * 1e9)
    if memoryRun { print(String(format: "  t=%5.0f s  RSS %7.1f MiB  stored %10lld", 0.0, rssStart, g.stats.stored)) }
    while monoNs() < end {
        try await Task.sleep(for: .milliseconds(500))
        rssMax = max(rssMax, rssMiB())
        if memoryRun, monoNs() >= nextPrint {
            nextPrint += UInt64(rssEvery * 1e9)
            let st = g.stats
            print(String(format: "  t=%5.0f s  RSS %7.1f MiB  stored %10lld  queue %6d  drops %lld", Double(monoNs() - t0) / 1e9, rssMiB(),
                         st.stored, st.queueDepth, st.drops.values.reduce(0, +)))
            fflush(nil)
        }
    }
    let dt = Double(monoNs() - t0) / 1e9
    let r1 = probe.readings.withLockedValue { $0 }
    let s1 = g.stats.stored
    let rssEnd = rssMiB()
    let (p50, p99) = probe.hist.withLockedValue { (Double($0.valueAtPercentile(50)) / 1000, Double($0.valueAtPercentile(99)) / 1000) }
    stopFeed.withLockedValue { $0 = true }
    await feeder?.value
    task.cancel()
    _ = try? await task.value
    return Figures(readingsPerSecond: Double(r1 - r0) / dt, packetsPerSecond: Double(s1 - s0) / dt, p50ms: p50, p99ms: p99,
                   rssStart: rssStart, rssEnd: rssEnd, rssMax: rssMax, drops: g.stats.drops)
}

if let queryRows {
    try await queryBench(rows: queryRows, only: only)
    exit(0)
}
if let memoryMinutes {
    print("gateway-bench memory: \(memoryMinutes) min, radio = \(dongleCount) unpaced simulated dongle(s) into SQLite (retention 2 min), RSS every \(rssEvery) s")
    let f = try await measure(store: "sqlite", source: "radio", memoryRun: true)
    print(String(format: "memory run: %.0f readings/s, p50 %.2f ms, p99 %.2f ms, RSS start %.1f end %.1f max %.1f MiB", f.readingsPerSecond, f.p50ms, f.p99ms,
                 f.rssStart, f.rssEnd, f.rssMax))
    exit(0)
}
print("gateway-bench: \(seconds) s per run after 2 s warm-up; feed \(feedRate.map { "paced at \(Int($0)) readings/s" } ?? "unpaced")\(batchSize.map { ", batch \($0)" } ?? ""); radio = \(dongleCount) unpaced simulated dongle(s), 2 flood nodes each, 20-byte frames = 8 readings")
print(String(format: "%-9@ %-6@ %12@ %11@ %9@ %9@ %22@  %@", "store" as NSString, "source" as NSString, "readings/s" as NSString,
             "packets/s" as NSString, "p50 ms" as NSString, "p99 ms" as NSString, "RSS MiB start/end/max" as NSString, "drops" as NSString))
for kind in ["sqlite", "postgres"] where only == nil || only == kind {
    for source in sources {
        do {
            let f = try await measure(store: kind, source: source)
            let drops = f.drops.isEmpty ? "none" : f.drops.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            print(String(format: "%-9@ %-6@ %12.0f %11.0f %9.2f %9.2f %8.1f/%6.1f/%6.1f  %@", kind as NSString, source as NSString,
                         f.readingsPerSecond, f.packetsPerSecond, f.p50ms, f.p99ms, f.rssStart, f.rssEnd, f.rssMax, drops as NSString))
        } catch {
            print("\(kind) \(source): \(error)")
        }
    }
}
