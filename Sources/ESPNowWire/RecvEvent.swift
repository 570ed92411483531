/// Zero-allocation access to a RECV event (section 7.2): every field as a value, the
/// payload as a pointer into the frame's buffer (valid as long as that buffer is).
/// Mirrors the RECV entry of ``MessageLayout/all``.
public struct RecvEventView {
    /// `src_addr`.
    public var srcAddr: MACAddress
    /// `dst` (bits 7..6 of `dst_rate`).
    public var dst: RecvDestination
    /// `rate` (bits 5..0 of `dst_rate`, `wifi_phy_rate_t`, 63 unknown).
    public var rate: UInt8
    /// `rssi` in dBm.
    public var rssi: Int8
    public var channel: UInt8
    /// `timestamp_us` (device µs, wraps).
    public var timestampUs: UInt32
    /// `dst_addr`, present exactly when `dst == .other`.
    public var dstAddr: MACAddress?
    /// `data`: the ESP-NOW payload.
    public var data: UnsafeRawBufferPointer

    @inlinable
    public init(srcAddr: MACAddress, dst: RecvDestination, rate: UInt8, rssi: Int8, channel: UInt8,
                timestampUs: UInt32, dstAddr: MACAddress? = nil, data: UnsafeRawBufferPointer) {
        self.srcAddr = srcAddr
        self.dst = dst
        self.rate = rate
        self.rssi = rssi
        self.channel = channel
        self.timestampUs = timestampUs
        self.dstAddr = dstAddr
        self.data = data
    }

    /// Reads a RECV event from a frame; throws `.unknownCode` if it is not a RECV event and
    /// `.badBody` when the body does not match the layout.
    @inlinable
    public init(frame: FrameView) throws(WireError) {
        guard frame.kind == .event, frame.code == EventCode.recv.rawValue else {
            throw .unknownCode(kind: frame.kind, code: frame.code)
        }
        try self.init(body: frame.body)
    }

    /// Reads a RECV body.
    @inlinable
    public init(body: UnsafeRawBufferPointer) throws(WireError) {
        let n = body.count
        guard n >= 13, let p = body.baseAddress else { throw Self.error("src_addr", .tooShort) }
        srcAddr = MACAddress(loadingFrom: p)
        let dr = p.load(fromByteOffset: 6, as: UInt8.self)
        dst = RecvDestination(rawValue: dr >> 6)!
        rate = dr & 0x3F
        rssi = p.load(fromByteOffset: 7, as: Int8.self)
        channel = p.load(fromByteOffset: 8, as: UInt8.self)
        timestampUs = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 9, as: UInt32.self))
        var off = 13
        if dst == .other {
            guard n >= 19 else { throw Self.error("dst_addr", .tooShort) }
            dstAddr = MACAddress(loadingFrom: p, offset: 13)
            off = 19
        } else {
            dstAddr = nil
        }
        if n - off > WireProtocol.maxESPNowPayload {
            throw Self.error("data", .tooLong(length: n - off, max: WireProtocol.maxESPNowPayload))
        }
        data = UnsafeRawBufferPointer(start: p + off, count: n - off)
    }

    @usableFromInline
    static func error(_ field: String, _ problem: BodyProblem) -> WireError {
        .badBody(BodyError(message: "RECV", kind: .event, field: field, problem: problem))
    }

    /// Body length of this event.
    @inlinable public var bodyCount: Int { (dst == .other ? 19 : 13) + data.count }

    /// Encodes the complete RECV frame (COBS, CRC, delimiter) into `out`; returns the bytes
    /// written. Needs `Frame.maxWireLength(kind: .event, bodyCount: bodyCount)` bytes.
    public func encode(into out: UnsafeMutableRawBufferPointer) throws(WireError) -> Int {
        if data.count > WireProtocol.maxESPNowPayload {
            throw Self.error("data", .tooLong(length: data.count, max: WireProtocol.maxESPNowPayload))
        }
        if (dst == .other) != (dstAddr != nil) {
            throw Self.error("dst_addr", dstAddr == nil ? .missing : .unexpected)
        }
        let decodedCount = 2 + bodyCount + WireProtocol.crcLength
        guard let o = out.baseAddress, out.count >= COBS.maxEncodedLength(decodedCount) + 1 else { throw .noSpace }
        // Header + fixed fields (≤ 21 bytes) in a stack buffer.
        var fixed: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &fixed) { fb in
            let f = fb.baseAddress!
            f.storeBytes(of: (WireProtocol.version << 4) | FrameKind.event.rawValue, as: UInt8.self)
            f.storeBytes(of: EventCode.recv.rawValue, toByteOffset: 1, as: UInt8.self)
            srcAddr.store(to: f, offset: 2)
            f.storeBytes(of: dst.rawValue << 6 | (rate & 0x3F), toByteOffset: 8, as: UInt8.self)
            f.storeBytes(of: rssi, toByteOffset: 9, as: Int8.self)
            f.storeBytes(of: channel, toByteOffset: 10, as: UInt8.self)
            f.storeBytes(of: timestampUs.littleEndian, toByteOffset: 11, as: UInt32.self)
            var fl = 15
            if let d = dstAddr {
                d.store(to: f, offset: 15)
                fl = 21
            }
            let head = UnsafeRawBufferPointer(start: f, count: fl)
            var w = COBSWriter(o)
            w.write(head)
            w.write(data)
            var crc = CRC32.checksum(data, continuing: CRC32.checksum(head)).littleEndian
            withUnsafeBytes(of: &crc) { w.write($0) }
            let n = w.finish()
            o.storeBytes(of: 0, toByteOffset: n, as: UInt8.self)
            return n + 1
        }
    }

    /// Encodes into `out`, replacing its contents (no allocation once `out` is large enough).
    public func encode(into out: inout [UInt8]) throws(WireError) {
        let need = Frame.maxWireLength(kind: .event, bodyCount: bodyCount)
        if out.count < need { out.append(contentsOf: repeatElement(0, count: need - out.count)) }
        let r: Result<Int, WireError> = out.withUnsafeMutableBytes { o in
            Result { () throws(WireError) in try encode(into: o) }
        }
        switch r {
        case .success(let n): out.removeSubrange(n...)
        case .failure(let e):
            out.removeAll(keepingCapacity: true)
            throw e
        }
    }
}
