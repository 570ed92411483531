import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation
import NIOCore
import NIOConcurrencyHelpers

/// A value shared between a loop task and the code that reports on it.
final class Locked<T: Sendable>: Sendable {
    private let m: NIOLockedValueBox<T>
    init(_ v: T) { m = NIOLockedValueBox(v) }
    var value: T { m.withLockedValue { $0 } }
    func update<R>(_ f: (inout T) -> R) -> R { m.withLockedValue { f(&$0) } }
}

/// How a received packet is shown (listen and demo).
enum PacketView {
    static func destination(_ p: ReceivedPacket, me: DeviceInfo) -> MACAddress {
        switch p.dst {
        case .station: me.staMAC
        case .accessPoint: me.apMAC
        case .broadcast: .broadcast
        case .other: p.dstAddr ?? .broadcast
        }
    }

    static func dstLabel(_ p: ReceivedPacket) -> String {
        switch p.dst {
        case .station: "sta"
        case .accessPoint: "ap"
        case .broadcast: "bcast"
        case .other: p.dstAddr?.description ?? "?"
        }
    }

    static func line(_ p: ReceivedPacket, bytes: [UInt8], decode: Bool = true) -> String {
        let body: String
        if decode, let r = SensorReading(bytes) {
            body = r.text
        } else {
            body = Fmt.payload(bytes)
        }
        return "\(Style.dim(Fmt.iso(Date(), digits: 3)))  \(Style.cyan(p.src.description)) → \(pad(dstLabel(p), 5))  \(pad("\(p.rssi) dBm", 8, right: true))  ch \(pad("\(p.channel)", 2, right: true))  \(pad("\(bytes.count) B", 6, right: true))  \(body)"
    }

    static func header() -> String {
        "\(pad("time (UTC)", 24))  \(pad("source", 17))   \(pad("dst", 5))  \(pad("rssi", 8, right: true))  \(pad("ch", 5))  \(pad("len", 6, right: true))  payload"
    }

    static func json(_ p: ReceivedPacket, bytes: [UInt8], me: DeviceInfo, decode: Bool = true) -> JSON {
        let now = Date()
        var o: [(String, JSON)] = [
            ("time", .string(Fmt.iso(now, digits: 6))),
            ("time_us", .i64(Int64((now.timeIntervalSince1970 * 1e6).rounded()))),
            ("src", .string(p.src.description)),
            ("dst", .string(destination(p, me: me).description)),
            ("dst_kind", .string(dstLabel(p))),
            ("rssi", .int(p.rssi)),
            ("channel", .int(p.channel)),
            ("rate", .int(p.rate)),
            ("timestamp_us", .int(p.timestampUs)),
            ("len", .int(bytes.count)),
            ("payload_hex", .string(Fmt.hex(bytes))),
        ]
        if let s = String(validating: bytes, as: UTF8.self) { o.append(("payload_text", .string(s))) }
        if decode, let r = SensorReading(bytes) { o.append(("sensor", r.json)) }
        return .object(o)
    }
}

struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print received ESP-NOW packets: time, source, RSSI, channel and payload (text when printable, else hex).",
        discussion: """
            Ends after --count packets (exit 0), after --timeout seconds (exit 4 if --count was not reached, else 0), or on Ctrl-C (exit 0). Times are ISO-8601 UTC; --json adds time_us (host, µs since 1970) and timestamp_us (the dongle's receive time, µs since its boot). --pcap writes a capture that Wireshark opens (radiotap + 802.11 action frames, as a monitor-mode sniffer sees them).
            """)

    @Option(name: [.short, .long], help: "Stop after N packets.")
    var count: Int?

    @Option(name: [.short, .long], help: ArgumentHelp("Stop after this many seconds (decimals accepted).", valueName: "SECONDS"))
    var timeout: Double?

    @Option(help: ArgumentHelp("Only packets from this MAC (repeatable: any of them).", valueName: "MAC"))
    var from: [MACArg] = []

    @Option(help: ArgumentHelp("Also write the packets to a pcap file (LINKTYPE_IEEE802_11_RADIOTAP); `-` is stdout (the packet lines then go to stderr), a FIFO is written as it is.", valueName: "FILE"))
    var pcap: String?

    @Flag(help: "Show sensor readings (docs/SIMULATOR.md) as the raw payload, in human output and --json (no `sensor` object).")
    var raw = false

    @Option(help: ArgumentHelp("The dongle's receive buffer in bytes (esp_now's rxbuf; packets that do not fit are dropped and reported).", valueName: "BYTES"))
    var rxbuf: Int?

    @Flag(help: "Also receive long-range (LR) frames: adds LR to the STA interface's protocols (esp_wifi_set_protocol).")
    var lr = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let c = count, c <= 0 { throw ValidationError("--count must be at least 1") }
        if let t = timeout, !(t > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        if let r = rxbuf, !(1...Int(UInt32.max)).contains(r) { throw ValidationError("--rxbuf must be a positive number of bytes") }
        if pcap == "-" && connection.json { throw ValidationError("--pcap - writes the capture to stdout; it does not go with --json") }
    }

    func run() async throws {
        let writer = try pcap.map { try PcapWriter(path: $0) }
        if writer?.toStdout == true { Out.humanToStderr.withLockedValue { $0 = true } }
        let (count, timeout, from, json, decode, rxbuf, lr) = (count, timeout, Set(from.map(\.mac)), connection.json, !raw, rxbuf, lr)
        let received = Locked(0)
        let timedOut = Locked(false)
        let drops = Locked<(device: UInt64, host: UInt64)>((0, 0))
        let outcome = try await Session.run(connection) { s -> Interrupt.Outcome in
            let d = s.device
            let me = d.info
            if let r = rxbuf {
                let got = try await d.setRxbuf(r)
                if got != r { Out.err("espnow: the dongle's receive buffer is \(got) bytes (asked for \(r))") }
            }
            if lr { try await enableLongRange(d, .sta) }
            d.packetQueue.clear()
            s.watch()
            // On stderr even with --json: scripts can wait for it before sending.
            Out.err("listening on \(s.port) (\(me.staMAC), channel \(try await d.wifiGetChannel().primary)); Ctrl-C stops")
            if !json { Out.line(PacketView.header()) }
            let deadline = timeout.map { now() + $0 }
            let before = s.drops
            defer {
                let after = s.drops
                drops.update { $0 = (after.device - before.device, after.host - before.host) }
            }
            return try await Interrupt.loopUntilLost(port: s.port) {
                while count.map({ received.value < $0 }) ?? true {
                    var wait: TimeAmount? = nil
                    if let dl = deadline {
                        let left = dl - now()
                        if left <= 0 {
                            timedOut.update { $0 = true }
                            return
                        }
                        wait = .nanoseconds(Int64(left * 1e9))
                    }
                    guard let p = try await d.packetQueue.next(timeout: wait) else {
                        timedOut.update { $0 = true }
                        return
                    }
                    if !from.isEmpty && !from.contains(p.src) { continue }
                    let bytes = p.bytes
                    received.update { $0 += 1 }
                    if json {
                        Out.json(PacketView.json(p, bytes: bytes, me: me, decode: decode))
                    } else {
                        Out.line(PacketView.line(p, bytes: bytes, decode: decode))
                    }
                    try writer?.append(src: p.src, dst: PacketView.destination(p, me: me), rate: p.rate, rssi: p.rssi,
                                       channel: p.channel, payload: bytes)
                }
            }
        }
        writer?.close()
        let n = received.value
        let dr = drops.value
        let ended = outcome.lost != nil ? "unplugged" : outcome.interrupted ? "interrupted"
            : (count.map { n >= $0 } ?? false) ? "count" : "timeout"
        if json {
            var o: [(String, JSON)] = [("event", .string("summary")), ("received", .int(n)),
                                       ("dropped_device", .int(dr.device)), ("dropped_host", .int(dr.host)),
                                       ("ended", .string(ended))]
            if let w = writer { o.append(("pcap_records", .int(w.records))) }
            Out.json(.object(o))
        } else {
            Out.err("\(n) packet\(n == 1 ? "" : "s") received, \(dr.device) dropped by the dongle, \(dr.host) by the host"
                    + (writer.map { ", \($0.records) written to \($0.path)" } ?? "")
                    + (outcome.lost != nil ? " (ended early: the dongle went away)" : ""))
        }
        if let lost = outcome.lost { throw lost }
        if let c = count, n < c, timedOut.value, !outcome.interrupted {
            throw CLIError(.timeout, "\(n) of \(c) packets received within \(timeout ?? 0) s")
        }
    }
}
