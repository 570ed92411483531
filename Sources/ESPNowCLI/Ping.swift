import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation
import NIOCore

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Round trips to a peer: sync sends, and the peer's echo when it answers (an `echo` node does).",
        discussion: """
            Each ping is a sync send (time to the radio's ACK) followed by a wait for the same payload to come back from the peer (the round trip). Prints a ping(8)-like summary. Exit 0 if any reply came back, 4 if packets were acknowledged but none echoed, 3 if none was acknowledged. With --port sim, ping the simulated echo node.
            """)

    @Argument(help: ArgumentHelp("Peer MAC (with --port sim: omit to ping the simulated echo node).", valueName: "MAC"))
    var mac: MACArg?

    @Option(name: [.short, .long], help: "Number of pings.")
    var count: Int = 5

    @Option(name: [.short, .long], help: ArgumentHelp("Seconds between pings (decimals accepted, e.g. 0.2).", valueName: "SECONDS"))
    var interval: Double = 1

    @Option(name: [.short, .long], help: ArgumentHelp("Payload bytes (at least 8).", valueName: "BYTES"))
    var size: Int = 32

    @Option(name: [.customShort("W"), .long], help: ArgumentHelp("Seconds to wait for each reply (decimals accepted, e.g. 0.5).", valueName: "SECONDS"))
    var wait: Double = 1

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be at least 1") }
        guard interval >= 0, interval.isFinite, wait > 0, wait.isFinite else {
            throw ValidationError("--interval must be ≥ 0 seconds and --wait more than 0 seconds")
        }
        guard size >= 8 else { throw ValidationError("--size must be at least 8 bytes") }
        if mac == nil && connection.port != "sim" { throw ValidationError("give the peer's MAC (only --port sim has a default)") }
    }

    struct Tally: Sendable {
        var sent = 0, acked = 0, replies = 0
        var rtts: [Double] = []
    }

    func run() async throws {
        let (count, interval, size, wait, json) = (count, interval, size, wait, connection.json)
        let given = mac?.mac
        let tally = Locked(Tally())
        let t0 = now()
        let (target, outcome, drops) = try await Session.run(connection) { s -> (MACAddress, Interrupt.Outcome, (device: UInt64, host: UInt64)) in
            let d = s.device
            guard let peer = given ?? s.echoNode else { throw CLIError(.usage, "give the peer's MAC") }
            guard size <= d.info.maxPayload else {
                throw CLIError(.usage, "--size \(size) is above \(s.port)'s max payload \(d.info.maxPayload)")
            }
            let change = try await ensurePeer(d, peer, channel: nil, encrypt: false, lmk: nil)
            if let n = change.note, !json { Out.err(n) }
            if !json { Out.line("PING \(peer) from \(d.info.staMAC) on \(s.port): \(size) data bytes") }
            d.packetQueue.clear()
            let tag = UInt32.random(in: 0...UInt32.max)
            s.watch()
            let dropsBefore = s.drops
            let outcome: Interrupt.Outcome
            do {
                outcome = try await Interrupt.loopUntilLost(port: s.port) {
                    for seq in 1...count {
                        if seq > 1 { try await Task.sleep(for: .seconds(interval)) }
                        var payload = [UInt8](repeating: 0, count: size)
                        for i in 0..<4 { payload[i] = UInt8(truncatingIfNeeded: tag >> (8 * UInt32(i))) }
                        for i in 0..<4 { payload[4 + i] = UInt8(truncatingIfNeeded: UInt32(seq) >> (8 * UInt32(i))) }
                        for i in 8..<size { payload[i] = UInt8(truncatingIfNeeded: i) }
                        let start = now()
                        tally.update { $0.sent += 1 }
                        let r = try await d.espNowSend(peer: peer, data: payload, sync: true)
                        let ack = now() - start
                        guard r.failures == 0 else {
                            report(json, seq: seq, peer: peer, status: "no ack", ack: nil, rtt: nil, rssi: nil)
                            continue
                        }
                        // Broadcasts are never acknowledged (their status is always success).
                        if peer != .broadcast { tally.update { $0.acked += 1 } }
                        // The echo: the same payload back from the peer.
                        let deadline = start + wait
                        var reply: ReceivedPacket?
                        while reply == nil {
                            let left = deadline - now()
                            if left <= 0 { break }
                            guard let p = try await d.packetQueue.next(timeout: .nanoseconds(Int64(left * 1e9))) else { break }
                            if p.src == peer && p.bytes == payload { reply = p }
                        }
                        if let p = reply {
                            let rtt = now() - start
                            tally.update {
                                $0.replies += 1
                                $0.rtts.append(rtt)
                            }
                            report(json, seq: seq, peer: peer, status: "reply", ack: ack, rtt: rtt, rssi: p.rssi)
                        } else {
                            report(json, seq: seq, peer: peer, status: "acked, no reply", ack: ack, rtt: nil, rssi: nil)
                        }
                    }
                }
            } catch {
                await undoPeer(d, change)
                throw error
            }
            await undoPeer(d, change)
            let after = s.drops
            return (peer, outcome, (after.device - dropsBefore.device, after.host - dropsBefore.host))
        }
        let t = tally.value
        let elapsed = now() - t0
        let loss = t.sent == 0 ? 0 : Double(t.sent - t.replies) / Double(t.sent) * 100
        let mn = t.rtts.min() ?? 0, mx = t.rtts.max() ?? 0
        let avg = t.rtts.isEmpty ? 0 : t.rtts.reduce(0, +) / Double(t.rtts.count)
        let mdev = t.rtts.isEmpty ? 0 : (t.rtts.map { ($0 - avg) * ($0 - avg) }.reduce(0, +) / Double(t.rtts.count)).squareRoot()
        if json {
            Out.json(.object([
                ("event", .string("summary")), ("peer", .string(target.description)), ("sent", .int(t.sent)),
                ("acked", .int(t.acked)), ("replies", .int(t.replies)), ("loss_percent", .double(loss)),
                ("rtt_min_ms", .double(mn * 1000)), ("rtt_avg_ms", .double(avg * 1000)),
                ("rtt_max_ms", .double(mx * 1000)), ("rtt_mdev_ms", .double(mdev * 1000)),
                ("dropped_device", .int(drops.device)), ("dropped_host", .int(drops.host)),
            ]))
        } else {
            Out.line("")
            Out.line("--- \(target) ping statistics ---")
            Out.line("\(t.sent) packets transmitted, " + (target == .broadcast ? "broadcast (never acknowledged), " : "\(t.acked) acknowledged, ") + "\(t.replies) received, "
                     + String(format: "%.0f%% packet loss, time %.0f ms", loss, elapsed * 1000))
            if !t.rtts.isEmpty {
                Out.line(String(format: "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms", mn * 1000, avg * 1000, mx * 1000, mdev * 1000))
            }
            if drops.device + drops.host > 0 { Out.line("dropped: \(drops.device) by the dongle, \(drops.host) by the host") }
        }
        if let lost = outcome.lost { throw lost }
        if t.replies == 0 && t.sent > 0 {
            if t.acked == 0 && target != .broadcast {
                throw CLIError(.espnow, "no ping to \(target) was acknowledged (out of range, another channel, or powered off)")
            }
            throw CLIError(.timeout, "\(target) acknowledged but never echoed (is it an echo peer?)")
        }
    }

    func report(_ json: Bool, seq: Int, peer: MACAddress, status: String, ack: Double?, rtt: Double?, rssi: Int8?) {
        if json {
            var o: [(String, JSON)] = [("seq", .int(seq)), ("peer", .string(peer.description)), ("status", .string(status))]
            if let a = ack { o.append(("ack_ms", .double(a * 1000))) }
            if let r = rtt { o.append(("rtt_ms", .double(r * 1000))) }
            if let r = rssi { o.append(("rssi", .int(r))) }
            Out.json(.object(o))
            return
        }
        switch status {
        case "reply":
            Out.line("\(size) bytes from \(peer): seq=\(seq) rssi=\(rssi ?? 0) dBm time=\(Fmt.ms(rtt ?? 0)) (ack \(Fmt.ms(ack ?? 0)))")
        case "no ack":
            Out.line("seq=\(seq): not acknowledged by \(peer)")
        default:
            Out.line("seq=\(seq): acknowledged in \(Fmt.ms(ack ?? 0)), no reply within \(wait) s")
        }
    }
}
