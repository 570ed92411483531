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
        return "\(Fmt.clock())  \(p.src) → \(pad(dstLabel(p), 5))  \(pad("\(p.rssi) dBm", 8, right: true))  ch \(pad("\(p.channel)", 2, right: true))  \(pad("\(bytes.count) B", 6, right: true))  \(body)"
    }

    static func header() -> String {
        "\(pad("time", 12))  \(pad("source", 17))   \(pad("dst", 5))  \(pad("rssi", 8, right: true))  \(pad("ch", 5))  \(pad("len", 6, right: true))  payload"
    }

    static func json(_ p: ReceivedPacket, bytes: [UInt8], me: DeviceInfo) -> JSON {
        var o: [(String, JSON)] = [
            ("time", .double(Date().timeIntervalSince1970)),
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
        if let r = SensorReading(bytes) { o.append(("sensor", r.json)) }
        return .object(o)
    }
}

struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print received ESP-NOW packets: time, source, RSSI, channel and payload (text when printable, else hex).",
        discussion: """
            Ends after --count packets (exit 0), after --timeout seconds (exit 4 if --count
            was not reached, else 0), or on Ctrl-C (exit 0). --pcap writes a capture that
            Wireshark opens (radiotap + 802.11 action frames, as a monitor-mode sniffer sees them).
            """)

    @Option(name: [.short, .long], help: "Stop after N packets.")
    var count: Int?

    @Option(name: [.short, .long], help: ArgumentHelp("Stop after this many seconds.", valueName: "SECONDS"))
    var timeout: Double?

    @Option(help: ArgumentHelp("Only packets from this MAC.", valueName: "MAC"))
    var from: MACArg?

    @Option(help: ArgumentHelp("Also write the packets to a pcap file (LINKTYPE_IEEE802_11_RADIOTAP).", valueName: "FILE"))
    var pcap: String?

    @Flag(help: "Show sensor readings (docs/SIMULATOR.md) as raw payload instead of decoding them.")
    var raw = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let c = count, c <= 0 { throw ValidationError("--count must be at least 1") }
        if let t = timeout, !(t > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() async throws {
        let writer = try pcap.map { try PcapWriter(path: $0) }
        let (count, timeout, from, json, decode) = (count, timeout, from?.mac, connection.json, !raw)
        let received = Locked(0)
        let timedOut = Locked(false)
        let interrupted = try await Session.run(connection) { s -> Bool in
            let d = s.device
            let me = d.info
            d.packetQueue.clear()
            // On stderr even with --json: scripts can wait for it before sending.
            Out.err("listening on \(s.port) (\(me.staMAC), channel \(try await d.wifiGetChannel().primary)); Ctrl-C stops")
            if !json { Out.line(PacketView.header()) }
            let deadline = timeout.map { now() + $0 }
            return try await Interrupt.loop {
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
                    if let f = from, p.src != f { continue }
                    let bytes = p.bytes
                    received.update { $0 += 1 }
                    if json {
                        Out.json(PacketView.json(p, bytes: bytes, me: me))
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
        if !json {
            Out.err("\(n) packet\(n == 1 ? "" : "s") received" + (writer.map { ", \($0.records) written to \($0.path)" } ?? ""))
        }
        if let c = count, n < c, timedOut.value, !interrupted {
            throw CLIError(.timeout, "\(n) of \(c) packets received within \(timeout ?? 0) s")
        }
    }
}
