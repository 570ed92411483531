import ESPNowWire
import Foundation
import NIOConcurrencyHelpers

/// A pcap capture of received ESP-NOW packets as Wireshark expects them from a monitor-mode
/// sniffer: LINKTYPE_IEEE802_11_RADIOTAP (127), a radiotap header (flags, rate, channel,
/// dBm antenna signal), then the 802.11 action frame ESP-NOW sends: category 127
/// (vendor-specific), Espressif OUI 18:fe:34, 4 random bytes, and the vendor-specific
/// element (ID 221, OUI 18:fe:34, type 4, version) carrying the payload. No FCS.
final class PcapWriter: Sendable {
    static let linktypeRadiotap: UInt32 = 127
    private let handle: FileHandle
    let path: String
    /// 802.11 sequence number of the next record, and records written.
    private let state = NIOLockedValueBox<(sequence: UInt16, records: Int)>((0, 0))
    var records: Int { state.withLockedValue { $0.records } }

    init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let h = FileHandle(forWritingAtPath: path) else {
            throw CLIError(.io, "cannot create the capture file \(path) (check the directory and its permissions)")
        }
        handle = h
        var g: [UInt8] = []
        g.le32(0xA1B2_C3D4)  // microsecond timestamps
        g.le16(2)
        g.le16(4)
        g.le32(0)  // thiszone
        g.le32(0)  // sigfigs
        g.le32(65535)  // snaplen
        g.le32(Self.linktypeRadiotap)
        try write(g)
    }

    private func write(_ b: [UInt8]) throws {
        do {
            try handle.write(contentsOf: Data(b))
        } catch {
            throw CLIError(.io, "cannot write the capture file \(path): \(error)")
        }
    }

    func close() { try? handle.close() }

    /// Appends one received packet.
    func append(src: MACAddress, dst: MACAddress, rate: UInt8, rssi: Int8, channel: UInt8, payload: [UInt8],
                time: Date = Date()) throws {
        let seq = state.withLockedValue { s -> UInt16 in
            defer { s.sequence &+= 1 }
            return s.sequence
        }
        let frame = Self.record(src: src, dst: dst, rate: rate, rssi: rssi, channel: channel, payload: payload, sequence: seq)
        let t = time.timeIntervalSince1970
        var r: [UInt8] = []
        r.le32(UInt32(truncatingIfNeeded: Int64(t)))
        r.le32(UInt32((t - t.rounded(.down)) * 1_000_000) % 1_000_000)
        r.le32(UInt32(frame.count))
        r.le32(UInt32(frame.count))
        try write(r + frame)
        state.withLockedValue { $0.records += 1 }
    }

    /// Radiotap header + 802.11 action frame.
    static func record(src: MACAddress, dst: MACAddress, rate: UInt8, rssi: Int8, channel: UInt8, payload: [UInt8],
                       sequence: UInt16) -> [UInt8] {
        // Radiotap: version 0, pad, length, present bitmap; fields in bit order with their alignment.
        let rateUnits = radiotapRate(rate)  // 500 kbit/s units
        var present: UInt32 = 1 << 1 | 1 << 3 | 1 << 5  // flags, channel, dBm antenna signal
        if rateUnits != nil { present |= 1 << 2 }
        var rt: [UInt8] = [0, 0, 0, 0]
        rt.le32(present)
        rt.append(0)  // flags: no FCS at the end
        if let r = rateUnits { rt.append(r) }
        if rt.count % 2 == 1 { rt.append(0) }  // channel is 2-byte aligned
        rt.le16(frequency(channel))
        rt.le16(channelFlags(rate))
        rt.append(UInt8(bitPattern: rssi))
        let rtLen = UInt16(rt.count)
        rt[2] = UInt8(rtLen & 0xFF)
        rt[3] = UInt8(rtLen >> 8)

        // 802.11 management header: action frame, addr3 = broadcast BSSID as ESP-NOW sends.
        var f: [UInt8] = [0xD0, 0x00, 0x00, 0x00]
        f += dst.bytes
        f += src.bytes
        f += MACAddress.broadcast.bytes
        f.le16(sequence << 4)
        // Action body: category 127, Espressif OUI, 4 random bytes.
        f += [0x7F, 0x18, 0xFE, 0x34, 0, 0, 0, 0]
        // Vendor-specific element(s): v1 carries up to 250 bytes in one; a v2 payload is
        // split over consecutive elements.
        let version: UInt8 = payload.count > 250 ? 2 : 1
        var rest = payload[...]
        repeat {
            let chunk = rest.prefix(250)
            rest = rest.dropFirst(chunk.count)
            f += [0xDD, UInt8(5 + chunk.count), 0x18, 0xFE, 0x34, 0x04, version]
            f += chunk
        } while !rest.isEmpty
        return rt + f
    }

    static func frequency(_ ch: UInt8) -> UInt16 {
        switch ch {
        case 14: 2484
        case 1...13: 2407 + 5 * UInt16(ch)
        default: 0
        }
    }

    /// `wifi_phy_rate_t` to radiotap's 500 kbit/s units (nil: HT MCS or unknown).
    static func radiotapRate(_ r: UInt8) -> UInt8? {
        switch r {
        case 0x00: 2
        case 0x01, 0x05: 4
        case 0x02, 0x06: 11
        case 0x03, 0x07: 22
        case 0x08: 96
        case 0x09: 48
        case 0x0A: 24
        case 0x0B: 12
        case 0x0C: 108
        case 0x0D: 72
        case 0x0E: 36
        case 0x0F: 18
        case 0x2A: 1  // LR 500 kbit/s
        default: nil
        }
    }

    static func channelFlags(_ r: UInt8) -> UInt16 {
        let ghz2: UInt16 = 0x0080
        switch r {
        case 0x00...0x07: return ghz2 | 0x0020  // CCK
        case 0x08...0x1F: return ghz2 | 0x0040  // OFDM (and HT)
        default: return ghz2
        }
    }
}

extension Array where Element == UInt8 {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for i in 0..<4 { append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
}

/// The `sensor` node's reading (docs/SIMULATOR.md): 10 bytes little-endian,
/// 'S', version 1, seq u32, temp_centi i16, humidity u8, node u8.
struct SensorReading: Sendable {
    var seq: UInt32
    var tempCenti: Int16
    var humidity: UInt8
    var node: UInt8

    init?(_ b: [UInt8]) {
        guard b.count == 10, b[0] == 0x53, b[1] == 1 else { return nil }
        seq = UInt32(b[2]) | UInt32(b[3]) << 8 | UInt32(b[4]) << 16 | UInt32(b[5]) << 24
        tempCenti = Int16(bitPattern: UInt16(b[6]) | UInt16(b[7]) << 8)
        humidity = b[8]
        node = b[9]
    }

    var temperature: Double { Double(tempCenti) / 100 }

    var text: String {
        String(format: "sensor %u  #%-3u %6.2f °C  %2u %%", node, seq, temperature, humidity)
    }

    var json: JSON {
        .object([("node", .int(node)), ("seq", .int(seq)), ("temp_c", .double(temperature)), ("humidity", .int(humidity))])
    }
}
