// The soak: mixed traffic both ways between two simulated dongles over serial links with
// bit errors, with reboots and unplugs mid-traffic, and an independent account of every
// message (the receivers' view and the air's transmission counts, not the client's word).
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// One stretch of traffic at one bit error rate.
public struct SoakPhase: Sendable {
    public var name: String
    public var messages: Int
    public var ber: Double
    public var reboots: Int
    public var unplugs: Int
    public var seed: UInt64
    /// Concurrent senders per direction.
    public var syncWorkers = 3
    public var asyncWorkers = 1
    /// An operation that takes longer than this is counted as a hang (and abandoned).
    public var hangGuard: Duration = .seconds(60)
    /// Prints progress lines while it runs.
    public var progress = false

    public init(name: String, messages: Int, ber: Double, reboots: Int, unplugs: Int, seed: UInt64) {
        self.name = name
        self.messages = messages
        self.ber = ber
        self.reboots = reboots
        self.unplugs = unplugs
        self.seed = seed
    }
}

/// What one phase found. All counts are messages unless named otherwise.
public struct SoakReport: Sendable, CustomStringConvertible {
    public var phase: String
    public var messages = 0
    public var syncOK = 0, syncFailed = 0, asyncAccepted = 0
    /// Answered with an ESP-IDF error: not executed.
    public var refused = 0
    /// Threw rebooted/unplugged/timeout: may or may not have executed.
    public var threw = 0
    public var received = 0
    public var corrupted = 0
    /// Payload ids a receiver saw more than once (extra copies).
    public var deliveredTwice = 0
    /// Radio transmissions beyond what the accepted and the unknown-outcome sends allow
    /// (the air's `tx` count per sending dongle).
    public var transmittedBeyondSends = 0
    /// Acknowledged sync sends that never reached the receiving host.
    public var missingAcked = 0
    /// Losses the receiving side counted (device DROPPED totals, host queue and link drops).
    public var countedDrops = 0
    public var noOutcome = 0
    public var hangs = 0
    public var reboots = 0, unplugs = 0
    public var retransmissions: UInt64 = 0
    public var flippedBits = 0
    public var seconds = 0.0
    /// Errors the sends threw, by name.
    public var errors: [String: Int] = [:]

    public var executedTwice: Int { deliveredTwice + transmittedBeyondSends }
    public var unaccounted: Int { noOutcome + max(0, missingAcked - countedDrops) }
    public var throughput: Double { seconds > 0 ? Double(messages) / seconds : 0 }

    public var description: String {
        """
        \(phase): \(messages) messages in \(String(format: "%.1f", seconds)) s = \(String(format: "%.0f", throughput)) msg/s under faults \
        (\(reboots) reboots, \(unplugs) unplugs, \(flippedBits) flipped bits, \(retransmissions) host retransmissions)
          outcomes: sync ok \(syncOK), sync failed \(syncFailed), async accepted \(asyncAccepted), refused \(refused), threw \(threw); \
        received \(received); acked but missing \(missingAcked), counted drops \(countedDrops)
          corrupted \(corrupted), executed twice \(executedTwice) (delivered twice \(deliveredTwice), \
        transmitted beyond sends \(transmittedBeyondSends)), unaccounted \(unaccounted), hangs \(hangs)
          errors: \(errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        """
    }
}

/// Payload of message `id`: tag, id (u32 LE), then bytes derived from the id; short on a
/// noisy link so that frames get through at all.
func soakPayload(_ id: UInt32, maxExtra: Int) -> [UInt8] {
    var p: [UInt8] = [0x53, UInt8(id & 0xFF), UInt8((id >> 8) & 0xFF), UInt8((id >> 16) & 0xFF), UInt8(id >> 24)]
    let extra = Int((id &* 2_654_435_761) >> 7) % max(1, maxExtra)
    for i in 0..<(8 + extra) { p.append(UInt8(truncatingIfNeeded: Int(id) &* 31 &+ i &* 7 &+ 3)) }
    return p
}

func soakID(_ p: [UInt8]) -> UInt32? {
    guard p.count >= 5, p[0] == 0x53 else { return nil }
    return UInt32(p[1]) | UInt32(p[2]) << 8 | UInt32(p[3]) << 16 | UInt32(p[4]) << 24
}

enum Outcome { case ok, nack, asyncAccepted, refused, threw }

/// Shared books of one direction (sender → receiver).
final class Books: Sendable {
    struct State {
        var next: UInt32 = 0
        var outcomes: [UInt32: Outcome] = [:]
        var seen: [UInt32: Int] = [:]
        var corrupted = 0
        var hangs = 0
        var errors: [String: Int] = [:]
    }
    let state = NIOLockedValueBox(State())
    let base: UInt32
    let count: Int
    let maxExtra: Int
    init(base: UInt32, count: Int, maxExtra: Int) {
        self.base = base
        self.count = count
        self.maxExtra = maxExtra
    }
    func take() -> UInt32? {
        state.withLockedValue { s in
            guard Int(s.next) < count else { return nil }
            defer { s.next += 1 }
            return base + s.next
        }
    }
    var done: Int { state.withLockedValue { $0.outcomes.count } }
    func record(_ id: UInt32, _ o: Outcome) { state.withLockedValue { $0.outcomes[id] = o } }
    func hang() { state.withLockedValue { $0.hangs += 1 } }
    func error(_ e: ESPNowError) {
        let name: String = switch e {
        case .esp(let code, _): ESPError.names[code.rawValue] ?? "\(code.rawValue)"
        case .timeout: "timeout"
        case .deviceRebooted: "rebooted"
        case .unplugged: "unplugged"
        default: "\(e)"
        }
        state.withLockedValue { $0.errors[name, default: 0] += 1 }
    }
    func received(_ bytes: [UInt8]) {
        state.withLockedValue { s in
            guard let id = soakID(bytes), id >= base, id < base + UInt32(count),
                  bytes == soakPayload(id, maxExtra: maxExtra) else {
                s.corrupted += 1
                return
            }
            s.seen[id, default: 0] += 1
        }
    }
    var ackedMissing: Int {
        state.withLockedValue { s in s.outcomes.filter { $0.value == .ok && s.seen[$0.key] == nil }.count }
    }
}

/// Runs `body` unless it outlasts `guard`; returns nil then (and leaves it cancelled).
func withHangGuard<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { g in
        g.addTask { try await body() }
        g.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { g.cancelAll() }
        return try await g.next()!
    }
}

public enum Soak {
    /// Runs one phase on a fresh simulated air with two dongles.
    public static func run(_ phase: SoakPhase) async throws -> SoakReport {
        var o = AirOptions(dongles: 2, faults: SerialFaults(berH2D: phase.ber, berD2H: phase.ber))
        o.seed = phase.seed
        let air = try await SimulatedAir.start(o)
        defer { air.shutdown() }
        var dev = DeviceOptions()
        dev.attempts = 25  // a call fails only if 25 transmissions in a row are hit
        dev.attemptTimeout = .milliseconds(100)
        var devices: [ESPNowDevice] = []
        defer {
            let ds = devices
            Task { for d in ds { await d.close() } }
        }
        for d in air.dongles { devices.append(try await ESPNowDevice.connect(path: d.port!, options: dev)) }
        let hangGuard = phase.hangGuard
        func retrying<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
            var last: (any Error)?
            for _ in 0..<20 {
                do { return try await body() } catch { last = error }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw last!
        }
        for d in devices {
            try await retrying { try await d.wifiSetIfActive(.sta, true) }
            try await retrying { try await d.espNowInit() }
            _ = try await retrying { try await d.setRxbuf(16 * 1024) }
        }
        let (a, b) = (devices[0], devices[1])
        try await retrying { try await a.espNowAddPeer(PeerInfo(peerAddr: b.info.staMAC)) }
        try await retrying { try await b.espNowAddPeer(PeerInfo(peerAddr: a.info.staMAC)) }

        let maxExtra = phase.ber >= 1e-3 ? 16 : 120
        let half = phase.messages / 2
        let books = [Books(base: 0, count: half, maxExtra: maxExtra),
                     Books(base: 0x8000_0000, count: phase.messages - half, maxExtra: maxExtra)]
        let pairs: [(from: ESPNowDevice, to: ESPNowDevice, books: Books)] = [(a, b, books[0]), (b, a, books[1])]
        let airBefore = try await air.stats()
        let counted0 = devices.map(countedLosses)
        let retx0 = devices.map { $0.hostCounters.retransmissions }
        let stop = NIOLockedValueBox(false)
        let clock = ContinuousClock()
        let t0 = clock.now

        // Receivers: every packet is checked against the payload its id implies.
        var receivers: [Task<Void, Never>] = []
        for (from, to, bk) in pairs {
            _ = from
            receivers.append(Task {
                while true {
                    let p = try? await to.packetQueue.next(timeout: .milliseconds(200))
                    if let p { bk.received(p.bytes) } else if stop.withLockedValue({ $0 }) { return }
                }
            })
        }

        // Senders.
        let report = try await withThrowingTaskGroup(of: Void.self) { g -> SoakReport in
            for (from, to, bk) in pairs {
                let peer = to.info.staMAC
                for w in 0..<(phase.syncWorkers + phase.asyncWorkers) {
                    let sync = w < phase.syncWorkers
                    g.addTask {
                        while let id = bk.take() {
                            let payload = soakPayload(id, maxExtra: bk.maxExtra)
                            let outcome: Outcome?
                            do {
                                outcome = try await withHangGuard(hangGuard) { () -> Outcome in
                                    do {
                                        let r = try await from.espNowSend(peer: peer, data: payload, sync: sync)
                                        if sync && r.failures != 0 {
                                            // Not acknowledged: the peer is down or being restored.
                                            try? await Task.sleep(for: .milliseconds(10))
                                            return .nack
                                        }
                                        return sync ? .ok : .asyncAccepted
                                    } catch let e as ESPNowError {
                                        bk.error(e)
                                        if case .esp = e {
                                            // The dongle refused (its queue is full, or the peer is
                                            // being restored): pace the worker, the outcome is known.
                                            try? await Task.sleep(for: .milliseconds(10))
                                            return .refused
                                        }
                                        if case .unplugged = e { try? await Task.sleep(for: .milliseconds(50)) }
                                        return .threw
                                    }
                                }
                            }
                            if let outcome { bk.record(id, outcome) } else { bk.hang() }
                        }
                    }
                }
            }
            // Faults spread evenly over the traffic, alternating dongles.
            g.addTask {
                let faults = Array(repeating: "reboot", count: phase.reboots) + Array(repeating: "unplug", count: phase.unplugs)
                let order = faults.indices.map { i in i % 2 == 0 ? faults[i / 2] : faults[faults.count - 1 - i / 2] }
                for (k, kind) in order.enumerated() {
                    let at = (k + 1) * phase.messages / (faults.count + 1)
                    while books[0].done + books[1].done < at {
                        guard books[0].done + books[1].done < phase.messages else { return }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    let index = (k / 2) % 2  // reboot 0, unplug 0, reboot 1, unplug 1, ...
                    if kind == "reboot" {
                        try await air.reboot(index)
                    } else {
                        try await air.unplug(index)
                        try await Task.sleep(for: .milliseconds(100))
                        try await air.replug(index)
                    }
                    if phase.progress {
                        print("  \(phase.name): \(kind) dongle \(index) after \(at) messages")
                        fflush(nil)
                    }
                }
            }
            try await g.waitForAll()
            var r = SoakReport(phase: phase.name)
            r.reboots = phase.reboots
            r.unplugs = phase.unplugs
            return r
        }
        var r = report
        r.seconds = Double((clock.now - t0).components.seconds) + Double((clock.now - t0).components.attoseconds) / 1e18
        // Let the last packets arrive: until every acknowledged one is in, or nothing new
        // came for a while (a hang guard, not a pass condition).
        var lastReceived = -1, quietSince = clock.now
        while books.map(\.ackedMissing).reduce(0, +) > 0 {
            let n = books.map { $0.state.withLockedValue { $0.seen.count } }.reduce(0, +)
            if n != lastReceived { lastReceived = n; quietSince = clock.now }
            if clock.now - quietSince > .seconds(5) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(300))  // late duplicates, if any, are counted too
        stop.withLockedValue { $0 = true }
        for t in receivers { await t.value }

        let airAfter = try await air.stats()
        for (i, bk) in books.enumerated() {
            let s = bk.state.withLockedValue { $0 }
            r.messages += bk.count
            r.hangs += s.hangs
            r.noOutcome += bk.count - s.outcomes.count - s.hangs
            r.corrupted += s.corrupted
            r.errors.merge(s.errors, uniquingKeysWith: +)
            r.received += s.seen.values.reduce(0, +)
            r.deliveredTwice += s.seen.values.map { $0 - 1 }.reduce(0, +)
            r.missingAcked += bk.ackedMissing
            var accepted = 0, unknown = 0
            for o in s.outcomes.values {
                switch o {
                case .ok: r.syncOK += 1; accepted += 1
                case .nack: r.syncFailed += 1; accepted += 1
                case .asyncAccepted: r.asyncAccepted += 1; accepted += 1
                case .refused: r.refused += 1
                case .threw: r.threw += 1; unknown += 1
                }
            }
            let tx = (airAfter[i]?.tx ?? 0) - (airBefore[i]?.tx ?? 0)
            r.transmittedBeyondSends += max(0, tx - accepted - unknown - s.hangs)
            let receiver = i == 0 ? 1 : 0
            r.countedDrops += countedLosses(devices[receiver]) - counted0[receiver]
            r.retransmissions += devices[i].hostCounters.retransmissions - retx0[i]
            r.flippedBits += (airAfter[i]?.h2d?.flippedBits ?? 0) + (airAfter[i]?.d2h?.flippedBits ?? 0)
                - (airBefore[i]?.h2d?.flippedBits ?? 0) - (airBefore[i]?.d2h?.flippedBits ?? 0)
        }
        return r
    }

    /// Everything the receiving side counted as lost: DROPPED totals (received packets,
    /// events), host queue overflow, and frames the link damaged (one of which may have
    /// been a packet).
    static func countedLosses(_ d: ESPNowDevice) -> Int {
        let h = d.hostCounters
        let l = h.link
        let device = (h.deviceDropped[1] ?? 0) + (h.deviceDropped[2] ?? 0)
        return Int(device + h.packetsDropped + l.dropped)
    }
}
