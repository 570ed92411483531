/// An owned field value, as produced by ``MessageLayout/decodeFields(_:)`` and accepted by
/// ``MessageLayout/encodeBody(_:)``.
///
/// Decoding yields `.uint` for unsigned types (and RECV's `dst`/`rate`), `.int` for `i8`/`i32`,
/// `.mac` for `mac`, `.bytes` for `key` and `bytes`, `.string` for a `str` that is valid UTF-8
/// (`.bytes` otherwise). Encoding also accepts `.int`/`.uint` interchangeably when in range,
/// `.bytes` for a `str`/`mac`, and `.string` for a `bytes` field (its UTF-8).
public enum FieldValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int64)
    case uint(UInt64)
    case mac(MACAddress)
    case bytes([UInt8])
    case string(String)

    /// The value as a signed integer, if it is an integer that fits.
    public var intValue: Int64? {
        switch self {
        case .int(let v): v
        case .uint(let v): v <= UInt64(Int64.max) ? Int64(v) : nil
        default: nil
        }
    }

    /// The value as an unsigned integer, if it is a non-negative integer.
    public var uintValue: UInt64? {
        switch self {
        case .int(let v): v >= 0 ? UInt64(v) : nil
        case .uint(let v): v
        default: nil
        }
    }

    /// The bytes of a `.bytes`, `.string` (UTF-8) or `.mac` value.
    public var byteValue: [UInt8]? {
        switch self {
        case .bytes(let b): b
        case .string(let s): Array(s.utf8)
        case .mac(let m): m.bytes
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .int(let v): String(v)
        case .uint(let v): String(v)
        case .mac(let m): m.description
        case .bytes(let b): Hex.encode(b)
        case .string(let s): "\"" + s + "\""
        }
    }
}

/// Hex helpers (the vectors' and logs' form of byte strings).
public enum Hex {
    /// Lowercase hex of `bytes` without separators (the vectors' form of `key` / `bytes`).
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses hex (upper or lower case; spaces allowed between bytes); `nil` when malformed.
    public static func decode(_ hex: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(hex.utf8.count / 2)
        var hi: UInt8? = nil
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"):
                if hi != nil { return nil }
                continue
            default: return nil
            }
            if let h = hi {
                out.append(h << 4 | v)
                hi = nil
            } else {
                hi = v
            }
        }
        return hi == nil ? out : nil
    }
}
