import ESPNowWire
import Foundation

/// Writes captured packets as a pcap file Wireshark opens as ESP-NOW: link type 127
/// (802.11 with radiotap), a radiotap header with only the antenna signal (dBm), and the
/// vendor-specific action frame ESP-NOW puts on the air (category 127, Espressif OUI
/// 18:fe:34, 4 random bytes, element 221 with OUI 18:fe:34, type 4, version 1, payload).
public enum PcapFile {
    public static func data(_ packets: [CapturedPacket]) -> Data {
        var out: [UInt8] = []
        le32(&out, 0xA1B2_C3D4)
        le16(&out, 2)
        le16(&out, 4)
        le32(&out, 0)
        le32(&out, 0)
        le32(&out, 65535)
        le32(&out, 127)
        for (seq, p) in packets.enumerated() {
            var f: [UInt8] = [0, 0, 9, 0]  // radiotap v0, length 9
            le32(&f, 1 << 5)  // present: dBm antenna signal
            f.append(UInt8(bitPattern: Int8(clamping: p.rssi)))
            f += [0xD0, 0x00, 0x00, 0x00]  // action frame, duration 0
            f += p.to.bytes + p.from.bytes + [UInt8](repeating: 0xFF, count: 6)
            le16(&f, UInt16(truncatingIfNeeded: seq << 4))
            f += [127, 0x18, 0xFE, 0x34, 0, 0, 0, 0]
            f += [221, UInt8(truncatingIfNeeded: 5 + p.payload.count), 0x18, 0xFE, 0x34, 4, 1]
            f += p.payload
            let t = p.time.timeIntervalSince1970
            le32(&out, UInt32(truncatingIfNeeded: Int64(t)))
            le32(&out, UInt32((t - t.rounded(.down)) * 1_000_000) % 1_000_000)
            le32(&out, UInt32(f.count))
            le32(&out, UInt32(f.count))
            out += f
        }
        return Data(out)
    }

    public static func write(_ packets: [CapturedPacket], to path: String) throws {
        try data(packets).write(to: URL(fileURLWithPath: path))
    }

    private static func le16(_ b: inout [UInt8], _ v: UInt16) { b += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private static func le32(_ b: inout [UInt8], _ v: UInt32) {
        b += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
    }
}
