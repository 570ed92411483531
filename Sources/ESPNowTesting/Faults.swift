import ESPNow
import ESPNowWire
import Foundation

/// Faults a bed injects. On the simulator they go through its control socket; on hardware
/// only what the dongle itself can do is available, the rest throws
/// ``TestbedError/notAvailableOnHardware(_:)`` (never a silent skip).
public enum Fault: Sendable, CustomStringConvertible {
    /// Frame loss probability on the links between the dongles and `device` (nil: every link of the bed).
    case loss(DUT?, Double)
    /// Serial bit error probability on dongle `dongle`'s link, both directions.
    case bitErrors(dongle: Int, Double)
    /// Every frame attempt on the air is lost for the duration.
    case lossBurst(Duration)
    /// Reset of dongle `dongle` (the host reconnects and restores its state).
    case rebootDongle(Int)
    /// Reset pin of a simulated device under test.
    case rebootDevice(DUT)
    case unplugDongle(Int)
    case replugDongle(Int)
    /// Dongle `dongle` moves to channel `channel`.
    case channel(dongle: Int, Int)

    public var description: String {
        switch self {
        case .loss(let d, let p): "loss \(p) " + (d.map { "on the links to \($0.name)" } ?? "on every link")
        case .bitErrors(let d, let p): "serial bit errors \(p) on dongle \(d)"
        case .lossBurst(let t): "a loss burst of \(t)"
        case .rebootDongle(let d): "reboot of dongle \(d)"
        case .rebootDevice(let d): "reboot of \(d.name)"
        case .unplugDongle(let d): "unplug of dongle \(d)"
        case .replugDongle(let d): "replug of dongle \(d)"
        case .channel(let d, let c): "dongle \(d) to channel \(c)"
        }
    }
}

extension Testbed {
    /// Injects `fault`; throws `notAvailableOnHardware` for what real dongles cannot do.
    public func inject(_ fault: Fault) async throws {
        if case .channel(let d, let c) = fault {
            try await WLAN(.sta, try dongle(d).espnow).config(channel: c)
            return
        }
        if case .rebootDongle(let d) = fault, isHardware {
            try await untilLinkEvent("restored", dongle: d, after: fault) {
                guard try await self.dongle(d).espnow.device.hardReset() else {
                    throw TestbedError.notAvailableOnHardware("\(fault) (its port has no modem lines to pulse reset)")
                }
            }
            return
        }
        guard let air else { throw TestbedError.notAvailableOnHardware(fault.description) }
        switch fault {
        case .loss(let dut, let p):
            let radios = dongles.map(\.index) + devices.compactMap(\.radio)
            let targets = dut.map { [$0.radio].compactMap { $0 } } ?? radios
            for t in targets {
                for r in radios where r != t && (dut != nil ? r < dongles.count : r < t) {
                    try await air.control("loss \(r) \(t) \(p)")
                }
            }
        case .bitErrors(let d, let p): try await air.setBitErrorRate(try dongle(d).index, .both, p)
        case .lossBurst(let t): try await air.control("loss-burst \(Int(t.seconds * 1000))")
        case .rebootDongle(let d):
            try await untilLinkEvent("restored", dongle: d, after: fault) { try await air.reboot(try self.dongle(d).index) }
        case .rebootDevice(let dut):
            guard let r = dut.radio else { throw TestbedError.setup("\(dut.name) has no simulated radio") }
            try await air.reboot(r)
        case .unplugDongle(let d):
            try await untilLinkEvent("unplugged", dongle: d, after: fault) { try await air.unplug(try self.dongle(d).index) }
        case .replugDongle(let d):
            try await untilLinkEvent("restored", dongle: d, after: fault) { try await air.replug(try self.dongle(d).index) }
        case .channel: break
        }
    }
}

extension Testbed {
    /// Runs `action`, then waits until the host side of dongle `d` reports `event` (the
    /// client restored its state after a reboot or replug; the link ended after an unplug),
    /// so that the next step meets a settled dongle. 60 s is a hang guard.
    func untilLinkEvent(_ event: String, dongle d: Int, after fault: Fault, _ action: () async throws -> Void) async throws {
        let start = linkEvents.count
        try await action()
        let seen = await waitFor(within: .seconds(60), log: linkEvents) {
            self.linkEvents.claim(from: start) { $0.dongle == d && $0.payload == Array(event.utf8) }
        }
        guard seen != nil else {
            throw TestbedError.setup("after the \(fault), dongle \(d)'s link did not report '\(event)' within 60 s")
        }
    }
}

/// Figures of a stream of numbered packets from one device.
public struct LinkStatistics: Sendable, CustomStringConvertible {
    public var received: Int
    /// Distinct sequence numbers missing between the lowest and highest seen.
    public var lost: Int
    public var duplicates: Int
    public var lossRatio: Double { received + lost == 0 ? 0 : Double(lost) / Double(received - duplicates + lost) }
    /// Host-side gaps between consecutive packets (nil with fewer than two).
    public var interarrival: (min: Duration, mean: Duration, max: Duration)?

    public var description: String {
        var s = "received \(received), lost \(lost) (\(String(format: "%.1f", lossRatio * 100)) %), duplicates \(duplicates)"
        if let i = interarrival { s += ", interarrival min \(i.min) mean \(i.mean) max \(i.max)" }
        return s
    }
}

/// Round-trip figures of request/reply exchanges.
public struct LatencyStatistics: Sendable, CustomStringConvertible {
    public var sent: Int
    public var answered: Int
    /// Sorted round-trip times of the answered requests.
    public var roundTrips: [Duration]
    public var median: Duration? { roundTrips.isEmpty ? nil : roundTrips[roundTrips.count / 2] }
    public var description: String {
        "sent \(sent), answered \(answered)" + (median.map { ", round trip min \(roundTrips.first!) median \($0) max \(roundTrips.last!)" } ?? "")
    }
}

extension Testbed {
    /// Loss, duplicates and interarrival of the packets from `dut` heard so far (claimed or
    /// not), numbered by `sequence` (packets it returns nil for are not counted).
    public func statistics(from dut: DUT, sequence: (CapturedPacket) -> Int?) -> LinkStatistics {
        let ps = capture.packets.filter { $0.from == dut.mac }
        var seqs: [Int] = []
        var times: [ContinuousClock.Instant] = []
        for p in ps { if let s = sequence(p) { seqs.append(s); times.append(p.instant) } }
        let distinct = Set(seqs)
        let lost = distinct.isEmpty ? 0 : (distinct.max()! - distinct.min()! + 1) - distinct.count
        var gaps: [Duration] = []
        for (a, b) in zip(times, times.dropFirst()) { gaps.append(a.duration(to: b)) }
        let inter = gaps.isEmpty ? nil : (gaps.min()!, gaps.reduce(.zero, +) / gaps.count, gaps.max()!)
        return LinkStatistics(received: seqs.count, lost: lost, duplicates: seqs.count - distinct.count, interarrival: inter)
    }

    /// Sends `count` requests to `dut` and waits up to `within` for each reply `reply(i, packet)`
    /// accepts; unanswered requests count as lost (not as failures).
    public func roundTrips(_ count: Int, to dut: DUT, from dongle: Int = 0, within: Duration = .seconds(5),
                           request: (Int) -> [UInt8], reply: @escaping @Sendable (Int, CapturedPacket) -> Bool) async throws -> LatencyStatistics {
        var times: [Duration] = []
        for i in 0..<count {
            let t0 = ContinuousClock.now
            _ = try await send(request(i), to: dut.mac, from: dongle)
            let m = PacketMatch(from: dut.mac, what: "reply \(i)") { reply(i, $0) }
            if let p = try? await expectPacket(m, within: within) { times.append(t0.duration(to: p.instant)) }
        }
        return LatencyStatistics(sent: count, answered: times.count, roundTrips: times.sorted())
    }
}
