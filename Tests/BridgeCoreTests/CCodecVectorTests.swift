// The firmware's C codec (bridge_core) against every shared protocol vector, in
// both directions: wire → fields must equal the vector's fields, and fields →
// wire must equal its bytes exactly. Every reject must fail with its reason.
import BridgeCore
import Foundation
import ProtocolVectors
import Testing

private typealias Scalar = JSONScalar
private var vectorFile: VectorFile { ProtocolVectors.file }

private func bytes(hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}

private func hex(_ p: UnsafePointer<UInt8>?, _ n: Int) -> String {
    guard let p else { return "" }
    return (0..<n).map { String(format: "%02x", p[$0]) }.joined()
}

private func macString(_ p: UnsafePointer<UInt8>) -> String {
    (0..<6).map { String(format: "%02x", p[$0]) }.joined(separator: ":")
}

private let kinds = ["request": UInt8(1), "response": 2, "event": 3]

/// The C layout table, by the names the vectors use.
private func layout(kind: String, code: String) -> UnsafePointer<br_msg_t>? {
    for i in 0..<br_msg_count() {
        let m = br_msg_at(i)!
        if m.pointee.kind == kinds[kind] && String(cString: m.pointee.name) == code { return m }
    }
    return nil
}

/// Decoded C values as the vectors spell them.
private func fieldsFromC(_ m: UnsafePointer<br_msg_t>, _ v: [br_value_t]) -> [String: Scalar] {
    var out: [String: Scalar] = [:]
    for i in 0..<Int(m.pointee.nfields) {
        let f = m.pointee.fields[i]
        let name = String(cString: f.name)
        let value = v[i]
        if m.pointee.kind == 2 && i > 0 && v[0].i != 0 { break }  // error response: err only
        switch Int32(f.type) {
        case Int32(BR_T_MAC.rawValue): out[name] = .string(macString(value.ptr))
        case Int32(BR_T_DST_ADDR.rawValue):
            if value.present != 0 { out[name] = .string(macString(value.ptr)) }
        case Int32(BR_T_KEY.rawValue), Int32(BR_T_BYTES.rawValue): out[name] = .string(hex(value.ptr, Int(value.len)))
        case Int32(BR_T_STR.rawValue):
            let buf = UnsafeBufferPointer(start: value.ptr, count: Int(value.len))
            out[name] = .string(String(decoding: buf, as: UTF8.self))
        default: out[name] = .int(value.i)
        }
    }
    return out
}

/// Builds C values from a vector's body; `keep` owns the bytes the values point to.
private func valuesForC(_ m: UnsafePointer<br_msg_t>, _ body: [String: Scalar], keep: inout [[UInt8]]) -> [br_value_t] {
    var v = [br_value_t](repeating: br_value_t(), count: Int(BR_MAX_FIELDS))
    var storage: [[UInt8]] = []
    for i in 0..<Int(m.pointee.nfields) {
        let f = m.pointee.fields[i]
        guard let value = body[String(cString: f.name)] else { continue }
        v[i].present = 1
        switch value {
        case .int(let n): v[i].i = n
        case .uint(let n): v[i].i = Int64(bitPattern: n)  // the C value holds u64 fields bit for bit
        case .string(let s):
            let raw: [UInt8]
            switch Int32(f.type) {
            case Int32(BR_T_MAC.rawValue), Int32(BR_T_DST_ADDR.rawValue): raw = bytes(hex: s.replacingOccurrences(of: ":", with: ""))
            case Int32(BR_T_STR.rawValue): raw = Array(s.utf8)
            default: raw = bytes(hex: s)
            }
            storage.append(raw)
            v[i].len = UInt16(raw.count)
        }
    }
    keep = storage
    return v
}

@Suite("C codec against the shared vectors")
struct CCodecVectorTests {
    @Test("decode", arguments: vectorFile.vectors)
    fileprivate func decode(_ vector: Vector) throws {
        var encoded = bytes(hex: vector.wire_hex)
        #expect(encoded.last == 0)
        encoded.removeLast()
        var scratch = [UInt8](repeating: 0, count: Int(BR_MAX_ENCODED))
        var frame = br_frame_t()
        let r = br_frame_decode(encoded, encoded.count, &scratch, scratch.count, &frame)
        try #require(r == BR_OK, "br_frame_decode: \(r)")
        #expect(Int(frame.version) == vector.fields.version)
        #expect(frame.kind == kinds[vector.fields.kind])
        if let id = vector.fields.id { #expect(Int(frame.id) == id) }
        let m = try #require(br_msg_find(frame.kind, frame.code))
        #expect(String(cString: m.pointee.name) == vector.fields.code)
        var values = [br_value_t](repeating: br_value_t(), count: Int(BR_MAX_FIELDS))
        try #require(br_msg_decode(m, frame.body, Int(frame.body_len), &values) == BR_OK)
        // values point into scratch, which is alive here.
        #expect(fieldsFromC(m, values) == vector.fields.body)
        withExtendedLifetime(scratch) {}
    }

    @Test("encode", arguments: vectorFile.vectors)
    fileprivate func encode(_ vector: Vector) throws {
        let m = try #require(layout(kind: vector.fields.kind, code: vector.fields.code))
        var keep: [[UInt8]] = []
        var values = valuesForC(m, vector.fields.body, keep: &keep)
        // Point every byte-valued field at its storage (kept alive in `keep`).
        var k = 0
        var pointers: [UnsafeMutablePointer<UInt8>] = []
        defer { pointers.forEach { $0.deallocate() } }
        for i in 0..<Int(m.pointee.nfields) where values[i].present != 0 {
            if case .string = vector.fields.body[String(cString: m.pointee.fields[i].name)]! {
                let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, keep[k].count))
                p.initialize(from: keep[k], count: keep[k].count)
                pointers.append(p)
                values[i].ptr = UnsafePointer(p)
                k += 1
            }
        }
        var body = [UInt8](repeating: 0, count: Int(BR_MAX_DECODED))
        var res = BR_OK
        let n = br_msg_encode(m, values, &body, body.count, &res)
        try #require(res == BR_OK, "br_msg_encode: \(res)")
        var wire = [UInt8](repeating: 0, count: Int(BR_MAX_ENCODED))
        let written = body.withUnsafeBufferPointer { b -> Int in
            var f = br_frame_t(version: UInt8(vector.fields.version), kind: m.pointee.kind,
                               id: UInt16(vector.fields.id ?? 0), code: m.pointee.code, body: b.baseAddress, body_len: UInt16(n))
            return br_frame_encode(&f, &wire, wire.count)
        }
        #expect(hex(wire, written) == vector.wire_hex)
    }

    @Test("reject", arguments: vectorFile.rejects)
    fileprivate func reject(_ reject: Reject) {
        var encoded = bytes(hex: reject.wire_hex)
        encoded.removeLast()
        var scratch = [UInt8](repeating: 0, count: Int(BR_MAX_ENCODED) + encoded.count)
        var frame = br_frame_t()
        var r = br_frame_decode(encoded, encoded.count, &scratch, scratch.count, &frame)
        if r == BR_OK, let m = br_msg_find(frame.kind, frame.code) {
            var values = [br_value_t](repeating: br_value_t(), count: Int(BR_MAX_FIELDS))
            r = br_msg_decode(m, frame.body, Int(frame.body_len), &values)
        }
        let names: [String: br_result_t] = [
            "bad_crc": BR_ERR_BAD_CRC, "truncated": BR_ERR_TRUNCATED, "oversize": BR_ERR_OVERSIZE,
            "bad_cobs": BR_ERR_BAD_COBS, "bad_version": BR_ERR_BAD_VERSION, "bad_kind": BR_ERR_BAD_KIND,
            "bad_body": BR_ERR_BAD_BODY,
        ]
        #expect(r == names[reject.reason], "\(reject.name): got \(r)")
    }

    /// The firmware is not a broker: BROKER_OPEN/BROKER_FILTER frames (good or bad body) are valid frames
    /// with a code it has no layout for, which its dispatcher answers NOT_SUPPORTED; a
    /// brokered HELLO response decodes with the same layout as the dongle's.
    @Test("broker part", arguments: vectorFile.broker.vectors)
    fileprivate func brokerVector(_ vector: Vector) throws {
        var encoded = bytes(hex: vector.wire_hex)
        encoded.removeLast()
        var scratch = [UInt8](repeating: 0, count: Int(BR_MAX_ENCODED))
        var frame = br_frame_t()
        try #require(br_frame_decode(encoded, encoded.count, &scratch, scratch.count, &frame) == BR_OK)
        #expect(frame.kind == kinds[vector.fields.kind])
        if let code = vectorFile.broker.codes[vector.fields.code] {
            #expect(Int(frame.code) == code)
            #expect(br_msg_find(frame.kind, frame.code) == nil)
        } else {
            let m = try #require(br_msg_find(frame.kind, frame.code))
            var values = [br_value_t](repeating: br_value_t(), count: Int(BR_MAX_FIELDS))
            try #require(br_msg_decode(m, frame.body, Int(frame.body_len), &values) == BR_OK)
            #expect(fieldsFromC(m, values) == vector.fields.body)
            if case .int(let caps)? = vector.fields.body["caps"] { #expect(caps & 0x80 != 0) }
        }
        withExtendedLifetime(scratch) {}
    }

    @Test("broker part rejects", arguments: vectorFile.broker.rejects)
    fileprivate func brokerReject(_ reject: Reject) {
        var encoded = bytes(hex: reject.wire_hex)
        encoded.removeLast()
        var scratch = [UInt8](repeating: 0, count: Int(BR_MAX_ENCODED))
        var frame = br_frame_t()
        #expect(br_frame_decode(encoded, encoded.count, &scratch, scratch.count, &frame) == BR_OK)
        #expect(Set(vectorFile.broker.codes.values).contains(Int(frame.code)) && br_msg_find(frame.kind, frame.code) == nil)
    }

    @Test func everyLayoutHasAVector() {
        var covered = Set<String>()
        for v in vectorFile.vectors { covered.insert("\(v.fields.kind) \(v.fields.code)") }
        for i in 0..<br_msg_count() {
            let m = br_msg_at(i)!.pointee
            let kind = m.kind == 1 ? "request" : m.kind == 2 ? "response" : "event"
            #expect(covered.contains("\(kind) \(String(cString: m.name))"))
        }
    }
}
