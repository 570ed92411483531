import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation

/// What a command changed in the peer list to be able to send, to undo afterwards.
enum PeerChange: Sendable {
    case none
    case added(MACAddress)
    case modified(old: PeerInfo)

    var note: String? {
        switch self {
        case .none: nil
        case .added(let m): "registered peer \(m) for this call (removed afterwards; `espnow peers add` keeps one)"
        case .modified(let old): "changed peer \(old.peerAddr) for this call (restored afterwards)"
        }
    }

    var registered: Bool { if case .added = self { true } else { false } }
}

/// Makes sure `mac` is a peer with the requested channel/encryption.
func ensurePeer(_ d: ESPNowDevice, _ mac: MACAddress, channel: UInt8?, encrypt: Bool, lmk: [UInt8]?) async throws -> PeerChange {
    let key = lmk ?? [UInt8](repeating: 0, count: 16)
    if try await d.espNowIsPeerExist(mac) {
        guard channel != nil || encrypt else { return .none }
        let old = try await d.espNowGetPeer(mac)
        var new = old
        if let c = channel { new.channel = c }
        if encrypt {
            new.encrypt = true
            new.lmk = key
        }
        guard new != old else { return .none }
        try await d.espNowModPeer(new)
        return .modified(old: old)
    }
    try await d.espNowAddPeer(PeerInfo(peerAddr: mac, lmk: key, channel: channel ?? 0, encrypt: encrypt))
    return .added(mac)
}

func undoPeer(_ d: ESPNowDevice, _ change: PeerChange) async {
    switch change {
    case .none: break
    case .added(let m): try? await d.espNowDelPeer(m)
    case .modified(let old): try? await d.espNowModPeer(old)
    }
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send ESP-NOW packets: MESSAGE as text, --hex, --file, or one packet per line of stdin.",
        discussion: """
            An unregistered peer is registered for the call (and removed afterwards), so a
            one-liner works on a fresh dongle. ff:ff:ff:ff:ff:ff (or `broadcast`) broadcasts.
            With --sync each packet waits for the radio's acknowledgement and the command
            exits 3 if any was not acknowledged.
            """)

    @Argument(help: ArgumentHelp("Destination MAC (aa:bb:cc:dd:ee:ff) or `broadcast`.", valueName: "MAC"))
    var mac: MACArg

    @Argument(help: "The message (text, or hex with --hex). Omit it to send each line of stdin.")
    var message: String?

    @Flag(help: "MESSAGE is hex (e.g. 48656c6c6f or '48 65 6c').")
    var hex = false

    @Option(help: ArgumentHelp("Send the contents of FILE as one packet.", valueName: "FILE"))
    var file: String?

    @Flag(help: "Wait for each packet's delivery status (the peer's ACK) before going on.")
    var sync = false

    @Flag(help: "Encrypt with the peer's LMK (needs --lmk; the receiver needs the same LMK and PMK).")
    var encrypt = false

    @Option(help: ArgumentHelp("Local master key of the peer, 32 hex digits.", valueName: "HEX"))
    var lmk: String?

    @Option(help: ArgumentHelp("Channel of the peer (0: the dongle's current channel).", valueName: "N"))
    var channel: UInt8?

    @Flag(help: "Keep a peer that was registered for this call.")
    var keepPeer = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if encrypt && lmk == nil { throw ValidationError("--encrypt needs --lmk HEX (32 hex digits)") }
        if file != nil && message != nil { throw ValidationError("give either MESSAGE or --file, not both") }
        if let c = channel, c > 14 { throw ValidationError("--channel must be 0...14") }
    }

    func payloads() throws -> [[UInt8]] {
        if let f = file {
            guard let d = FileManager.default.contents(atPath: f) else {
                throw CLIError(.io, "cannot read \(f): no such file or not readable")
            }
            return [Array(d)]
        }
        if let m = message {
            if hex {
                guard let b = parseHex(m) else { throw CLIError(.usage, "MESSAGE is not valid hex: \(m)") }
                return [b]
            }
            return [Array(m.utf8)]
        }
        var out: [[UInt8]] = []
        while let line = readLine(strippingNewline: true) {
            if hex {
                guard let b = parseHex(line) else { throw CLIError(.usage, "stdin line \(out.count + 1) is not valid hex: \(line)") }
                out.append(b)
            } else {
                out.append(Array(line.utf8))
            }
        }
        return out
    }

    func run() async throws {
        let key = try lmk.map { try parseKey($0, what: "--lmk") }
        let packets = try payloads()
        let mac = mac.mac
        let (sync, encrypt, channel, keep, json) = (sync, encrypt, channel, keepPeer, connection.json)
        let failures = try await Session.run(connection, keepPeers: keepPeer) { s -> Int in
            let d = s.device
            let maxLen = d.info.maxPayload
            if let big = packets.firstIndex(where: { $0.count > maxLen }) {
                throw CLIError(.usage, "packet \(big + 1) is \(packets[big].count) bytes; \(s.port) allows at most \(maxLen)")
            }
            let change = try await ensurePeer(d, mac, channel: channel, encrypt: encrypt, lmk: key)
            if let n = change.note {
                if json {
                    Out.json(.object([("event", .string("peer_registered")), ("peer", .string(mac.description)),
                                      ("temporary", .bool(!keep))]))
                } else {
                    Out.err(keep && change.registered ? "registered peer \(mac) (kept)" : n)
                }
            }
            var failed = 0
            do {
                for (i, p) in packets.enumerated() {
                    let t0 = now()
                    let r = try await d.espNowSend(peer: mac, data: p, sync: sync)
                    let dt = now() - t0
                    failed += r.failures
                    let status = sync ? (r.failures == 0 ? "delivered" : "not acknowledged") : "queued"
                    if json {
                        var o: [(String, JSON)] = [("seq", .int(i + 1)), ("dst", .string(mac.description)), ("len", .int(p.count)),
                                                   ("status", .string(status)), ("sync", .bool(sync))]
                        if sync { o.append(("time_ms", .double(dt * 1000))) }
                        Out.json(.object(o))
                    } else {
                        let target = mac == .broadcast ? "broadcast" : mac.description
                        let when = sync ? "  " + Fmt.ms(dt) : ""
                        Out.line("\(pad("#\(i + 1)", 5)) \(target)  \(pad("\(p.count) B", 6, right: true))  \(pad(status, 16))\(when)")
                    }
                }
            } catch {
                if !keep || !change.registered { await undoPeer(d, change) }
                throw error
            }
            if !keep || !change.registered { await undoPeer(d, change) }
            return failed
        }
        if failures > 0 {
            throw CLIError(.espnow, "\(failures) of \(packets.count) packets were not acknowledged by \(mac) "
                           + "(out of range, on another channel, or powered off)")
        }
    }
}
