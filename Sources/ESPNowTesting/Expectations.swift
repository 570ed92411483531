import ESPNowWire
import Foundation

/// What an expectation looks for: sender, receiver and a payload condition with a name for messages.
public struct PacketMatch: Sendable, CustomStringConvertible {
    public var from: MACAddress?
    public var to: MACAddress?
    public var what: String
    public var condition: @Sendable (CapturedPacket) -> Bool

    public init(from: MACAddress? = nil, to: MACAddress? = nil, what: String = "any payload",
                _ condition: @escaping @Sendable (CapturedPacket) -> Bool = { _ in true }) {
        self.from = from
        self.to = to
        self.what = what
        self.condition = condition
    }

    public func matches(_ p: CapturedPacket) -> Bool {
        (from == nil || p.from == from) && (to == nil || p.to == to) && condition(p)
    }

    public var description: String { describe { $0.description } }

    func describe(_ name: (MACAddress) -> String) -> String {
        var s = "a packet"
        if let f = from { s += " from \(name(f))" }
        if let t = to { s += " to \(name(t))" }
        return s + " with \(what)"
    }
}

extension Testbed {
    /// Waits up to `within` for a packet not yet claimed by an earlier expectation that
    /// matches; claims and returns it. The failure names what was expected and lists what
    /// was heard instead. `within` is a hang guard: on the simulator keep it generous.
    @discardableResult
    public func expectPacket(_ match: PacketMatch, within: Duration = .seconds(10)) async throws -> CapturedPacket {
        let start = markIndex
        let found = await waitFor(within: within) { self.capture.claim(from: start, match.matches) }
        if let p = found { return p }
        throw TestbedError.expectation("expected \(describe(match)) within \(within.seconds) s; heard instead: \(heard(from: start, like: match))")
    }

    @discardableResult
    public func expectPacket(from dut: DUT? = nil, within: Duration = .seconds(10), what: String = "a matching payload",
                             where condition: @escaping @Sendable (CapturedPacket) -> Bool = { _ in true }) async throws -> CapturedPacket {
        try await expectPacket(PacketMatch(from: dut?.mac, what: what, condition), within: within)
    }

    /// Fails when a matching packet arrives within `within` (it is claimed and reported).
    public func expectNoPacket(_ match: PacketMatch, within: Duration) async throws {
        let start = markIndex
        if let p = await waitFor(within: within, { self.capture.claim(from: start, match.matches) }) {
            throw TestbedError.expectation("expected no\(describe(match).dropFirst(1)) for \(within.seconds) s; heard \(describe(p))")
        }
    }

    public func expectNoPacket(from dut: DUT? = nil, within: Duration, what: String = "any payload",
                               where condition: @escaping @Sendable (CapturedPacket) -> Bool = { _ in true }) async throws {
        try await expectNoPacket(PacketMatch(from: dut?.mac, what: what, condition), within: within)
    }

    /// Sends and fails unless the device acknowledged the frame at the MAC layer.
    public func expectDelivered(_ payload: [UInt8], to dut: DUT, from dongle: Int = 0) async throws {
        guard try await send(payload, to: dut.mac, from: dongle) else {
            throw TestbedError.expectation("expected \(dut) to acknowledge \(payload.count) bytes from dongle \(dongle); the send was not acknowledged")
        }
    }

    /// `count` matching packets (each claimed), in arrival order.
    public func expectPackets(_ count: Int, _ match: PacketMatch, within: Duration = .seconds(30)) async throws -> [CapturedPacket] {
        var got: [CapturedPacket] = []
        let start = markIndex
        _ = await waitFor(within: within) { () -> Bool? in
            while got.count < count, let p = self.capture.claim(from: start, match.matches) { got.append(p) }
            return got.count >= count ? true : nil
        }
        guard got.count == count else {
            throw TestbedError.expectation("expected \(count) × \(describe(match)) within \(within.seconds) s; got \(got.count); other packets: \(heard(from: start, like: match))")
        }
        return got
    }

    /// Packets matching each of `matches` in that order (each after the previous one).
    public func expectInOrder(_ matches: [PacketMatch], within: Duration = .seconds(30)) async throws -> [CapturedPacket] {
        var got: [CapturedPacket] = []
        let start = markIndex
        for (i, m) in matches.enumerated() {
            let after = got.last.map { $0.index + 1 } ?? start
            guard let p = await waitFor(within: within, { self.capture.claim(from: after, m.matches) }) else {
                let prior = got.last.map { " after #\($0.index)" } ?? ""
                throw TestbedError.expectation("expected, as item \(i + 1) of \(matches.count) in order, \(describe(m))\(prior); heard instead: \(heard(from: after, like: m))")
            }
            got.append(p)
        }
        return got
    }

    /// Polls `probe` on every arrival until it returns a value or `within` passes.
    func waitFor<T>(within: Duration, log: CaptureLog? = nil, _ probe: () -> T?) async -> T? {
        let log = log ?? capture
        let deadline = ContinuousClock.now + within
        while true {
            let seen = log.count
            if let v = probe() { return v }
            if ContinuousClock.now >= deadline { return nil }
            await withTaskGroup(of: Void.self) { g in
                g.addTask { await log.waitForArrival(after: seen) }
                g.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
                await g.next()
                g.cancelAll()
            }
        }
    }

    /// What was heard instead: the packets of the expected sender first (the last 5), then a count of the rest.
    func heard(from start: Int, like match: PacketMatch) -> String {
        let rest = capture.unclaimed(from: start)
        if rest.isEmpty { return "nothing" }
        let same = match.from.map { f in rest.filter { $0.from == f } } ?? rest
        let others = rest.count - same.count
        var parts: [String] = []
        if !same.isEmpty {
            let shown = same.suffix(5).map(describe).joined(separator: "; ")
            let who = match.from.map { "from \(name($0))" } ?? ""
            parts.append(same.count > 5 ? "\(same.count) packets \(who), the last 5: \(shown)" : shown)
        } else if let f = match.from {
            parts.append("nothing from \(name(f))")
        }
        if others > 0 { parts.append("\(others) packet\(others == 1 ? "" : "s") from others") }
        var text = parts.joined(separator: "; and ")
        if let lost = droppedPackets() { text += " (\(lost))" }
        return text
    }

    /// Packets the dongles or their host clients had to drop (full buffers), if any: a
    /// missing packet may be one of them, so a failure says so.
    public func droppedPackets() -> String? {
        let notes = dongles.compactMap { d -> String? in
            let c = d.espnow.device.hostCounters
            let onDongle = c.deviceDropped[1] ?? 0
            guard c.packetsDropped + onDongle > 0 else { return nil }
            return "dongle\(d.index) dropped \(onDongle) on the dongle and \(c.packetsDropped) on the host, buffers full"
        }
        return notes.isEmpty ? nil : notes.joined(separator: "; ")
    }

    /// A device's or dongle's name with its MAC.
    public func name(_ mac: MACAddress) -> String {
        if mac == .broadcast { return "broadcast" }
        if let d = devices.first(where: { $0.mac == mac }) { return "\(d.name) (\(mac))" }
        if let d = dongles.first(where: { $0.mac == mac }) { return "dongle\(d.index) (\(mac))" }
        return mac.description
    }

    func describe(_ m: PacketMatch) -> String { m.describe(name) }

    func describe(_ p: CapturedPacket) -> String {
        "#\(p.index) from \(name(p.from)) to \(name(p.to)): \(p.payload.count) bytes \(p.payloadText)"
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
