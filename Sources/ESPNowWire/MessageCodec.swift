/// A field value borrowed from a body (no allocation): integers widened, byte fields as
/// pointers into the body.
public enum RawFieldValue {
    /// `i8`, `i32`.
    case int(Int64)
    /// `u8` … `u64`, RECV `dst` and `rate`.
    case uint(UInt64)
    /// `mac`, `key`, `str` (without its length byte), `bytes`, RECV `dst_addr`.
    case bytes(UnsafeRawBufferPointer)
}

extension MessageLayout {
    private func bodyError(_ field: String, _ problem: BodyProblem) -> WireError {
        .badBody(BodyError(message: name, kind: kind, field: field, problem: problem))
    }

    /// Walks `body` along this layout, calling `visit` with each present field in wire order,
    /// without allocating. Throws `.badBody` (message, field, problem) at the first mismatch;
    /// fields before it have been visited by then. A response with `err != 0` yields only `err`
    /// and must be exactly 4 bytes; RECV's `dst_addr` is visited only when `dst == 3`.
    public func visitFields(of body: UnsafeRawBufferPointer,
                            _ visit: (_ field: FieldLayout, _ value: RawFieldValue) -> Void) throws(WireError) {
        let n = body.count
        guard let p = body.baseAddress else {
            // Empty body: fine only for a layout with no fields, or one that starts with bytes.
            for fl in fields {
                switch fl.type {
                case .bytes: visit(fl, .bytes(UnsafeRawBufferPointer(start: nil, count: 0)))
                default: throw bodyError(fl.name, .tooShort)
                }
            }
            return
        }
        var off = 0
        var dst: UInt8 = 0
        var last = ""
        for (index, fl) in fields.enumerated() {
            last = fl.name
            func need(_ k: Int) throws(WireError) { if off + k > n { throw bodyError(fl.name, .tooShort) } }
            switch fl.type {
            case .u8:
                try need(1)
                visit(fl, .uint(UInt64(p.load(fromByteOffset: off, as: UInt8.self)))); off += 1
            case .bool:
                try need(1)
                let b = p.load(fromByteOffset: off, as: UInt8.self)
                if b > 1 { throw bodyError(fl.name, .outOfRange) }
                visit(fl, .uint(UInt64(b))); off += 1
            case .i8:
                try need(1)
                visit(fl, .int(Int64(p.load(fromByteOffset: off, as: Int8.self)))); off += 1
            case .u16:
                try need(2)
                visit(fl, .uint(UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: off, as: UInt16.self))))); off += 2
            case .u32:
                try need(4)
                visit(fl, .uint(UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: off, as: UInt32.self))))); off += 4
            case .i32:
                try need(4)
                let v = Int32(littleEndian: p.loadUnaligned(fromByteOffset: off, as: Int32.self))
                visit(fl, .int(Int64(v))); off += 4
                if index == 0 && kind == .response && v != 0 {
                    // Outputs only when err == 0: the body is exactly the 4-byte err.
                    if off != n { throw bodyError(fl.name, .trailingBytes(n - off)) }
                    return
                }
            case .u64:
                try need(8)
                visit(fl, .uint(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: off, as: UInt64.self)))); off += 8
            case .mac:
                try need(6)
                visit(fl, .bytes(UnsafeRawBufferPointer(start: p + off, count: 6))); off += 6
            case .key:
                try need(16)
                visit(fl, .bytes(UnsafeRawBufferPointer(start: p + off, count: 16))); off += 16
            case .str(let max):
                try need(1)
                let len = Int(p.load(fromByteOffset: off, as: UInt8.self))
                if len > max { throw bodyError(fl.name, .tooLong(length: len, max: max)) }
                try need(1 + len)
                visit(fl, .bytes(UnsafeRawBufferPointer(start: p + off + 1, count: len))); off += 1 + len
            case .bytes(let max):
                let len = n - off
                if len > max { throw bodyError(fl.name, .tooLong(length: len, max: max)) }
                visit(fl, .bytes(UnsafeRawBufferPointer(start: p + off, count: len))); off = n
            case .dst2:
                try need(1)
                dst = p.load(fromByteOffset: off, as: UInt8.self) >> 6
                visit(fl, .uint(UInt64(dst)))
            case .rate6:
                try need(1)
                visit(fl, .uint(UInt64(p.load(fromByteOffset: off, as: UInt8.self) & 0x3F))); off += 1
            case .dstAddr:
                if dst == 3 {
                    try need(6)
                    visit(fl, .bytes(UnsafeRawBufferPointer(start: p + off, count: 6))); off += 6
                }
            }
        }
        if off != n { throw bodyError(last, .trailingBytes(n - off)) }
    }

    /// Checks that `body` matches this layout exactly (no allocation).
    public func validate(body: UnsafeRawBufferPointer) throws(WireError) {
        try visitFields(of: body) { _, _ in }
    }

    /// Decodes `body` into owned values keyed by the spec's field names (allocates).
    public func decodeFields(_ body: UnsafeRawBufferPointer) throws(WireError) -> [String: FieldValue] {
        var out: [String: FieldValue] = [:]
        try visitFields(of: body) { fl, raw in
            let v: FieldValue
            switch (fl.type, raw) {
            case (_, .int(let i)): v = .int(i)
            case (_, .uint(let u)): v = .uint(u)
            case (.mac, .bytes(let b)), (.dstAddr, .bytes(let b)): v = .mac(MACAddress(loadingFrom: b.baseAddress!))
            case (.str, .bytes(let b)):
                if let s = String(validating: b, as: UTF8.self) { v = .string(s) } else { v = .bytes(Array(b)) }
            case (_, .bytes(let b)): v = .bytes(Array(b))
            }
            out[fl.name] = v
        }
        return out
    }

    /// Decodes an array body (convenience).
    public func decodeFields(_ body: [UInt8]) throws(WireError) -> [String: FieldValue] {
        let r: Result<[String: FieldValue], WireError> = body.withUnsafeBytes { b in
            Result { () throws(WireError) in try decodeFields(b) }
        }
        return try r.get()
    }

    /// Encodes named values into a body along this layout. Every field must be given, except
    /// a response's outputs when `err != 0` (then they must be absent) and RECV's `dst_addr`
    /// (given exactly when `dst == 3`). Names not in the layout are refused.
    public func encodeBody(_ values: [String: FieldValue]) throws(WireError) -> [UInt8] {
        var out: [UInt8] = []
        try encodeBody(values, into: &out)
        return out
    }

    /// Like ``encodeBody(_:)``, appending to `out`.
    public func encodeBody(_ values: [String: FieldValue], into out: inout [UInt8]) throws(WireError) {
        for key in values.keys where !fields.contains(where: { $0.name == key }) {
            throw bodyError(key, .unexpected)
        }
        var dst: UInt64 = 0
        for (index, fl) in fields.enumerated() {
            if index == 1 && kind == .response, let err = values["err"]?.intValue, err != 0 {
                // err != 0: no outputs.
                for o in fields.dropFirst() where values[o.name] != nil { throw bodyError(o.name, .unexpected) }
                return
            }
            if fl.type == .dstAddr {
                if dst != 3 {
                    if values[fl.name] != nil { throw bodyError(fl.name, .unexpected) }
                    continue
                }
            }
            guard let v = values[fl.name] else { throw bodyError(fl.name, .missing) }
            func int(_ lo: Int64, _ hi: UInt64) throws(WireError) -> UInt64 {
                switch v {
                case .int(let i):
                    guard i >= lo, i < 0 || UInt64(i) <= hi else { throw bodyError(fl.name, .outOfRange) }
                    return UInt64(bitPattern: i)
                case .uint(let u):
                    guard u <= hi, lo <= 0 || u >= UInt64(lo) else { throw bodyError(fl.name, .outOfRange) }
                    return u
                default: throw bodyError(fl.name, .wrongType)
                }
            }
            func le(_ x: UInt64, _ size: Int) { for i in 0..<size { out.append(UInt8(truncatingIfNeeded: x >> (8 * UInt64(i)))) } }
            func raw(_ count: Int?) throws(WireError) -> [UInt8] {
                let b: [UInt8]
                switch v {
                case .mac(let m): b = m.bytes
                case .bytes(let x): b = x
                case .string(let s): b = Array(s.utf8)
                default: throw bodyError(fl.name, .wrongType)
                }
                if let c = count, b.count != c { throw bodyError(fl.name, .wrongType) }
                return b
            }
            switch fl.type {
            case .u8: le(try int(0, 0xFF), 1)
            case .bool: le(try int(0, 1), 1)
            case .i8: le(try int(-0x80, 0x7F), 1)
            case .u16: le(try int(0, 0xFFFF), 2)
            case .u32: le(try int(0, 0xFFFF_FFFF), 4)
            case .i32: le(try int(-0x8000_0000, 0x7FFF_FFFF), 4)
            case .u64: le(try int(0, UInt64.max), 8)
            case .mac, .dstAddr:
                if case .string(let s) = v {
                    guard let m = MACAddress(s) else { throw bodyError(fl.name, .wrongType) }
                    out += m.bytes
                } else {
                    out += try raw(6)
                }
            case .key: out += try raw(16)
            case .str(let max):
                let b = try raw(nil)
                if b.count > max { throw bodyError(fl.name, .tooLong(length: b.count, max: max)) }
                out.append(UInt8(b.count))
                out += b
            case .bytes(let max):
                let b = try raw(nil)
                if b.count > max { throw bodyError(fl.name, .tooLong(length: b.count, max: max)) }
                out += b
            case .dst2:
                dst = try int(0, 3)
            case .rate6:
                out.append(UInt8(dst << 6 | (try int(0, 0x3F))))
            }
        }
    }
}
