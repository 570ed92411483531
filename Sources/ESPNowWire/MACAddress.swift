/// A 6-byte MAC address in transmission order, stored inline (no heap).
public struct MACAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Byte `i` of the address in bits `8*i ..< 8*i+8` (byte 0 lowest); the top 16 bits are 0.
    public let rawValue: UInt64

    /// From the packed form of ``rawValue`` (bits above 48 are dropped).
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

    /// From 6 bytes, e.g. `MACAddress(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff)`.
    @inlinable
    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        rawValue = UInt64(b0) | UInt64(b1) << 8 | UInt64(b2) << 16 | UInt64(b3) << 24 | UInt64(b4) << 32 | UInt64(b5) << 40
    }

    /// Reads 6 bytes at `p + offset`.
    @inlinable
    public init(loadingFrom p: UnsafeRawPointer, offset: Int = 0) {
        let lo = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        let hi = UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)))
        rawValue = lo | hi << 32
    }

    /// From exactly 6 bytes; `nil` otherwise.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 6 else { return nil }
        var v: UInt64 = 0
        for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        rawValue = v
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also `-` separated; case-insensitive).
    public init?(_ string: String) {
        let parts = string.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var v: UInt64 = 0
        for (i, p) in parts.enumerated() {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
            v |= UInt64(b) << (8 * UInt64(i))
        }
        rawValue = v
    }

    /// `00:00:00:00:00:00`: no station's address (ESPNOW_SEND's `peer_addr` when the
    /// every-peer flag is set).
    public static let zero = MACAddress(rawValue: 0)
    /// `ff:ff:ff:ff:ff:ff`.
    public static let broadcast = MACAddress(rawValue: 0xFFFF_FFFF_FFFF)

    /// Byte `i` (0...5) in transmission order.
    @inlinable public subscript(i: Int) -> UInt8 { UInt8(truncatingIfNeeded: rawValue >> (8 * UInt64(i))) }

    /// The 6 bytes (allocates).
    public var bytes: [UInt8] { (0..<6).map { self[$0] } }

    /// Writes the 6 bytes at `p + offset`.
    @inlinable
    public func store(to p: UnsafeMutableRawPointer, offset: Int = 0) {
        p.storeBytes(of: UInt32(truncatingIfNeeded: rawValue).littleEndian, toByteOffset: offset, as: UInt32.self)
        p.storeBytes(of: UInt16(truncatingIfNeeded: rawValue >> 32).littleEndian, toByteOffset: offset + 4, as: UInt16.self)
    }

    /// Lowercase `aa:bb:cc:dd:ee:ff`.
    public var description: String {
        let hex: [Character] = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(17)
        for i in 0..<6 {
            if i > 0 { s.append(":") }
            let b = self[i]
            s.append(hex[Int(b >> 4)])
            s.append(hex[Int(b & 15)])
        }
        return s
    }

    /// Orders by transmission order (byte 0 most significant).
    public static func < (a: MACAddress, b: MACAddress) -> Bool {
        a.rawValue.byteSwapped < b.rawValue.byteSwapped
    }
}
