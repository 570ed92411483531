/// A decoded frame borrowed from a buffer the caller (or a ``FrameSplitter``) owns:
/// header plus a pointer to the body. Valid only as long as that buffer is unchanged
/// (for a splitter: inside the handler); use ``copy()`` to keep it.
public struct FrameView {
    public let header: FrameHeader
    /// The body bytes (between header and CRC).
    public let body: UnsafeRawBufferPointer

    @inlinable
    public init(header: FrameHeader, body: UnsafeRawBufferPointer) {
        self.header = header
        self.body = body
    }

    @inlinable public var version: UInt8 { header.version }
    @inlinable public var kind: FrameKind { header.kind }
    /// Request id (0 for events).
    @inlinable public var id: UInt16 { header.id }
    @inlinable public var code: UInt8 { header.code }

    /// An owned copy.
    public func copy() -> Frame { Frame(header: header, body: Array(body)) }
}

/// An owned frame: header and body bytes (no CRC, no COBS).
public struct Frame: Sendable, Hashable, CustomStringConvertible {
    public var header: FrameHeader
    public var body: [UInt8]

    public init(header: FrameHeader, body: [UInt8]) {
        self.header = header
        self.body = body
    }

    public init(kind: FrameKind, id: UInt16 = 0, code: UInt8, body: [UInt8]) {
        self.init(header: FrameHeader(kind: kind, id: id, code: code), body: body)
    }

    public var version: UInt8 { header.version }
    public var kind: FrameKind { header.kind }
    public var id: UInt16 { header.id }
    public var code: UInt8 { header.code }

    /// Decodes one frame from its wire bytes (a single trailing `0x00` delimiter is allowed).
    public init(wire: [UInt8], accepting kinds: FrameKindSet = .all) throws(WireError) {
        var enc = wire
        if enc.last == 0 { enc.removeLast() }
        let r: Result<Frame, WireError> = enc.withUnsafeMutableBytes { b in
            Result { () throws(WireError) in try Frame.decode(inPlace: b, accepting: kinds).copy() }
        }
        self = try r.get()
    }

    /// Wire bytes: COBS of header + body + CRC, then `0x00`.
    public func encoded() throws(WireError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(into: &out)
        return out
    }

    /// Writes the wire bytes into `out` (replacing its contents, reusing its capacity).
    public func encode(into out: inout [UInt8]) throws(WireError) {
        let r: Result<Void, WireError> = body.withUnsafeBytes { b in
            Result { () throws(WireError) in try Frame.encode(header: header, body: b, into: &out) }
        }
        try r.get()
    }

    public var description: String { "\(header) body \(Hex.encode(body))" }

    // MARK: - Zero-allocation codec

    /// Largest wire length (with delimiter) of a frame with `bodyCount` body bytes and this kind.
    @inlinable
    public static func maxWireLength(kind: FrameKind, bodyCount: Int) -> Int {
        COBS.maxEncodedLength(kind.headerLength + bodyCount + WireProtocol.crcLength) + 1
    }

    /// Decodes one encoded frame (the bytes between delimiters, delimiter excluded) into
    /// `scratch` (≥ ``WireProtocol/maxDecoded`` bytes; may be the same memory as `encoded`).
    /// The returned view points into `scratch`. Checks, in order: oversize, bad COBS,
    /// truncated, bad CRC, bad version, bad kind (incl. kinds not in `kinds`), truncated header.
    @inlinable
    public static func decode(_ encoded: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer,
                              accepting kinds: FrameKindSet = .all) throws(WireError) -> FrameView {
        guard let enc = encoded.baseAddress, let out = scratch.baseAddress else { throw .truncated }
        return try _decodeFrame(enc, encoded.count, out, scratch.count, kinds, zeroFree: false)
    }

    /// Decodes an encoded frame in place (the decoded bytes overwrite `buffer`).
    @inlinable
    public static func decode(inPlace buffer: UnsafeMutableRawBufferPointer,
                              accepting kinds: FrameKindSet = .all) throws(WireError) -> FrameView {
        try decode(UnsafeRawBufferPointer(buffer), scratch: buffer, accepting: kinds)
    }

    /// Encodes header + body + CRC with COBS and the delimiter into `out`; returns the number
    /// of bytes written. Throws `.oversize` for a frame above ``WireProtocol/maxDecoded`` and
    /// `.noSpace` when `out` is shorter than ``maxWireLength(kind:bodyCount:)``.
    public static func encode(header: FrameHeader, body: UnsafeRawBufferPointer,
                              into out: UnsafeMutableRawBufferPointer) throws(WireError) -> Int {
        let decodedCount = header.length + body.count + WireProtocol.crcLength
        if decodedCount > WireProtocol.maxDecoded { throw .oversize }
        guard let o = out.baseAddress, out.count >= COBS.maxEncodedLength(decodedCount) + 1 else { throw .noSpace }
        var h: UInt32 = 0
        return withUnsafeMutableBytes(of: &h) { hb in
            let hl = header.write(to: hb.baseAddress!)
            let hdr = UnsafeRawBufferPointer(rebasing: hb[0..<hl])
            var w = COBSWriter(o)
            w.write(hdr)
            w.write(body)
            var crc = CRC32.checksum(body, continuing: CRC32.checksum(hdr)).littleEndian
            withUnsafeBytes(of: &crc) { w.write($0) }
            let n = w.finish()
            o.storeBytes(of: 0, toByteOffset: n, as: UInt8.self)
            return n + 1
        }
    }

    /// Encodes into `out`, replacing its contents; no allocation once `out` has grown to
    /// the frame's ``maxWireLength(kind:bodyCount:)``.
    public static func encode(header: FrameHeader, body: UnsafeRawBufferPointer, into out: inout [UInt8]) throws(WireError) {
        let need = maxWireLength(kind: header.kind, bodyCount: body.count)
        if out.count < need { out.append(contentsOf: repeatElement(0, count: need - out.count)) }
        let r: Result<Int, WireError> = out.withUnsafeMutableBytes { o in
            Result { () throws(WireError) in try encode(header: header, body: body, into: o) }
        }
        switch r {
        case .success(let n): out.removeSubrange(n...)
        case .failure(let e):
            out.removeAll(keepingCapacity: true)
            throw e
        }
    }
}

/// Shared frame decoder (see `Frame.decode`). `zeroFree`: the caller knows `enc` holds no 0x00.
@usableFromInline
func _decodeFrame(_ enc: UnsafeRawPointer, _ len: Int, _ out: UnsafeMutableRawPointer, _ cap: Int,
                  _ kinds: FrameKindSet, zeroFree: Bool) throws(WireError) -> FrameView {
    if len > WireProtocol.maxEncoded { throw .oversize }
    if !zeroFree && _containsZero(enc, len) { throw .badCOBS }
    let n = try _decodeNoZeros(enc, len, out, min(cap, WireProtocol.maxDecoded))
    if n < WireProtocol.minDecoded { throw .truncated }
    let payload = n - WireProtocol.crcLength
    let stored = UInt32(littleEndian: out.loadUnaligned(fromByteOffset: payload, as: UInt32.self))
    if _crc32Update(0, out, payload) != stored { throw .badCRC }
    let vk = out.load(as: UInt8.self)
    let version = vk >> 4
    if version != WireProtocol.version { throw .badVersion(version) }
    let rawKind = vk & 0x0F
    guard let kind = FrameKind(rawValue: rawKind), kinds.contains(rawKind: rawKind) else { throw .badKind(rawKind) }
    let hl = kind.headerLength
    if payload < hl { throw .truncated }
    let header: FrameHeader
    if kind == .event {
        header = FrameHeader(version: version, kind: kind, id: 0, code: out.load(fromByteOffset: 1, as: UInt8.self))
    } else {
        let id = UInt16(out.load(fromByteOffset: 1, as: UInt8.self)) | UInt16(out.load(fromByteOffset: 2, as: UInt8.self)) << 8
        header = FrameHeader(version: version, kind: kind, id: id, code: out.load(fromByteOffset: 3, as: UInt8.self))
    }
    return FrameView(header: header, body: UnsafeRawBufferPointer(start: out + hl, count: payload - hl))
}
