import Foundation
import Testing
import ESPNowWire
import ProtocolVectors

enum Fixtures {
    static var url: URL { ProtocolVectors.url }
    static var file: VectorFile { ProtocolVectors.file }
    static var vectors: [Vector] { file.vectors }
    static var rejects: [Reject] { file.rejects }
}

enum VectorError: Error, CustomStringConvertible {
    case bad(String)
    var description: String { switch self { case .bad(let s): s } }
}

extension Vector {
    var kind: FrameKind { FrameKind(name: fields.kind)! }

    /// The layout the vector names.
    func layout() throws -> MessageLayout {
        guard let l = MessageLayout.find(kind: kind, name: fields.code) else {
            throw VectorError.bad("\(name): no \(fields.kind) layout named \(fields.code)")
        }
        return l
    }

    /// The vector's fields as the codec's FieldValues (typed by the layout).
    func expectedFields() throws -> [String: FieldValue] {
        let l = try layout()
        var out: [String: FieldValue] = [:]
        for (key, v) in fields.body {
            guard let f = l.field(named: key) else { throw VectorError.bad("\(name): field \(key) not in layout \(l)") }
            out[key] = try fieldValue(v, f)
        }
        return out
    }

    func expectedMessage() throws -> Message {
        let l = try layout()
        return Message(kind: kind, id: UInt16(fields.id ?? 0), code: l.code, fields: try expectedFields())
    }
}

func fieldValue(_ v: JSONScalar, _ f: FieldLayout) throws -> FieldValue {
    switch (f.type, v) {
    case (.i8, .int(let i)), (.i32, .int(let i)): return .int(i)
    case (.u8, .int(let i)), (.bool, .int(let i)), (.u16, .int(let i)), (.u32, .int(let i)), (.u64, .int(let i)),
         (.dst2, .int(let i)), (.rate6, .int(let i)):
        guard i >= 0 else { throw VectorError.bad("negative value for \(f.name)") }
        return .uint(UInt64(i))
    case (.u64, .uint(let u)): return .uint(u)
    case (.mac, .string(let s)), (.dstAddr, .string(let s)):
        guard s == s.lowercased(), let m = MACAddress(s) else { throw VectorError.bad("bad mac \(s) for \(f.name)") }
        return .mac(m)
    case (.key, .string(let s)), (.bytes, .string(let s)):
        guard s == s.lowercased(), let b = Hex.decode(s) else { throw VectorError.bad("bad hex for \(f.name)") }
        return .bytes(b)
    case (.str, .string(let s)): return .string(s)
    default: throw VectorError.bad("value \(v) does not fit field \(f)")
    }
}
