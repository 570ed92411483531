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
        abstract: "Send ESP-NOW packets: MESSAGE as text, --hex, --file, or stdin (--lines or --raw).",
        discussion: """
            An unregistered peer is registered for the call (and removed afterwards), so a one-liner works on a fresh dongle. ff:ff:ff:ff:ff:ff (or `broadcast`) broadcasts. Each packet waits for its delivery status (the peer's ACK; broadcasts always succeed) and the command exits 3 if any was not acknowledged; --no-wait only queues them.

            Without MESSAGE or --file, stdin is sent: with --lines one packet per line (blank lines skipped; the default when stdin is a terminal or valid UTF-8 text), with --raw the bytes as they are, cut into packets of the dongle's maximum size (the default for binary data). An empty message is a usage error (exit 1).
            """)

    @Argument(help: ArgumentHelp("Destination MAC (aa:bb:cc:dd:ee:ff) or `broadcast`.", valueName: "MAC"))
    var mac: MACArg

    @Argument(help: "The message (text, or hex with --hex). Omit it to send stdin.")
    var message: String?

    @Flag(help: "MESSAGE (or each stdin line) is hex (e.g. 48656c6c6f or '48 65 6c').")
    var hex = false

    @Option(help: ArgumentHelp("Send the contents of FILE as one packet.", valueName: "FILE"))
    var file: String?

    @Flag(help: "stdin is text: one packet per line, blank lines skipped.")
    var lines = false

    @Flag(help: "stdin is binary: its bytes cut into packets of the maximum size.")
    var raw = false

    @Flag(name: .customLong("no-wait"), help: "Queue each packet without waiting for its delivery status.")
    var noWait = false

    @Flag(help: .hidden)
    var sync = false

    @Flag(help: "Encrypt with the peer's LMK (needs --lmk; the receiver needs the same LMK and PMK).")
    var encrypt = false

    @Option(help: ArgumentHelp("Local master key of the peer: 32 hex digits, or 16 ASCII characters (prefix hex: or ascii: to force one).", valueName: "KEY"))
    var lmk: String?

    @Option(help: ArgumentHelp("Channel of the peer (0: the dongle's current channel).", valueName: "N"))
    var channel: UInt8?

    @Flag(help: "Keep a peer that was registered for this call.")
    var keepPeer = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if encrypt && lmk == nil { throw ValidationError("--encrypt needs --lmk KEY (32 hex digits or 16 ASCII characters)") }
        if file != nil && message != nil { throw ValidationError("give either MESSAGE or --file, not both") }
        if let c = channel, c > 14 { throw ValidationError("--channel must be 0...14") }
        if lines && raw { throw ValidationError("give either --lines or --raw, not both") }
        if (lines || raw) && (file != nil || message != nil) { throw ValidationError("--lines and --raw are about stdin; they do not go with MESSAGE or --file") }
        if raw && hex { throw ValidationError("--raw sends bytes as they are; --hex goes with --lines") }
        if noWait && sync { throw ValidationError("give either --no-wait or --sync, not both") }
    }

    /// What to send, read before the dongle is opened; `.raw` is cut once its maximum
    /// payload is known.
    enum Input {
        case packets([[UInt8]])
        case raw([UInt8])
    }

    func input() throws -> Input {
        if let f = file {
            guard let d = FileManager.default.contents(atPath: f) else {
                throw CLIError(.io, "cannot read \(f): no such file or not readable")
            }
            guard !d.isEmpty else { throw CLIError(.usage, "\(f) is empty: nothing to send (ESP-NOW packets carry 1 byte or more)") }
            return .packets([Array(d)])
        }
        if let m = message {
            let b: [UInt8]
            if hex {
                guard let h = parseHex(m) else { throw CLIError(.usage, "MESSAGE is not valid hex: \(m)") }
                b = h
            } else {
                b = Array(m.utf8)
            }
            guard !b.isEmpty else { throw CLIError(.usage, "the message is empty: nothing to send (ESP-NOW packets carry 1 byte or more)") }
            return .packets([b])
        }
        let data = Self.readAllStdin()
        let text = isatty(STDIN_FILENO) == 1 || String(validating: data, as: UTF8.self) != nil
        if raw || (!lines && !text) {
            guard !data.isEmpty else { throw CLIError(.usage, "stdin is empty: nothing to send") }
            return .raw(data)
        }
        guard let s = String(validating: data, as: UTF8.self) else {
            throw CLIError(.usage, "stdin is not UTF-8 text; send binary data with --raw")
        }
        var out: [[UInt8]] = []
        for (n, line) in s.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var l = Substring(line)
            if l.hasSuffix("\r") { l = l.dropLast() }
            if l.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }  // blank: skipped
            if hex {
                guard let b = parseHex(String(l)) else { throw CLIError(.usage, "stdin line \(n + 1) is not valid hex: \(l)") }
                out.append(b)
            } else {
                out.append(Array(l.utf8))
            }
        }
        guard !out.isEmpty else { throw CLIError(.usage, "stdin has no line to send (blank lines are skipped)") }
        return .packets(out)
    }

    static func readAllStdin() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(STDIN_FILENO, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return out }
            out += buf.prefix(n)
        }
    }

    func run() async throws {
        let key = try lmk.map { try parseKey($0, what: "--lmk") }
        let input = try input()
        let mac = mac.mac
        let (sync, encrypt, channel, keep, json) = (!noWait, encrypt, channel, keepPeer, connection.json)
        let (failures, total) = try await Session.run(connection, keepPeers: keepPeer) { s -> (Int, Int) in
            let d = s.device
            let maxLen = d.info.maxPayload
            let packets: [[UInt8]]
            switch input {
            case .packets(let p): packets = p
            case .raw(let b): packets = stride(from: 0, to: b.count, by: maxLen).map { Array(b[$0..<min($0 + maxLen, b.count)]) }
            }
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
            return (failed, packets.count)
        }
        if failures > 0 {
            throw CLIError(.espnow, "\(failures) of \(total) packets were not acknowledged by \(mac) "
                           + "(out of range, on another channel, or powered off)")
        }
    }
}
