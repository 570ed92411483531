import Foundation

/// A declared binary layout: `"<u8 kind=0x53, u32 seq, i16 temp/100 °C, u8 humidity %"`.
///
/// Grammar (docs/GATEWAY.md): an optional byte order first (`<` little, the default, or
/// `>` big), then comma-separated fields `TYPE NAME[=CONST][/DIV|*MUL][ UNIT]`. Types:
/// u8 i8 u16 i16 u24 i24 u32 i32 u64 i64 f32 f64, `bool`, and `skipN` (N bytes ignored,
/// no name). A field named `seq` is the sender's sequence number (stored with the packet,
/// used for de-duplication, not a reading). `=CONST` makes the field a marker the payload
/// must carry (not stored): a mismatch is a decoding error. The payload must be exactly as
/// long as the layout, unless the last field is followed by `, ...` (trailing bytes ignored).
public struct BinaryLayout: Sendable, Hashable {
    public enum FieldType: String, Sendable, Hashable, CaseIterable {
        case u8, i8, u16, i16, u24, i24, u32, i32, u64, i64, f32, f64, bool

        var size: Int {
            switch self {
            case .u8, .i8, .bool: 1
            case .u16, .i16: 2
            case .u24, .i24: 3
            case .u32, .i32, .f32: 4
            case .u64, .i64, .f64: 8
            }
        }
    }

    public struct Field: Sendable, Hashable {
        public var type: FieldType?
        /// Bytes for `skipN`.
        public var skip: Int
        public var name: String
        public var constant: Int64?
        public var scale: Double
        public var unit: String?
    }

    public var name: String
    public var bigEndian: Bool
    public var fields: [Field]
    public var allowsTrailing: Bool
    public var size: Int { fields.reduce(0) { $0 + ($1.type?.size ?? $1.skip) } }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public init(name: String, spec: String) throws(ParseError) {
        self.name = name
        var text = Substring(spec).drop { $0 == " " }
        bigEndian = false
        if text.first == "<" || text.first == ">" {
            bigEndian = text.first == ">"
            text = text.dropFirst()
        }
        var parts = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        allowsTrailing = parts.last == "..."
        if allowsTrailing { parts.removeLast() }
        guard !parts.isEmpty, !(parts.count == 1 && parts[0].isEmpty) else {
            throw ParseError(description: "layout \(name): no fields in \"\(spec)\"")
        }
        var fields: [Field] = []
        var names = Set<String>()
        for (i, p) in parts.enumerated() {
            let f = try Self.parseField(p, index: i, layout: name)
            if !f.name.isEmpty {
                guard names.insert(f.name).inserted else {
                    throw ParseError(description: "layout \(name): field \(f.name) appears twice")
                }
            }
            fields.append(f)
        }
        self.fields = fields
        guard size <= 1470 else { throw ParseError(description: "layout \(name): \(size) bytes, longer than an ESP-NOW packet (1470)") }
    }

    private static func parseField(_ text: String, index: Int, layout: String) throws(ParseError) -> Field {
        let words = text.split(separator: " ", maxSplits: 2).map(String.init)
        func fail(_ why: String) -> ParseError {
            ParseError(description: "layout \(layout), field \(index + 1) \"\(text)\": \(why)")
        }
        guard let first = words.first else { throw fail("empty field") }
        if first.hasPrefix("skip") {
            guard let n = Int(first.dropFirst(4)), (1...1470).contains(n), words.count == 1 else {
                throw fail("write skipN with N in 1...1470 and nothing after it")
            }
            return Field(type: nil, skip: n, name: "", constant: nil, scale: 1, unit: nil)
        }
        guard let type = FieldType(rawValue: first) else {
            throw fail("unknown type \(first) (one of \(FieldType.allCases.map(\.rawValue).joined(separator: " ")), skipN)")
        }
        guard words.count >= 2 else { throw fail("a name must follow the type") }
        var spec = Substring(words[1])
        var constant: Int64?
        var scale = 1.0
        if let eq = spec.firstIndex(of: "=") {
            let c = spec[spec.index(after: eq)...]
            let v: Int64? = c.hasPrefix("0x") ? Int64(c.dropFirst(2), radix: 16) : Int64(c)
            guard let v else { throw fail("=\(c) is not an integer") }
            guard type != .f32, type != .f64 else { throw fail("a float cannot be a marker") }
            constant = v
            spec = spec[..<eq]
        } else if let op = spec.firstIndex(where: { $0 == "/" || $0 == "*" }) {
            guard let v = Double(spec[spec.index(after: op)...]), v.isFinite, v != 0 else {
                throw fail("the scale after \(spec[op]) must be a non-zero number")
            }
            scale = spec[op] == "/" ? 1 / v : v
            spec = spec[..<op]
        }
        let name = String(spec)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" }) else {
            throw fail("the name may use letters, digits, _ . - only")
        }
        if name == "seq", type == .f32 || type == .f64 || type == .bool { throw fail("seq must be an integer") }
        let unit = words.count > 2 ? words[2].trimmingCharacters(in: .whitespaces) : nil
        return Field(type: type, skip: 0, name: name, constant: constant, scale: scale, unit: unit?.isEmpty == true ? nil : unit)
    }

    /// Whether `payload` has this layout's length and markers (used by auto-detection).
    public func matches(_ payload: [UInt8]) -> Bool {
        guard allowsTrailing ? payload.count >= size : payload.count == size else { return false }
        var at = 0
        for f in fields {
            guard let t = f.type else { at += f.skip; continue }
            if let c = f.constant, rawInteger(t, payload, at) != c { return false }
            at += t.size
        }
        return true
    }

    public func decode(_ payload: [UInt8]) -> Decoded {
        let label = "layout:\(name)"
        guard allowsTrailing ? payload.count >= size : payload.count == size else {
            return .failure(label, "\(payload.count) bytes, the layout needs \(allowsTrailing ? "at least " : "")\(size)")
        }
        var out = Decoded(decoder: label)
        var at = 0
        for f in fields {
            guard let t = f.type else { at += f.skip; continue }
            defer { at += t.size }
            if let c = f.constant {
                let v = rawInteger(t, payload, at)
                if v != c { return .failure(label, "field \(f.name) is \(v), expected \(c)") }
                continue
            }
            let value: Double
            switch t {
            case .f32: value = Double(Float(bitPattern: UInt32(truncatingIfNeeded: unsigned(payload, at, 4))))
            case .f64: value = Double(bitPattern: unsigned(payload, at, 8))
            default:
                if f.name == "seq" {
                    out.seq = UInt64(bitPattern: rawInteger(t, payload, at))
                    continue
                }
                value = Double(rawInteger(t, payload, at))
            }
            out.readings.append(Reading(f.name, value * f.scale, unit: f.unit))
        }
        return out
    }

    private func unsigned(_ p: [UInt8], _ at: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<n {
            let b = UInt64(p[at + (bigEndian ? i : n - 1 - i)])
            v = v << 8 | b
        }
        return v
    }

    private func rawInteger(_ t: FieldType, _ p: [UInt8], _ at: Int) -> Int64 {
        let u = unsigned(p, at, t.size)
        switch t {
        case .i8, .i16, .i24, .i32, .i64:
            let shift = UInt64(64 - 8 * t.size)
            return Int64(bitPattern: u << shift) >> Int64(shift)
        case .bool: return u == 0 ? 0 : 1
        default: return Int64(bitPattern: u)
        }
    }

    /// The simulator's sensor node (docs/SIMULATOR.md).
    public static let simulatorSensor = try! BinaryLayout(
        name: "espnow-sim",
        spec: "<u8 magic=0x53, u8 version=1, u32 seq, i16 temperature/100 °C, u8 humidity %, u8 node")
}
