/// CRC-32 of IEEE 802.3 / zlib (reflected 0xEDB88320, init and final XOR 0xFFFFFFFF), section 3.
///
/// Running form as zlib's `crc32()`: `checksum(p)` is the CRC of `p`, and
/// `checksum(q, continuing: checksum(p))` the CRC of `p` followed by `q`.
public enum CRC32 {
    /// CRC-32 of `bytes`, optionally continuing a previous result.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        return _crc32Update(crc, base, bytes.count)
    }

    /// CRC-32 of any byte collection (convenience; uses contiguous storage when available).
    public static func checksum<C: Collection>(_ bytes: C, continuing crc: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) }) {
            return r
        }
        return Array(bytes).withUnsafeBytes { checksum($0, continuing: crc) }
    }
}

/// Slice-by-8 tables: table k at offset 256*k.
@usableFromInline
let _crc32Tables: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 8 * 256)
    for i in 0..<256 {
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        t[i] = c
    }
    for i in 0..<256 {
        for k in 1..<8 {
            let prev = t[256 * (k - 1) + i]
            t[256 * k + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
        }
    }
    return t
}()

@usableFromInline
func _crc32Update(_ crc: UInt32, _ p: UnsafeRawPointer, _ count: Int) -> UInt32 {
    _crc32Tables.withUnsafeBufferPointer { tb in
        let t = tb.baseAddress!
        var c = ~crc
        var i = 0
        while i + 8 <= count {
            let w = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let lo = UInt32(truncatingIfNeeded: w) ^ c
            let hi = UInt32(truncatingIfNeeded: w >> 32)
            c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
            i += 8
        }
        while i < count {
            c = (c >> 8) ^ t[Int((c ^ UInt32(p.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)]
            i += 1
        }
        return ~c
    }
}
