/// Link-level receive counters kept by a ``FrameSplitter`` (section 10's `link_rx_*`).
public struct LinkCounters: Sendable, Hashable {
    /// Valid frames delivered.
    public var frames: UInt64 = 0
    public var badCRC: UInt64 = 0
    public var badCOBS: UInt64 = 0
    public var oversize: UInt64 = 0
    public var truncated: UInt64 = 0
    public var badVersion: UInt64 = 0
    public var badKind: UInt64 = 0
    /// Frames whose body matched no layout (counted by a reader that decodes bodies;
    /// the splitter itself only checks framing).
    public var badBody: UInt64 = 0

    public init() {}

    /// All drops together.
    public var dropped: UInt64 { badCRC + badCOBS + oversize + truncated + badVersion + badKind + badBody }

    /// Counts one drop of the given reason.
    public mutating func count(_ e: WireError) {
        switch e {
        case .badCRC: badCRC += 1
        case .badCOBS: badCOBS += 1
        case .oversize: oversize += 1
        case .truncated: truncated += 1
        case .badVersion: badVersion += 1
        case .badKind: badKind += 1
        case .badBody, .unknownCode, .noSpace: badBody += 1
        }
    }
}

/// What a HELLO of another protocol version says at its frozen offsets (section 9).
public struct ForeignHello: Sendable, Hashable, CustomStringConvertible {
    /// Version nibble of the frame's byte 0.
    public var frameVersion: UInt8
    public var protoVersion: UInt8
    public var fwMajor: UInt8
    public var fwMinor: UInt8
    public var fwPatch: UInt8

    /// Reads a decoded frame (CRC already checked) that is a HELLO response or event of any version.
    public init?(decoded: UnsafeRawBufferPointer) {
        let n = decoded.count - WireProtocol.crcLength
        guard n >= 1 else { return nil }
        let vk = decoded[0]
        let at: Int
        switch vk & 0x0F {
        case FrameKind.response.rawValue where n >= 12 && decoded[3] == CommandCode.hello.rawValue: at = 8
        case FrameKind.event.rawValue where n >= 6 && decoded[1] == EventCode.hello.rawValue: at = 2
        default: return nil
        }
        frameVersion = vk >> 4
        protoVersion = decoded[at]
        fwMajor = decoded[at + 1]
        fwMinor = decoded[at + 2]
        fwPatch = decoded[at + 3]
    }

    /// The user-facing error text of section 9.
    public var description: String {
        "the dongle's firmware speaks protocol v\(protoVersion) (firmware \(fwMajor).\(fwMinor).\(fwPatch)), "
            + "this host speaks v\(WireProtocol.version): reflash the bridge firmware (see firmware-bridge/README.md)"
    }
}

/// Finds frames in a byte stream: feed arbitrary chunks, get each complete frame (as a
/// view into the splitter's own reusable buffer, no allocation) or a typed drop.
///
/// Frames end at `0x00`; empty frames are ignored. A frame that fails is dropped, counted in
/// ``counters`` and reported; the splitter resynchronises at the next delimiter. An encoded
/// frame longer than 1543 bytes is dropped as oversize when its delimiter arrives.
///
/// With ``recoversFrames`` (default on) a region that fails with bad CRC / bad COBS /
/// truncated / oversize is searched for a valid frame at its end, so that a good frame
/// glued to garbage without a delimiter in between (ROM boot text, half a frame cut by a
/// reset) is still delivered after the drop is reported. Only a suffix whose COBS groups end
/// exactly at the delimiter, whose byte 0 is a version-1 header of an accepted kind and whose
/// CRC-32 matches is accepted.
public struct FrameSplitter: Sendable {
    /// Kinds this receiver accepts; others are dropped as `.badKind` (section 4).
    public var accepting: FrameKindSet
    /// Look for a valid frame at the end of a failed region (see the type's documentation).
    public var recoversFrames: Bool
    /// Counts of delivered frames and drops by reason.
    public private(set) var counters = LinkCounters()
    /// The last HELLO of another protocol version seen (dropped as `.badVersion`).
    public private(set) var lastForeignHello: ForeignHello?

    // storage: [0, encCap) encoded bytes of the current frame (a sliding window once oversize);
    // [decOffset, +maxDecoded) decoded frame; [reachOffset, +maxEncoded+1) recovery scratch.
    private var storage: [UInt8]
    private var count = 0
    private var overflowed = false

    private static let encCap = 2 * WireProtocol.maxEncoded
    private static let decOffset = encCap
    private static let reachOffset = decOffset + WireProtocol.maxDecoded
    private static let storageSize = reachOffset + WireProtocol.maxEncoded + 1

    /// - Parameters:
    ///   - accepting: kinds to deliver (`.fromDevice` on a host, `.fromHost` on a device).
    ///   - recoversFrames: search failed regions for a trailing valid frame.
    public init(accepting: FrameKindSet = .all, recoversFrames: Bool = true) {
        self.accepting = accepting
        self.recoversFrames = recoversFrames
        storage = [UInt8](repeating: 0, count: Self.storageSize)
    }

    /// Bytes of an unfinished frame held (capped at the oversize window).
    public var pendingCount: Int { count }

    /// Discards a partly received frame (e.g. after reopening the port) without counting it.
    public mutating func discardPending() {
        count = 0
        overflowed = false
    }

    /// Zeroes the counters.
    public mutating func resetCounters() { counters = LinkCounters() }

    /// Feeds bytes; calls `handle` once per complete frame (`.success`, a view valid only
    /// during the call) or drop (`.failure`), in stream order. Does not allocate.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ handle: (Result<FrameView, WireError>) -> Void) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        let n = bytes.count
        // Take the buffer out of self (no copy: it stays uniquely referenced) so that self's
        // other properties can change while its memory is borrowed.
        var buf: [UInt8] = []
        swap(&buf, &storage)
        defer { swap(&buf, &storage) }
        buf.withUnsafeMutableBytes { st in
            let base = st.baseAddress!
            var i = 0
            while i < n {
                let j = _firstZero(src, i, n)
                let run = j - i
                if j == n {  // no delimiter: keep the bytes for later
                    append(src + i, run, base)
                    break
                }
                if count == 0 && !overflowed {
                    if run > 0 { finish(src + i, run, base, oversize: run > WireProtocol.maxEncoded, handle) }
                } else {
                    append(src + i, run, base)
                    finish(base, count, base, oversize: overflowed, handle)
                    count = 0
                    overflowed = false
                }
                i = j + 1
            }
        }
    }

    /// Feeds bytes and returns owned frames and drops (convenience; allocates).
    public mutating func feed<S: Sequence>(_ bytes: S) -> [Result<Frame, WireError>] where S.Element == UInt8 {
        var out: [Result<Frame, WireError>] = []
        let arr = Array(bytes)
        arr.withUnsafeBytes { b in
            feed(b) { r in
                switch r {
                case .success(let v): out.append(.success(v.copy()))
                case .failure(let e): out.append(.failure(e))
                }
            }
        }
        return out
    }

    /// Appends `k` encoded bytes; past 1543 bytes keeps a window of at least the last 1543.
    private mutating func append(_ p: UnsafeRawPointer, _ k: Int, _ base: UnsafeMutableRawPointer) {
        guard k > 0 else { return }
        let maxEnc = WireProtocol.maxEncoded
        if !overflowed && count + k <= maxEnc {
            (base + count).copyMemory(from: p, byteCount: k)
            count += k
            return
        }
        overflowed = true
        if k >= maxEnc {
            base.copyMemory(from: p + (k - maxEnc), byteCount: maxEnc)
            count = maxEnc
            return
        }
        if count + k > Self.encCap {
            let keep = min(count, maxEnc)
            base.copyMemory(from: base + (count - keep), byteCount: keep)
            count = keep
        }
        (base + count).copyMemory(from: p, byteCount: k)
        count += k
    }

    /// One delimited region `enc[0..<len)` is complete.
    private mutating func finish(_ enc: UnsafeRawPointer, _ len: Int, _ base: UnsafeMutableRawPointer,
                                 oversize: Bool, _ handle: (Result<FrameView, WireError>) -> Void) {
        let dec = base + Self.decOffset
        if oversize {
            counters.oversize += 1
            handle(.failure(.oversize))
            if recoversFrames {
                let w = min(len, WireProtocol.maxEncoded)
                recover(enc + (len - w), w, minStart: 0, base, handle)
            }
            return
        }
        do {
            let view = try _decodeFrame(enc, len, dec, WireProtocol.maxDecoded, accepting, zeroFree: true)
            counters.frames += 1
            handle(.success(view))
        } catch {
            counters.count(error)
            if case .badVersion = error {
                if let h = ForeignHello(decoded: UnsafeRawBufferPointer(start: dec, count: _decodedLength(enc, len))) {
                    lastForeignHello = h
                }
            }
            handle(.failure(error))
            switch error {
            case .badCRC, .badCOBS, .truncated, .oversize:
                if recoversFrames { recover(enc, len, minStart: 1, base, handle) }
            default: break
            }
        }
    }

    /// Looks for the longest suffix `enc[s..<len)`, `s >= minStart`, that is a valid frame.
    private mutating func recover(_ enc: UnsafeRawPointer, _ len: Int, minStart: Int, _ base: UnsafeMutableRawPointer,
                                  _ handle: (Result<FrameView, WireError>) -> Void) {
        let minEncoded = WireProtocol.minDecoded + 1
        guard len - minStart >= minEncoded, len <= WireProtocol.maxEncoded else { return }
        // reach[k] != 0: COBS groups starting at k end exactly at len.
        let reach = base + Self.reachOffset
        reach.storeBytes(of: 1, toByteOffset: len, as: UInt8.self)
        var k = len - 1
        while k >= minStart {
            let c = Int(enc.load(fromByteOffset: k, as: UInt8.self))
            let r: UInt8 = k + c <= len ? reach.load(fromByteOffset: k + c, as: UInt8.self) : 0
            reach.storeBytes(of: r, toByteOffset: k, as: UInt8.self)
            k -= 1
        }
        let dec = base + Self.decOffset
        var s = minStart
        while s <= len - minEncoded {
            defer { s += 1 }
            guard reach.load(fromByteOffset: s, as: UInt8.self) != 0,
                  enc.load(fromByteOffset: s, as: UInt8.self) >= 2 else { continue }
            let vk = enc.load(fromByteOffset: s + 1, as: UInt8.self)
            guard vk >> 4 == WireProtocol.version, accepting.contains(rawKind: vk & 0x0F) else { continue }
            if let view = try? _decodeFrame(enc + s, len - s, dec, WireProtocol.maxDecoded, accepting, zeroFree: true) {
                counters.frames += 1
                handle(.success(view))
                return
            }
        }
    }
}

/// Decoded length of COBS data known to be valid (used after a decode that failed later).
private func _decodedLength(_ enc: UnsafeRawPointer, _ len: Int) -> Int {
    var i = 0
    var o = 0
    while i < len {
        let c = Int(enc.load(fromByteOffset: i, as: UInt8.self))
        i += c
        o += c - 1
        if c != 0xFF && i < len { o += 1 }
    }
    return o
}
