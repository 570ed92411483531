import ESPNowDevice
import ESPNowWire
import NIOCore

/// The stream interface (`read`, `read1`, `readinto`, `readinto1`, `write`).
///
/// Buffer packet format (all integers little-endian; the seed leaves it undocumented, this
/// is ours):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | magic `0x99` |
/// | 1 | 1 | format version `1` |
/// | 2 | 2 | `len`: message length |
/// | 4 | 1 | `rssi` (i8, dBm; 0 in `write`) |
/// | 5 | 1 | `channel` (0 in `write`) |
/// | 6 | 4 | `timestamp_us` (device µs; 0 in `write`) |
/// | 10 | 6 | peer MAC (sender on read, destination on write) |
/// | 16 | len | message |
extension ESPNow {
    public static let streamMagic: UInt8 = 0x99
    public static let streamHeaderLength = 16

    /// One packet in the buffer packet format.
    public static func streamPacket(mac: [UInt8], msg: [UInt8], rssi: Int8 = 0, channel: UInt8 = 0,
                                    timestampUs: UInt32 = 0) -> [UInt8] {
        var out: [UInt8] = [streamMagic, 1, UInt8(msg.count & 0xFF), UInt8(msg.count >> 8),
                            UInt8(bitPattern: rssi), channel]
        out.reserveCapacity(streamHeaderLength + msg.count)
        withUnsafeBytes(of: timestampUs.littleEndian) { out += $0 }
        out += mac
        out += msg
        return out
    }

    static func append(_ p: ReceivedPacket, to out: inout [UInt8]) {
        let n = p.data.readableBytes
        out += [streamMagic, 1, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(bitPattern: p.rssi), p.channel]
        withUnsafeBytes(of: p.timestampUs.littleEndian) { out += $0 }
        out += p.src.bytes
        out += p.data.readableBytesView
    }

    /// Moves packets from the receive queue into the stream buffer until it holds `want`
    /// bytes (or `maxPackets` were taken); never blocks.
    private func fill(_ s: inout State, want: Int, maxPackets: Int) {
        var taken = 0
        while s.stream.count < want && taken < maxPackets, let p = tryNextPacket(&s) {
            Self.append(p, to: &s.stream)
            taken += 1
        }
    }

    private func take(size: Int, onePacket: Bool) -> [UInt8]? {
        state.withLockedValue { s in
            let want = size < 0 ? Int.max : size
            fill(&s, want: want, maxPackets: onePacket ? (s.stream.isEmpty ? 1 : 0) : Int.max)
            guard !s.stream.isEmpty, want > 0 else { return nil }
            let n = Swift.min(want, s.stream.count)
            let out = Array(s.stream[0..<n])
            s.stream.removeFirst(n)
            return out
        }
    }

    /// `read([size=-1])`: up to `size` bytes of buffer packet data; nil when none (non-blocking).
    public func read(_ size: Int = -1) -> [UInt8]? { take(size: size, onePacket: false) }

    /// `read1([size=-1])`: as `read`, reading at most one packet from the receive buffer.
    public func read1(_ size: Int = -1) -> [UInt8]? { take(size: size, onePacket: true) }

    /// `readinto(b)`: fills `b` from the start; returns the count, nil when no data.
    public func readinto(_ b: inout [UInt8]) -> Int? {
        guard let d = take(size: b.count, onePacket: false) else { return nil }
        b.replaceSubrange(0..<d.count, with: d)
        return d.count
    }

    /// `readinto1(b)`: as `readinto`, reading at most one packet.
    public func readinto1(_ b: inout [UInt8]) -> Int? {
        guard let d = take(size: b.count, onePacket: true) else { return nil }
        b.replaceSubrange(0..<d.count, with: d)
        return d.count
    }

    /// `write(b)`: sends every packet in `b` (buffer packet format) to its MAC, sync; returns
    /// the bytes consumed. Malformed data is rejected before anything is sent.
    @discardableResult
    public func write(_ b: [UInt8]) async throws -> Int {
        var packets: [([UInt8], [UInt8])] = []
        var i = 0
        while i < b.count {
            guard b.count - i >= Self.streamHeaderLength, b[i] == Self.streamMagic, b[i + 1] == 1 else {
                throw ValueError("bad buffer packet at offset \(i)")
            }
            let len = Int(b[i + 2]) | Int(b[i + 3]) << 8
            guard i + Self.streamHeaderLength + len <= b.count else { throw ValueError("truncated buffer packet at offset \(i)") }
            let mac = Array(b[(i + 10)..<(i + 16)])
            let msg = Array(b[(i + 16)..<(i + 16 + len)])
            _ = try Check.mac(mac)
            try Check.espnowArg(!msg.isEmpty && msg.count <= MAX_DATA_LEN, "msg at offset \(i) must be 1...\(MAX_DATA_LEN) bytes, got \(msg.count)")
            packets.append((mac, msg))
            i += Self.streamHeaderLength + len
        }
        for (mac, msg) in packets { try await send(mac, msg, true) }
        return i
    }
}

/// The seed's `StreamReader(e)` for async reading: waits for data instead of returning nil.
public struct StreamReader: Sendable {
    public let e: ESPNow
    public init(_ e: ESPNow) { self.e = e }

    /// Waits until one packet is available and returns it in buffer packet format.
    public func read1() async throws -> [UInt8] {
        while true {
            if let d = e.read1() { return d }
            // Wait for the next packet without taking it away from the stream order.
            guard let p = try await e.device.packetQueue.next(timeout: nil) else { continue }
            var out: [UInt8] = []
            ESPNow.append(p, to: &out)
            return out
        }
    }
}
