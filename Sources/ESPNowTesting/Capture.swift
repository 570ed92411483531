import ESPNowWire
import Foundation
import NIOConcurrencyHelpers

/// One packet a dongle of the bed received, as the kit saw it.
public struct CapturedPacket: Sendable, CustomStringConvertible {
    /// Position in the bed's capture (0 = first packet of the test).
    public var index: Int
    /// Which dongle heard it.
    public var dongle: Int
    public var from: MACAddress
    /// Broadcast (`ff:ff:ff:ff:ff:ff`) or the receiving dongle's address.
    public var to: MACAddress
    public var payload: [UInt8]
    public var rssi: Int
    public var channel: Int
    /// Host clock when the packet reached the kit.
    public var time: Date
    public var instant: ContinuousClock.Instant

    /// The payload as text when it is printable UTF-8, else as hex.
    public var payloadText: String {
        if let s = String(validating: payload, as: UTF8.self), s.unicodeScalars.allSatisfy({ $0.value >= 0x20 || $0 == "\n" || $0 == "\t" }) {
            return "\"\(s)\""
        }
        return payload.map { String(format: "%02x", $0) }.joined()
    }

    public var description: String { "#\(index) \(from) -> \(to) on dongle \(dongle): \(payload.count) bytes \(payloadText)" }
}

/// Every packet of a test, in arrival order, with waiters woken on each arrival.
final class CaptureLog: Sendable {
    private struct State {
        var packets: [CapturedPacket] = []
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        /// Packets already claimed by an expectation (each packet satisfies one expectation).
        var claimed = Set<Int>()
    }
    private let state = NIOLockedValueBox(State())

    var packets: [CapturedPacket] { state.withLockedValue { $0.packets } }
    var count: Int { state.withLockedValue { $0.packets.count } }

    func append(dongle: Int, from: MACAddress, to: MACAddress, payload: [UInt8], rssi: Int, channel: Int) {
        let wake = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            s.packets.append(CapturedPacket(index: s.packets.count, dongle: dongle, from: from, to: to, payload: payload,
                                            rssi: rssi, channel: channel, time: Date(), instant: .now))
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in wake { w.resume() }
    }

    /// The first unclaimed packet at or after `start` that `match` accepts, claimed; nil if none yet.
    func claim(from start: Int, _ match: (CapturedPacket) -> Bool) -> CapturedPacket? {
        state.withLockedValue { s in
            guard start < s.packets.count else { return nil }
            for p in s.packets[start...] where !s.claimed.contains(p.index) && match(p) {
                s.claimed.insert(p.index)
                return p
            }
            return nil
        }
    }

    func unclaimed(from start: Int) -> [CapturedPacket] {
        state.withLockedValue { s in
            start < s.packets.count ? s.packets[start...].filter { !s.claimed.contains($0.index) } : []
        }
    }

    /// Returns after the next arrival, or at once when one happened since `seen` packets.
    func waitForArrival(after seen: Int) async {
        let id = state.withLockedValue { s -> UInt64 in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { s -> Bool in
                    if s.packets.count > seen || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Wakes every waiter (used by timeouts and shutdown).
    func wakeAll() {
        let all = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in all { w.resume() }
    }
}
