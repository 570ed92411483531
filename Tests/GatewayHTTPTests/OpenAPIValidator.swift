import Foundation
import Testing

/// A JSON value exactly as written (an integer stays apart from a number with a fraction,
/// `true` from `1`), for checking responses against the OpenAPI document.
enum JSON: Equatable, CustomStringConvertible {
    case null, bool(Bool), int(Int64), number(Double), string(String), array([JSON]), object([String: JSON])

    subscript(_ k: String) -> JSON? { if case .object(let o) = self { o[k] } else { nil } }
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var int: Int64? { if case .int(let i) = self { i } else { nil } }
    var array: [JSON]? { if case .array(let a) = self { a } else { nil } }
    var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    var object: [String: JSON]? { if case .object(let o) = self { o } else { nil } }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .number(let d): "\(d)"
        case .string(let s): "\"\(s)\""
        case .array(let a): "[\(a.map(\.description).joined(separator: ","))]"
        case .object(let o): "{\(o.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ","))}"
        }
    }

    struct ParseError: Error, CustomStringConvertible { var description: String }

    static func parse(_ text: String) throws -> JSON {
        var p = Parser(bytes: Array(text.utf8))
        let v = try p.value()
        p.space()
        guard p.i == p.bytes.count else { throw ParseError(description: "trailing bytes at \(p.i)") }
        return v
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0

        mutating func space() { while i < bytes.count, [9, 10, 13, 32].contains(bytes[i]) { i += 1 } }
        func fail(_ m: String) -> ParseError { ParseError(description: "\(m) at byte \(i)") }

        mutating func literal(_ s: String, _ v: JSON) throws -> JSON {
            let l = Array(s.utf8)
            guard i + l.count <= bytes.count, Array(bytes[i..<i + l.count]) == l else { throw fail("bad literal") }
            i += l.count
            return v
        }

        mutating func value() throws -> JSON {
            space()
            guard i < bytes.count else { throw fail("unexpected end") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var o: [String: JSON] = [:]
                space()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                while true {
                    space()
                    guard case .string(let k) = try value() else { throw fail("object key") }
                    guard o[k] == nil else { throw fail("duplicate key \(k)") }
                    space()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected :") }
                    i += 1
                    o[k] = try value()
                    space()
                    guard i < bytes.count else { throw fail("unexpected end") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected , or }") }
                    i += 1
                    return .object(o)
                }
            case UInt8(ascii: "["):
                i += 1
                var a: [JSON] = []
                space()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    a.append(try value())
                    space()
                    guard i < bytes.count else { throw fail("unexpected end") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard bytes[i] == UInt8(ascii: "]") else { throw fail("expected , or ]") }
                    i += 1
                    return .array(a)
                }
            case UInt8(ascii: "\""):
                i += 1
                var out = [UInt8]()
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\") {
                        i += 1
                        guard i < bytes.count else { throw fail("bad escape") }
                        switch bytes[i] {
                        case UInt8(ascii: "n"): out.append(10)
                        case UInt8(ascii: "t"): out.append(9)
                        case UInt8(ascii: "r"): out.append(13)
                        case UInt8(ascii: "b"): out.append(8)
                        case UInt8(ascii: "f"): out.append(12)
                        case UInt8(ascii: "u"):
                            guard i + 4 < bytes.count, let v = UInt32(String(decoding: bytes[i + 1...i + 4], as: UTF8.self), radix: 16),
                                  let u = Unicode.Scalar(v) else { throw fail("bad \\u") }
                            out += Array(String(u).utf8)
                            i += 4
                        default: out.append(bytes[i])
                        }
                        i += 1
                    } else {
                        guard bytes[i] >= 0x20 else { throw fail("control character in string") }
                        out.append(bytes[i])
                        i += 1
                    }
                }
                guard i < bytes.count else { throw fail("unterminated string") }
                i += 1
                return .string(String(decoding: out, as: UTF8.self))
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default:
                let start = i
                var fraction = false
                while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) {
                    if ".eE".utf8.contains(bytes[i]) { fraction = true }
                    i += 1
                }
                let s = String(decoding: bytes[start..<i], as: UTF8.self)
                if !fraction, let v = Int64(s) { return .int(v) }
                guard let d = Double(s) else { throw fail("bad number \(s)") }
                return .number(d)
            }
        }
    }
}

/// The OpenAPI document's rules, applied to real responses: the operation must exist, the
/// status must be documented, and a JSON body must match its schema (the subset of JSON
/// Schema the document uses; any other keyword is a failure, never silently skipped).
final class OpenAPIDocument: @unchecked Sendable {
    let doc: JSON
    private let lock = NSLock()
    private var seen = Set<String>()

    init(_ text: String) throws {
        doc = try JSON.parse(text)
    }

    /// `METHOD TEMPLATE` of every operation in the document.
    var operations: Set<String> {
        var out = Set<String>()
        for (path, item) in doc["paths"]?.object ?? [:] {
            for m in ["get", "post", "patch", "put", "delete"] where item[m] != nil { out.insert("\(m.uppercased()) \(path)") }
        }
        return out
    }

    var covered: Set<String> { lock.withLock { seen } }

    func template(for path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for t in (doc["paths"]?.object ?? [:]).keys {
            let tp = t.split(separator: "/", omittingEmptySubsequences: false)
            guard tp.count == parts.count else { continue }
            if zip(tp, parts).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) { return t }
        }
        return nil
    }

    /// Problems with one response (empty when it conforms).
    func check(method: String, path: String, status: Int, contentType: String?, body: String) -> [String] {
        guard let t = template(for: path), let op = doc["paths"]?[t]?[method.lowercased()] else {
            return ["\(method) \(path) is not in the document"]
        }
        lock.withLock { _ = seen.insert("\(method) \(t)") }
        guard var resp = op["responses"]?["\(status)"] else { return ["\(method) \(t): status \(status) is not documented"] }
        if let ref = resp["$ref"]?.string { resp = resolve(ref) ?? .null }
        guard let content = resp["content"]?.object else { return [] }
        let mime = (contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let media = content[mime] else {
            return ["\(method) \(t) \(status): content type \(mime) is not documented (\(content.keys.sorted()))"]
        }
        guard mime == "application/json", let schema = media["schema"] else { return [] }
        do {
            return validate(try JSON.parse(body), schema, "\(method) \(t) \(status) body")
        } catch {
            return ["\(method) \(t) \(status): body is not JSON: \(error)"]
        }
    }

    func resolve(_ ref: String) -> JSON? {
        guard ref.hasPrefix("#/") else { return nil }
        var v: JSON? = doc
        for p in ref.dropFirst(2).split(separator: "/") { v = v?[String(p)] }
        return v
    }

    func schema(_ name: String) -> JSON { resolve("#/components/schemas/\(name)") ?? .null }

    static let ignored: Set<String> = ["description", "examples", "default", "writeOnly", "readOnly", "format", "title"]

    func validate(_ v: JSON, _ s: JSON, _ at: String) -> [String] {
        guard let rules = s.object else { return ["\(at): schema is not an object"] }
        if let ref = rules["$ref"]?.string {
            guard let target = resolve(ref) else { return ["\(at): unresolvable \(ref)"] }
            return validate(v, target, at)
        }
        var errors: [String] = []
        for (k, rule) in rules where !Self.ignored.contains(k) {
            switch k {
            case "type":
                let types = rule.array?.compactMap(\.string) ?? [rule.string ?? ""]
                if !types.contains(where: { Self.matches(v, $0) }) { errors.append("\(at): \(v) is not \(types.joined(separator: "|"))") }
            case "properties":
                guard let o = v.object else { continue }
                for (name, sub) in rule.object ?? [:] {
                    if let x = o[name] { errors += validate(x, sub, "\(at).\(name)") }
                }
            case "required":
                guard let o = v.object else { continue }
                for r in rule.array?.compactMap(\.string) ?? [] where o[r] == nil { errors.append("\(at): missing required \(r)") }
            case "additionalProperties":
                guard let o = v.object else { continue }
                let known = Set(rules["properties"]?.object?.keys ?? [:].keys)
                for (name, x) in o where !known.contains(name) {
                    if rule == .bool(false) { errors.append("\(at): unexpected property \(name)") } else if rule.object != nil {
                        errors += validate(x, rule, "\(at).\(name)")
                    }
                }
            case "items":
                for (i, x) in (v.array ?? []).enumerated() { errors += validate(x, rule, "\(at)[\(i)]") }
            case "enum":
                if !(rule.array ?? []).contains(v) { errors.append("\(at): \(v) is not one of \(rule)") }
            case "const":
                if v != rule { errors.append("\(at): \(v) is not \(rule)") }
            case "pattern":
                if let str = v.string, let p = rule.string, str.range(of: p, options: .regularExpression) == nil {
                    errors.append("\(at): \"\(str)\" does not match \(p)")
                }
            case "minimum":
                if let n = Self.number(v), let m = Self.number(rule), n < m { errors.append("\(at): \(n) < \(m)") }
            case "maximum":
                if let n = Self.number(v), let m = Self.number(rule), n > m { errors.append("\(at): \(n) > \(m)") }
            case "minLength":
                if let str = v.string, let m = rule.int, str.count < m { errors.append("\(at): shorter than \(m)") }
            case "maxLength":
                if let str = v.string, let m = rule.int, str.count > m { errors.append("\(at): longer than \(m)") }
            case "minProperties":
                if let o = v.object, let m = rule.int, o.count < m { errors.append("\(at): fewer than \(m) properties") }
            default:
                errors.append("\(at): the validator does not implement \"\(k)\"")
            }
        }
        return errors
    }

    static func number(_ v: JSON) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }

    static func matches(_ v: JSON, _ type: String) -> Bool {
        switch (type, v) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("integer", .int): true
        case ("number", .int), ("number", .number): true
        default: false
        }
    }
}

/// The validator itself must catch what it is for: a missing field, a wrong type, an
/// undocumented field, a bad pattern.
@Suite("OpenAPI validator")
struct OpenAPIValidatorTests {
    @Test func rejectsWhatTheSchemaForbids() throws {
        let text = try String(contentsOfFile: GatewayHarness.sourceOpenAPIPath, encoding: .utf8)
        let api = try OpenAPIDocument(text)
        let reading = api.schema("Reading")
        let good = try JSON.parse(#"{"node":"02:00:00:00:00:a1","time":"2026-11-30T12:00:00.000001Z","timeUs":1,"field":"t","value":21.5,"unit":"°C"}"#)
        #expect(api.validate(good, reading, "r") == [])
        let missing = try JSON.parse(#"{"node":"02:00:00:00:00:a1","time":"2026-11-30T12:00:00.000001Z","field":"t","value":21.5}"#)
        #expect(api.validate(missing, reading, "r") == ["r: missing required timeUs"])
        let mistyped = try JSON.parse(#"{"node":"02:00:00:00:00:a1","time":"2026-11-30T12:00:00.000001Z","timeUs":1.5,"field":"t","value":true}"#)
        #expect(api.validate(mistyped, reading, "r").count == 2)
        let extra = try JSON.parse(#"{"node":"02:00:00:00:00:A1","time":"2026-11-30T12:00:00Z","timeUs":1,"field":"t","value":1,"lmk":"x"}"#)
        let e = api.validate(extra, reading, "r")
        #expect(e.contains("r: unexpected property lmk"))
        #expect(e.contains { $0.contains("02:00:00:00:00:A1") })
        #expect(e.contains { $0.contains("2026-11-30T12:00:00Z") })
        #expect(api.check(method: "GET", path: "/api/nope", status: 200, contentType: "application/json", body: "{}")
            == ["GET /api/nope is not in the document"])
        #expect(api.check(method: "GET", path: "/api/status", status: 418, contentType: "application/json", body: "{}")
            == ["GET /api/status: status 418 is not documented"])
    }
}
