/// Consistent Overhead Byte Stuffing (section 2). Encoders produce the minimal form;
/// decoders accept the non-minimal one too (`FF` + 254 bytes + `01`).
/// Neither adds nor expects the `0x00` delimiter.
public enum COBS {
    /// An upper bound of the encoded length of `n` bytes (`n + n/254 + 1`);
    /// never below the spec's `n + ceil(n/254)`.
    @inlinable
    public static func maxEncodedLength(_ n: Int) -> Int { n + n / 254 + 1 }

    /// Encodes `input` into `output`; returns the encoded length, or `nil` when `output`
    /// is smaller than ``maxEncodedLength(_:)`` of the input. Buffers must not overlap.
    public static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard output.count >= maxEncodedLength(input.count), let out = output.baseAddress else { return nil }
        var w = COBSWriter(out)
        w.write(input)
        return w.finish()
    }

    /// Decodes `input` (the bytes between delimiters) into `output`; returns the decoded length.
    /// `output` may start at the same address as `input` (decoding never writes ahead of reading).
    /// Throws `.badCOBS` for a code byte pointing past the end or a `0x00` in the input,
    /// `.oversize` when the result does not fit `output`.
    public static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(WireError) -> Int {
        guard let inp = input.baseAddress else { return 0 }
        if _containsZero(inp, input.count) { throw .badCOBS }
        return try _decodeNoZeros(inp, input.count, output.baseAddress, output.count)
    }

    /// Encodes an array (convenience; allocates).
    public static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: maxEncodedLength(bytes.count))
        let n = bytes.withUnsafeBytes { i in out.withUnsafeMutableBytes { o in encode(i, into: o)! } }
        out.removeSubrange(n...)
        return out
    }

    /// Decodes an array (convenience; allocates).
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bytes.count)
        let r: Result<Int, WireError> = bytes.withUnsafeBytes { i in
            out.withUnsafeMutableBytes { o in Result { () throws(WireError) in try decode(i, into: o) } }
        }
        let n = try r.get()
        out.removeSubrange(n...)
        return out
    }
}

/// Decodes COBS data known to contain no 0x00 byte. Input and output may start at the same address.
@usableFromInline
func _decodeNoZeros(_ inp: UnsafeRawPointer, _ n: Int, _ out: UnsafeMutableRawPointer?, _ cap: Int) throws(WireError) -> Int {
    var i = 0
    var o = 0
    while i < n {
        let code = Int(inp.load(fromByteOffset: i, as: UInt8.self))
        if code == 1 {
            // A run of zeros (headers, counters, padding): one store per code byte.
            i += 1
            if i < n {
                if o >= cap { throw .oversize }
                out!.storeBytes(of: 0, toByteOffset: o, as: UInt8.self)
                o += 1
            }
            continue
        }
        if code == 0 { throw .badCOBS }
        let end = i + code
        if end > n { throw .badCOBS }
        let len = code - 1
        if o + len > cap { throw .oversize }
        if len > 0 { out!.advanced(by: o).copyMemory(from: inp + (i + 1), byteCount: len) }  // memmove
        o += len
        i = end
        if code != 0xFF && i < n {
            if o >= cap { throw .oversize }
            out!.storeBytes(of: 0, toByteOffset: o, as: UInt8.self)
            o += 1
        }
    }
    return o
}

/// Index of the first 0x00 in `p[from..<to)`, or `to` (word at a time).
@usableFromInline
func _firstZero(_ p: UnsafeRawPointer, _ from: Int, _ to: Int) -> Int {
    var i = from
    while i + 8 <= to {
        let v = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        let z = (v &- 0x0101_0101_0101_0101) & ~v & 0x8080_8080_8080_8080
        if z != 0 { return i + z.trailingZeroBitCount >> 3 }
        i += 8
    }
    while i < to && p.load(fromByteOffset: i, as: UInt8.self) != 0 { i += 1 }
    return i
}

/// Whether `p[0..<n)` contains a 0x00 byte (word at a time).
@usableFromInline
func _containsZero(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
    var i = 0
    while i + 8 <= n {
        let v = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        if (v &- 0x0101_0101_0101_0101) & ~v & 0x8080_8080_8080_8080 != 0 { return true }
        i += 8
    }
    while i < n {
        if p.load(fromByteOffset: i, as: UInt8.self) == 0 { return true }
        i += 1
    }
    return false
}

/// Streaming minimal COBS encoder writing to a raw pointer. The caller guarantees room for
/// `COBS.maxEncodedLength(total bytes written)` bytes (plus whatever it appends after `finish`).
@usableFromInline
struct COBSWriter {
    @usableFromInline let out: UnsafeMutableRawPointer
    /// Next output position.
    @usableFromInline var pos: Int
    /// Position of the current group's code byte.
    @usableFromInline var codeIndex: Int
    /// Data bytes in the current group (0...254).
    @usableFromInline var run: Int
    /// The previous group was closed because it was full (code 0xFF, no zero removed).
    @usableFromInline var afterFull: Bool

    @usableFromInline
    init(_ out: UnsafeMutableRawPointer) {
        self.out = out
        pos = 1
        codeIndex = 0
        run = 0
        afterFull = false
    }

    @inline(__always) @usableFromInline
    mutating func closeGroup(code: UInt8) {
        out.storeBytes(of: code, toByteOffset: codeIndex, as: UInt8.self)
        codeIndex = pos
        pos += 1
        run = 0
    }

    @inline(__always) @usableFromInline
    mutating func write(byte b: UInt8) {
        if b == 0 {
            closeGroup(code: UInt8(run + 1))
            afterFull = false
        } else {
            out.storeBytes(of: b, toByteOffset: pos, as: UInt8.self)
            pos += 1
            run += 1
            afterFull = false
            if run == 254 {
                closeGroup(code: 0xFF)
                afterFull = true
            }
        }
    }

    @usableFromInline
    mutating func write(_ p: UnsafeRawPointer, _ n: Int) {
        var i = 0
        while i < n {
            // Copy the run of non-zero bytes that fits in the current group.
            let limit = min(n - i, 254 - run)
            let k = _firstZero(p, i, i + limit) - i
            if k > 0 {
                out.advanced(by: pos).copyMemory(from: p + i, byteCount: k)
                pos += k
                run += k
                i += k
                afterFull = false
            }
            if run == 254 {
                closeGroup(code: 0xFF)
                afterFull = true
            } else if i < n {  // a zero byte
                closeGroup(code: UInt8(run + 1))
                afterFull = false
                i += 1
            }
        }
    }

    @inlinable
    mutating func write(_ b: UnsafeRawBufferPointer) {
        if let p = b.baseAddress { write(p, b.count) }
    }

    /// Closes the last group and returns the encoded length.
    @usableFromInline
    mutating func finish() -> Int {
        if run == 0 && afterFull {
            pos -= 1  // minimal form: no 0x01 group after a full one at the very end
        } else {
            out.storeBytes(of: UInt8(run + 1), toByteOffset: codeIndex, as: UInt8.self)
        }
        return pos
    }
}
