// `make soak`: ≥ 100,000 mixed messages at serial BER 1e-4 and 20,000 at 1e-3 between two
// simulated dongles, 20 reboots and 20 unplugs mid-traffic in all; prints the books.
// Exits non-zero when anything was corrupted, executed twice, unaccounted or hung.
import Foundation
import SoakKit

var scale = 1.0
var seed: UInt64 = 20_261_130
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--scale": scale = Double(args.popFirst() ?? "") ?? scale
    case "--seed": seed = UInt64(args.popFirst() ?? "") ?? seed
    default:
        print("usage: soak [--scale F] [--seed N]   (F scales the message counts, default 1)")
        exit(2)
    }
}

var phases = [
    SoakPhase(name: "BER 1e-4", messages: Int(100_000 * scale), ber: 1e-4, reboots: 10, unplugs: 10, seed: seed),
    SoakPhase(name: "BER 1e-3", messages: Int(20_000 * scale), ber: 1e-3, reboots: 10, unplugs: 10, seed: seed + 1),
]
for i in phases.indices { phases[i].progress = true }

var reports: [SoakReport] = []
for p in phases {
    print("\(p.name): \(p.messages) messages, \(p.reboots) reboots, \(p.unplugs) unplugs, seed \(p.seed)")
    fflush(nil)  // progress shows as it happens, also in a log file
    let r = try await Soak.run(p)
    print(r)
    fflush(nil)
    reports.append(r)
}
let total = reports.reduce(into: (m: 0, s: 0.0, c: 0, t: 0, u: 0, h: 0)) {
    $0.m += $1.messages; $0.s += $1.seconds; $0.c += $1.corrupted; $0.t += $1.executedTwice; $0.u += $1.unaccounted; $0.h += $1.hangs
}
print("""
    soak: \(total.m) messages, \(reports.map(\.reboots).reduce(0, +)) reboots, \(reports.map(\.unplugs).reduce(0, +)) unplugs; \
    corrupted \(total.c), executed twice \(total.t), unaccounted \(total.u), hangs \(total.h); \
    throughput under faults \(String(format: "%.0f", Double(total.m) / max(total.s, 0.001))) msg/s
    """)
exit(total.c + total.t + total.u + total.h == 0 ? 0 : 1)
