import Foundation

/// Which decoder a node uses (`raw`, `text`, `json`, `cayenne`, `fdrs`, `layout:NAME`, or
/// `auto`: the unambiguous formats only, see ``PayloadDecoder/decode(_:as:)``).
public enum DecoderKind: Sendable, Hashable, CustomStringConvertible {
    case auto, raw, text, json, cayenne, fdrs
    case layout(String)

    public init?(_ s: String) {
        switch s {
        case "auto": self = .auto
        case "raw": self = .raw
        case "text": self = .text
        case "json": self = .json
        case "cayenne", "lpp": self = .cayenne
        case "fdrs": self = .fdrs
        default:
            guard s.hasPrefix("layout:"), s.count > 7 else { return nil }
            self = .layout(String(s.dropFirst(7)))
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .raw: "raw"
        case .text: "text"
        case .json: "json"
        case .cayenne: "cayenne"
        case .fdrs: "fdrs"
        case .layout(let n): "layout:\(n)"
        }
    }
}

/// Turns payloads into readings. Never throws and never traps on any input: a payload it
/// cannot read becomes a ``Decoded`` with `error` set (the packet is still stored raw).
public struct PayloadDecoder: Sendable {
    /// Declared layouts by name, plus the built-in `espnow-sim`.
    public private(set) var layouts: [String: BinaryLayout]

    public init(layouts: [BinaryLayout] = []) {
        var all = [BinaryLayout.simulatorSensor.name: BinaryLayout.simulatorSensor]
        for l in layouts { all[l.name] = l }
        self.layouts = all
    }

    public func decode(_ payload: [UInt8], as kind: DecoderKind) -> Decoded {
        switch kind {
        case .raw: return Decoded(decoder: "raw")
        case .text: return TextDecoder.decode(payload)
        case .json: return JSONPayload.decode(payload)
        case .cayenne: return CayenneLPP.decode(payload)
        case .fdrs: return FDRS.decode(payload)
        case .layout(let name):
            guard let l = layouts[name] else { return .failure("layout:\(name)", "no layout named \(name) in the configuration") }
            return l.decode(payload)
        case .auto: return autoDecode(payload)
        }
    }

    /// Only formats that cannot be mistaken for another: the simulator's sensor layout
    /// (length and markers), a JSON object, `key=value` text. Cayenne LPP, FDRS and other
    /// binary payloads look like any bytes, so they need the node's decoder set; until then
    /// they are stored raw (no readings, no error).
    func autoDecode(_ payload: [UInt8]) -> Decoded {
        if BinaryLayout.simulatorSensor.matches(payload) { return BinaryLayout.simulatorSensor.decode(payload) }
        if payload.first == UInt8(ascii: "{") {
            let d = JSONPayload.decode(payload)
            if d.error == nil { return d }
        }
        if TextDecoder.looksLikeText(payload) {
            let d = TextDecoder.decode(payload)
            if d.error == nil, !d.readings.isEmpty { return d }
        }
        return Decoded(decoder: "raw")
    }
}

/// UTF-8 `key=value` pairs separated by spaces, commas, semicolons, `&` or new lines:
/// `temp=21.5 hum=40`. A number (optionally followed by a unit: `21.5C`, `21.5 °C` is not
/// supported since the space separates pairs) becomes a value; anything else is text.
/// `seq=N` is the sequence number.
enum TextDecoder {
    static func looksLikeText(_ p: [UInt8]) -> Bool {
        guard !p.isEmpty, p.contains(UInt8(ascii: "=")) else { return false }
        return p.allSatisfy { $0 >= 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 >= 0x80 } && String(validating: p, as: UTF8.self) != nil
    }

    static func decode(_ p: [UInt8]) -> Decoded {
        guard var s = String(validating: p, as: UTF8.self) else { return .failure("text", "not valid UTF-8") }
        while s.last == "\0" { s.removeLast() }
        var out = Decoded(decoder: "text")
        let pairs = s.split(whereSeparator: { " ,;&\n\r\t".contains($0) })
        guard !pairs.isEmpty else { return .failure("text", "no key=value pairs") }
        for pair in pairs {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                return .failure("text", "\"\(pair.prefix(40))\" is not key=value")
            }
            let key = String(pair[..<eq])
            let raw = String(pair[pair.index(after: eq)...])
            if key == "seq", let n = UInt64(raw) {
                out.seq = n
                continue
            }
            let (number, unit) = splitNumber(raw)
            if let number {
                out.readings.append(Reading(key, number, unit: unit))
            } else {
                out.readings.append(Reading(key, text: raw))
            }
        }
        return out
    }

    /// `21.5C` → (21.5, "C"); `abc` → (nil, nil).
    static func splitNumber(_ s: String) -> (Double?, String?) {
        if let d = Double(s), d.isFinite { return (d, nil) }
        let numberPart = s.prefix { $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }
        guard !numberPart.isEmpty, numberPart.count < s.count, let d = Double(numberPart), d.isFinite else { return (nil, nil) }
        let unit = s.dropFirst(numberPart.count)
        guard unit.first?.isLetter == true || unit.first == "%" || unit.first == "°" else { return (nil, nil) }
        return (d, String(unit))
    }
}

/// A JSON object: numbers and booleans become values, strings text, nested objects are
/// flattened with `.` (`{"env":{"t":21}}` → `env.t`), arrays with their index (`a.0`).
/// `seq` (a non-negative integer) is the sequence number.
enum JSONPayload {
    indirect enum Value: Decodable {
        case bool(Bool), number(Double), string(String), object([String: Value]), array([Value]), null

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let o = try? c.decode([String: Value].self) { self = .object(o) }
            else { self = .array(try c.decode([Value].self)) }
        }
    }

    static func decode(_ p: [UInt8]) -> Decoded {
        let v: Value
        do {
            v = try JSONDecoder().decode(Value.self, from: Data(p))
        } catch {
            return .failure("json", "not JSON (\(String("\(error)".prefix(100))))")
        }
        guard case .object(let dict) = v else { return .failure("json", "JSON but not an object") }
        var out = Decoded(decoder: "json")
        if case .number(let n)? = dict["seq"], n >= 0, n == n.rounded(), n < 1.8e19 {
            out.seq = UInt64(n)
        }
        flatten(v, prefix: "", into: &out.readings, skipSeq: out.seq != nil, depth: 0)
        return out
    }

    private static func flatten(_ v: Value, prefix: String, into out: inout [Reading], skipSeq: Bool, depth: Int) {
        guard depth < 16, out.count < 256 else { return }
        switch v {
        case .object(let d):
            for k in d.keys.sorted() {
                if skipSeq, depth == 0, k == "seq" { continue }
                flatten(d[k]!, prefix: prefix.isEmpty ? k : "\(prefix).\(k)", into: &out, skipSeq: skipSeq, depth: depth + 1)
            }
        case .array(let a):
            for (i, e) in a.enumerated() { flatten(e, prefix: "\(prefix).\(i)", into: &out, skipSeq: skipSeq, depth: depth + 1) }
        case .number(let n): out.append(Reading(prefix, n))
        case .bool(let b): out.append(Reading(prefix, b ? 1 : 0))
        case .string(let s): out.append(Reading(prefix, text: s))
        case .null: break
        }
    }
}

/// The Farm Data Relay System's packed `DataReading` records: {float32 data, u16 id, u8 type},
/// 7 bytes each, little-endian. Fields are named `ID.TYPE` (`3.temperature`).
public enum FDRS {
    public static let typeNames: [UInt8: (String, String?)] = [
        0: ("status", nil), 1: ("temperature", "°C"), 2: ("temperature2", "°C"), 3: ("humidity", "%"),
        4: ("pressure", "hPa"), 5: ("light", "lx"), 6: ("soil", nil), 7: ("soil2", nil), 8: ("soil_resistance", nil),
        9: ("soil_resistance2", nil), 10: ("oxygen", nil), 11: ("co2", "ppm"), 12: ("wind_speed", nil),
        13: ("wind_heading", "°"), 14: ("rainfall", nil), 15: ("motion", nil), 16: ("voltage", "V"), 17: ("voltage2", "V"),
        18: ("current", "A"), 19: ("current2", "A"), 20: ("iterations", nil), 21: ("latitude", "°"), 22: ("longitude", "°"),
        23: ("altitude", "m"), 24: ("hdop", nil), 25: ("level", nil), 26: ("uv", nil), 27: ("pm1", "µg/m³"),
        28: ("pm2_5", "µg/m³"), 29: ("pm10", "µg/m³"), 30: ("power", "W"), 31: ("power2", "W"), 32: ("energy", "kWh"),
        33: ("energy2", "kWh"),
    ]

    public static func decode(_ p: [UInt8]) -> Decoded {
        guard !p.isEmpty, p.count % 7 == 0 else {
            return .failure("fdrs", "\(p.count) bytes is not a whole number of 7-byte DataReading records")
        }
        var out = Decoded(decoder: "fdrs")
        for r in stride(from: 0, to: p.count, by: 7) {
            let bits = UInt32(p[r]) | UInt32(p[r + 1]) << 8 | UInt32(p[r + 2]) << 16 | UInt32(p[r + 3]) << 24
            let id = UInt16(p[r + 4]) | UInt16(p[r + 5]) << 8
            let type = p[r + 6]
            let (name, unit) = typeNames[type] ?? ("type\(type)", nil)
            out.readings.append(Reading("\(id).\(name)", Double(Float(bitPattern: bits)), unit: unit))
        }
        return out
    }

    /// Encodes records (tests and simulated FDRS sensors).
    public static func encode(_ records: [(data: Float, id: UInt16, type: UInt8)]) -> [UInt8] {
        var out: [UInt8] = []
        for r in records {
            let b = r.data.bitPattern
            out += [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24),
                    UInt8(r.id & 0xFF), UInt8(r.id >> 8), r.type]
        }
        return out
    }
}
