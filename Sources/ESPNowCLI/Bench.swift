import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation
import Histogram

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throughput and send latency against a peer (or broadcast), with a percentile summary.",
        discussion: """
            Keeps --inflight sync sends going for --duration seconds (or --count packets). Latency is the time from the request to the radio's delivery status. A live progress bar is shown on a terminal only. Without MAC: the simulated echo node with --port sim, else broadcast.
            """)

    @Argument(help: ArgumentHelp("Destination MAC (default: broadcast, or the echo node with --port sim).", valueName: "MAC"))
    var mac: MACArg?

    @Option(name: [.short, .long], help: ArgumentHelp("How long to run, in seconds (decimals accepted).", valueName: "SECONDS"))
    var duration: Double = 5

    @Option(name: [.short, .long], help: "Stop after this many packets instead.")
    var count: Int?

    @Option(name: [.short, .long], help: ArgumentHelp("Payload bytes.", valueName: "BYTES"))
    var size: Int = 250

    @Option(help: "Sends in flight (at most the dongle's window).")
    var inflight: Int = 4

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        if let c = count, c <= 0 { throw ValidationError("--count must be at least 1") }
        guard size >= 1 else { throw ValidationError("--size must be at least 1") }
        guard inflight >= 1 else { throw ValidationError("--inflight must be at least 1") }
    }

    struct Tally: Sendable {
        var sent = 0, ok = 0, failed = 0, errors = 0, bytes = 0
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var lastError: String?
    }

    func run() async throws {
        let (duration, limit, size, json) = (duration, count, size, connection.json)
        let given = mac?.mac
        let tally = Locked(Tally())
        let showBar = !json && Out.stderrIsTerminal
        var target = MACAddress.broadcast
        var elapsed = 0.0
        var outcome = Interrupt.Outcome()
        var drops: (device: UInt64, host: UInt64) = (0, 0)
        (target, elapsed, outcome, drops) = try await Session.run(connection) { s -> (MACAddress, Double, Interrupt.Outcome, (device: UInt64, host: UInt64)) in
            let d = s.device
            let peer = given ?? s.echoNode ?? .broadcast
            guard size <= d.info.maxPayload else {
                throw CLIError(.usage, "--size \(size) is above \(s.port)'s max payload \(d.info.maxPayload)")
            }
            let workers = max(1, min(inflight, d.info.window))
            let change = try await ensurePeer(d, peer, channel: nil, encrypt: false, lmk: nil)
            if let n = change.note, !json { Out.err(n) }
            if !json {
                Out.line("bench: \(size)-byte sync sends to \(peer == .broadcast ? "broadcast" : peer.description) on \(s.port), "
                         + "\(workers) in flight, " + (limit.map { "\($0) packets" } ?? String(format: "%.1f s", duration)))
            }
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
            let start = now()
            let end = start + duration
            let claimed = Locked(0)
            s.watch()
            let dropsBefore = s.drops
            let outcome: Interrupt.Outcome
            do {
                outcome = try await Interrupt.loopUntilLost(port: s.port) {
                    try await withThrowingTaskGroup(of: Void.self) { g in
                        for _ in 0..<workers {
                            g.addTask {
                                while now() < end || limit != nil {
                                    if let l = limit {
                                        let mine = claimed.update { c -> Bool in
                                            guard c < l else { return false }
                                            c += 1
                                            return true
                                        }
                                        if !mine { return }
                                    }
                                    try Task.checkCancellation()
                                    let t0 = now()
                                    tally.update { $0.sent += 1 }
                                    do {
                                        let r = try await d.espNowSend(peer: peer, data: payload, sync: true)
                                        let us = UInt64(max(0, (now() - t0) * 1e6))
                                        tally.update {
                                            _ = $0.histogram.record(us)
                                            if r.failures == 0 {
                                                $0.ok += 1
                                                $0.bytes += size
                                            } else {
                                                $0.failed += 1
                                            }
                                        }
                                    } catch let e as ESPNowError {
                                        // A full send queue is reported, counted, and the worker goes on.
                                        guard e.espError?.rawValue == 0x3067 else { throw e }
                                        tally.update {
                                            $0.errors += 1
                                            $0.lastError = e.description
                                        }
                                    }
                                }
                            }
                        }
                        if showBar {
                            g.addTask {
                                while !Task.isCancelled {
                                    let t = tally.value
                                    let el = now() - start
                                    let frac = limit.map { Double(t.sent) / Double($0) } ?? el / duration
                                    Out.status(Bench.bar(frac) + String(format: " %5.1f s  %7d pkt  %7.0f pkt/s", el, t.ok, Double(t.ok) / max(el, 1e-3)))
                                    try? await Task.sleep(for: .milliseconds(200))
                                }
                            }
                        }
                        // Workers end by themselves; the progress bar when they are done.
                        for _ in 0..<workers { try await g.next() }
                        g.cancelAll()
                    }
                }
            } catch {
                if showBar { Out.clearStatus() }
                await undoPeer(d, change)
                throw error
            }
            if showBar { Out.clearStatus() }
            let el = now() - start
            await undoPeer(d, change)
            let after = s.drops
            return (peer, el, outcome, (after.device - dropsBefore.device, after.host - dropsBefore.host))
        }
        let t = tally.value
        report(t, target: target, elapsed: elapsed, drops: drops, json: json)
        if let lost = outcome.lost { throw lost }
        if t.ok == 0 {
            throw CLIError(.espnow, "no packet to \(target) was delivered" + (t.lastError.map { " (\($0))" } ?? ""))
        }
    }

    static func bar(_ fraction: Double, width: Int = 30) -> String {
        let f = max(0, min(1, fraction))
        let n = Int((f * Double(width)).rounded())
        return "[" + String(repeating: "#", count: n) + String(repeating: ".", count: width - n) + "]"
    }

    func report(_ t: Tally, target: MACAddress, elapsed: Double, drops: (device: UInt64, host: UInt64), json: Bool) {
        // Sends cut short by Ctrl-C or a lost dongle have no status: counted, so the line adds up.
        let unfinished = t.sent - t.ok - t.failed - t.errors
        let h = t.histogram
        let pps = Double(t.ok) / max(elapsed, 1e-6)
        let kbps = Double(t.bytes) * 8 / 1000 / max(elapsed, 1e-6)
        let ms = { (v: UInt64) -> Double in Double(v) / 1000 }
        let pcts: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)]
        if json {
            var lat: [(String, JSON)] = [("min_ms", .double(ms(h.totalCount > 0 ? h.min : 0))), ("mean_ms", .double(h.totalCount > 0 ? h.mean / 1000 : 0))]
            for (n, p) in pcts { lat.append(("\(n)_ms", .double(ms(h.totalCount > 0 ? h.valueAtPercentile(p) : 0)))) }
            lat.append(("max_ms", .double(ms(h.totalCount > 0 ? h.max : 0))))
            Out.json(.object([
                ("event", .string("summary")),
                ("peer", .string(target.description)), ("size", .int(size)), ("seconds", .double(elapsed)),
                ("sent", .int(t.sent)), ("delivered", .int(t.ok)), ("failed", .int(t.failed)), ("queue_full", .int(t.errors)),
                ("unfinished", .int(unfinished)), ("dropped_device", .int(drops.device)), ("dropped_host", .int(drops.host)),
                ("packets_per_s", .double(pps)), ("kbit_per_s", .double(kbps)), ("latency", .object(lat)),
            ]))
            return
        }
        Out.line("")
        Out.line(String(format: "%d sent, %d delivered, %d not acknowledged, %d refused (queue full), %d unfinished in %.2f s",
                        t.sent, t.ok, t.failed, t.errors, unfinished, elapsed))
        Out.line("dropped: \(drops.device) by the dongle, \(drops.host) by the host")
        Out.line(String(format: "throughput: %.0f packets/s, %.1f kbit/s of payload", pps, kbps))
        guard h.totalCount > 0 else { return }
        var rows = [["latency", "min", "mean"] + pcts.map(\.0) + ["max"]]
        rows.append(["ms", String(format: "%.3f", ms(h.min)), String(format: "%.3f", h.mean / 1000)]
                    + pcts.map { String(format: "%.3f", ms(h.valueAtPercentile($0.1))) } + [String(format: "%.3f", ms(h.max))])
        for l in table(rows, rightAligned: Set(1..<rows[0].count)) { Out.line(l) }
        Out.line("")
        for l in Bench.textHistogram(h) { Out.line(l) }
    }

    /// A small histogram: up to 10 log-spaced buckets between the min and the max.
    static func textHistogram(_ h: Histogram<UInt64>, width: Int = 40) -> [String] {
        let lo = max(1, h.min), hi = max(lo + 1, h.max)
        let buckets = 8
        let ratio = pow(Double(hi) / Double(lo), 1 / Double(buckets))
        var edges: [UInt64] = [lo]
        for i in 1...buckets { edges.append(UInt64((Double(lo) * pow(ratio, Double(i))).rounded(.up))) }
        edges[edges.count - 1] = max(edges[edges.count - 1], h.max)
        var counts: [UInt64] = []
        for i in 0..<buckets {
            let a = i == 0 ? 0 : edges[i] + 1
            let b = edges[i + 1]
            counts.append(a <= b ? h.count(within: a...b) : 0)
        }
        let top = max(1, counts.max() ?? 1)
        var out: [String] = []
        for i in 0..<buckets {
            let label = String(format: "%8.3f – %8.3f ms", Double(i == 0 ? lo : edges[i]) / 1000, Double(edges[i + 1]) / 1000)
            let n = Int((Double(counts[i]) / Double(top) * Double(width)).rounded(.up))
            out.append("\(label) │\(String(repeating: "█", count: n)) \(counts[i])")
        }
        return out
    }
}
