import ESPNowGateway
import ESPNowWire
import Foundation

/// A JSON value written in the order built (stable, readable responses) without going
/// through Foundation's encoder.
indirect enum JSONOut: Sendable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSONOut])
    case object([(String, JSONOut)])

    static func int(_ i: Int) -> JSONOut { .int(Int64(i)) }

    var text: String {
        var s = ""
        write(to: &s)
        return s
    }

    func write(to s: inout String) {
        switch self {
        case .string(let v): Self.quote(v, into: &s)
        case .int(let v): s += String(v)
        case .double(let v):
            // JSON has no NaN or infinity.
            if !v.isFinite { s += "null" } else if v == v.rounded(), abs(v) < 1e15 { s += String(Int64(v)) } else { s += "\(v)" }
        case .bool(let v): s += v ? "true" : "false"
        case .null: s += "null"
        case .array(let a):
            s += "["
            for (i, e) in a.enumerated() {
                if i > 0 { s += "," }
                e.write(to: &s)
            }
            s += "]"
        case .object(let o):
            s += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { s += "," }
                Self.quote(k, into: &s)
                s += ":"
                v.write(to: &s)
            }
            s += "}"
        }
    }

    static func quote(_ v: String, into s: inout String) {
        s += "\""
        for u in v.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            case _ where u.value < 0x20 || u.value == 0x2028 || u.value == 0x2029:
                let h = String(u.value, radix: 16)
                s += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: s.unicodeScalars.append(u)
            }
        }
        s += "\""
    }
}

/// Times as the API writes and reads them: ISO-8601 UTC with microseconds, plus µs integers.
enum APITime {
    static func iso(_ us: Int64) -> String {
        var secs = time_t(us >= 0 ? us / 1_000_000 : (us - 999_999) / 1_000_000)
        let micros = Int(us - Int64(secs) * 1_000_000)
        var tm = tm()
        gmtime_r(&secs, &tm)
        func pad(_ v: Int, _ n: Int) -> String {
            let d = String(v)
            return d.count >= n ? d : String(repeating: "0", count: n - d.count) + d
        }
        return "\(pad(Int(tm.tm_year) + 1900, 4))-\(pad(Int(tm.tm_mon) + 1, 2))-\(pad(Int(tm.tm_mday), 2))T"
            + "\(pad(Int(tm.tm_hour), 2)):\(pad(Int(tm.tm_min), 2)):\(pad(Int(tm.tm_sec), 2)).\(pad(micros, 6))Z"
    }

    /// Microseconds since the epoch as an integer, or an ISO-8601 time
    /// (`2026-11-30T12:00:00Z`, with optional fraction and `±HH:MM` offset, or a date alone).
    static func parse(_ s: String) -> Int64? {
        if let v = Int64(s) { return v }
        let c = Array(s.utf8)
        var i = 0
        func num(_ n: Int) -> Int? {
            guard i + n <= c.count else { return nil }
            var v = 0
            for k in 0..<n {
                let b = c[i + k]
                guard b >= 48, b <= 57 else { return nil }
                v = v * 10 + Int(b - 48)
            }
            i += n
            return v
        }
        func expect(_ ch: UInt8) -> Bool {
            guard i < c.count, c[i] == ch else { return false }
            i += 1
            return true
        }
        guard let y = num(4), expect(45), let mo = num(2), expect(45), let d = num(2), (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var h = 0, mi = 0, sec = 0, micros = 0, offset = 0
        if i < c.count {
            guard expect(84) || expect(116) || expect(32), let hh = num(2), expect(58), let mm = num(2) else { return nil }
            h = hh
            mi = mm
            if expect(58) {
                guard let ss = num(2) else { return nil }
                sec = ss
                if expect(46) || expect(44) {
                    var digits = 0
                    while i < c.count, c[i] >= 48, c[i] <= 57 {
                        if digits < 6 { micros = micros * 10 + Int(c[i] - 48) }
                        digits += 1
                        i += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in digits..<max(digits, 6) { micros *= 10 }
                }
            }
            guard h < 24, mi < 60, sec < 61 else { return nil }
            if expect(90) || expect(122) {
            } else if i < c.count, c[i] == 43 || c[i] == 45 {
                let sign = c[i] == 45 ? -1 : 1
                i += 1
                guard let oh = num(2), let om = (expect(58) ? num(2) : num(2)), oh < 24, om < 60 else { return nil }
                offset = sign * (oh * 3600 + om * 60)
            } else {
                return nil  // a time without a zone is ambiguous
            }
            guard i == c.count else { return nil }
        }
        var t = tm()
        t.tm_year = Int32(y - 1900)
        t.tm_mon = Int32(mo - 1)
        t.tm_mday = Int32(d)
        t.tm_hour = Int32(h)
        t.tm_min = Int32(mi)
        t.tm_sec = Int32(sec)
        let secs = Int64(timegm(&t)) - Int64(offset)
        return secs * 1_000_000 + Int64(micros)
    }
}

enum Hex {
    static func encode(_ b: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(b.count * 2)
        for x in b {
            out.append(digits[Int(x >> 4)])
            out.append(digits[Int(x & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hex digits, optionally separated by spaces or colons; nil when anything else is there.
    static func decode(_ s: String) -> [UInt8]? {
        let h = Array(s.utf8.filter { $0 != 32 && $0 != 58 })
        guard h.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(h.count / 2)
        var i = 0
        while i < h.count {
            guard let a = v(h[i]), let b = v(h[i + 1]) else { return nil }
            out.append(a << 4 | b)
            i += 2
        }
        return out
    }
}

/// The API's objects (docs/GATEWAY.md, Resources/openapi.json).
enum Render {
    static func time(_ us: Int64, _ key: String = "time") -> [(String, JSONOut)] {
        [(key, .string(APITime.iso(us))), (key + "Us", .int(us))]
    }

    static func value(_ r: Reading) -> JSONOut { r.value.map { .double($0) } ?? .string(r.text ?? "") }

    static func reading(_ r: ReadingRow) -> JSONOut {
        var o: [(String, JSONOut)] = [("node", .string(r.node.description))]
        o += time(r.timeUs)
        o += [("field", .string(r.reading.field)), ("value", value(r.reading))]
        if let u = r.reading.unit { o.append(("unit", .string(u))) }
        return .object(o)
    }

    static func packet(_ p: StoredPacket) -> JSONOut {
        var o: [(String, JSONOut)] = [("id", .int(p.id)), ("node", .string(p.node.description))]
        o += time(p.hostTimeUs)
        o += [("rssi", .int(p.rssi)), ("channel", .int(p.channel)), ("dongle", .string(p.dongle)), ("gateway", .string(p.gateway)),
              ("decoder", .string(p.decoder)), ("payloadHex", .string(Hex.encode(p.payload)))]
        if let s = p.seq { o.append(("seq", .int(s))) }
        if let e = p.error { o.append(("decodeError", .string(e))) }
        return .object(o)
    }

    static func downlink(_ d: Downlink) -> JSONOut {
        var o: [(String, JSONOut)] = [("id", .int(d.id)), ("node", .string(d.node.description)), ("state", .string(d.state.rawValue)),
                                      ("attempts", .int(d.attempts)), ("maxAttempts", .int(d.maxAttempts))]
        o += time(d.createdUs, "created")
        o += time(d.updatedUs, "updated")
        o += [("size", .int(d.payload.count)), ("payloadHex", .string(Hex.encode(d.payload)))]
        if let e = d.lastError { o.append(("lastError", .string(e))) }
        return .object(o)
    }

    /// A node; its LMK is only ever `hasLmk`.
    static func node(_ n: NodeRecord, hasLMK: Bool, drops: Int64, decoder: String, last: [ReadingRow]) -> JSONOut {
        var o: [(String, JSONOut)] = [("mac", .string(n.mac.description))]
        if let name = n.name { o.append(("name", .string(name))) }
        o += [("decoder", .string(decoder)), ("hasLmk", .bool(hasLMK))]
        if let t = n.firstSeenUs { o += time(t, "firstSeen") }
        if let t = n.lastSeenUs { o += time(t, "lastSeen") }
        o += [("packets", .int(n.packets)), ("drops", .int(drops)), ("duplicates", .int(n.duplicates)), ("decodeErrors", .int(n.decodeErrors))]
        if let r = n.lastRSSI { o.append(("rssi", .int(r))) }
        if let c = n.lastChannel { o.append(("channel", .int(c))) }
        if let g = n.lastGateway { o.append(("gateway", .string(g))) }
        o.append(("lastValues", .array(last.map { r in
            var v: [(String, JSONOut)] = [("field", .string(r.reading.field)), ("value", value(r.reading))]
            if let u = r.reading.unit { v.append(("unit", .string(u))) }
            return .object(v + time(r.timeUs))
        })))
        return .object(o)
    }
}
