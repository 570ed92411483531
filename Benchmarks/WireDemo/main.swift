// `make demo` (for now): one frame of every type in the protocol, encoded by the
// Swift codec, decoded and re-encoded by the firmware's C codec, decoded again
// by Swift, and printed. Both codecs must agree on every byte.
import BridgeCore
import ESPNowWire
#if canImport(Glibc)
import Glibc
#endif

/// A plausible value for a field of this type (what a real dongle might send).
let typical: [String: UInt64] = [
    "proto_version": 2, "fw_major": 0, "fw_minor": 1, "fw_patch": 0, "chip_model": 5, "chip_revision": 4,
    "espnow_version": 2, "version": 2, "max_payload": 1470, "caps": 0x35, "reset_reason": 1, "boot_count": 17,
    "window": 8, "rxbuf": 516, "size": 516, "max_frame": 1536, "transport": 0, "baud": 0, "channel": 1,
    "primary": 1, "second": 0, "ifidx": 0, "encrypt": 0, "status": 0, "flags": 0, "statuses": 1, "failures": 0,
    "mode": 1, "active": 1, "level": 3, "what": 1, "count": 2, "total": 5, "event": 1, "reason": 0,
    "exists": 1, "total_num": 3, "encrypt_num": 1, "from_head": 1, "clear": 0, "window_ms": 50,
    "bitmap": 7, "type": 0, "authmode": 3, "hidden": 0, "max_connection": 4, "phymode": 1, "rate": 0x0b,
    "ersu": 0, "dcm": 0, "timestamp_us": 8_123_456, "req_id": 42, "uptime_s": 3600, "baud_rate": 921600,
]

func sample(_ field: FieldLayout, index: Int) -> FieldValue? {
    if let v = typical[field.name], field.type != .i8, field.type != .i32 { return .uint(v) }
    switch field.type {
    case .u8: return .uint(field.name == "dst" ? 0 : UInt64(1 + index % 6))
    case .bool: return .uint(1)
    case .i8: return .int(field.name == "rssi" ? -42 : -3)
    case .u16: return .uint(field.name == "chip_model" ? 0x8000 : 500)
    case .u32: return .uint(UInt64(1000 + index))
    case .i32: return .int(0)
    case .u64: return .uint(123_456_789)
    case .mac: return .mac(MACAddress(0x24, 0x0a, 0xc4, 0x12, 0x34, UInt8(0x50 + index)))
    case .key: return .bytes((0..<16).map { UInt8($0 * 17 & 0xff) })
    case .str: return .string(field.name == "idf_version" ? "v5.4.2" : "espnow-demo")
    case .bytes(let max): return .bytes(Array("hello, ESP-NOW".utf8.prefix(max)))
    case .dst2: return .uint(2)
    case .rate6: return .uint(0x0b)
    case .dstAddr: return nil
    }
}

/// Decodes `wire` with the C codec and re-encodes it with the C codec.
func cRoundTrip(_ wire: [UInt8]) -> (ok: Bool, bytes: [UInt8], fields: Int) {
    var scratch = [UInt8](repeating: 0, count: Int(BR_MAX_ENCODED))
    var frame = br_frame_t()
    var values = [br_value_t](repeating: br_value_t(), count: Int(BR_MAX_FIELDS))
    var body = [UInt8](repeating: 0, count: Int(BR_MAX_DECODED))
    var out = [UInt8](repeating: 0, count: Int(BR_MAX_ENCODED))
    let encoded = Array(wire.dropLast())  // without the delimiter
    let r = br_frame_decode(encoded, encoded.count, &scratch, scratch.count, &frame)
    guard r == BR_OK, let layout = br_msg_find(frame.kind, frame.code) else { return (false, [], 0) }
    guard br_msg_decode(layout, frame.body, Int(frame.body_len), &values) == BR_OK else { return (false, [], 0) }
    // values point into scratch, which stays alive until the end of this function.
    var res = BR_OK
    let n = br_msg_encode(layout, values, &body, body.count, &res)
    guard res == BR_OK else { return (false, [], 0) }
    let count = body.withUnsafeBufferPointer { b -> Int in
        var f = br_frame_t(version: UInt8(BR_PROTO_VERSION), kind: frame.kind, id: frame.id, code: frame.code,
                           body: b.baseAddress, body_len: UInt16(n))
        return br_frame_encode(&f, &out, out.count)
    }
    return (true, Array(out.prefix(count)), Int(layout.pointee.nfields))
}

var agreed = 0
var failed = 0
var id: UInt16 = 1
print("espnow-bridge wire protocol v\(WireProtocol.version): every frame type through both codecs\n")
for layout in MessageLayout.all {
    var fields: [String: FieldValue] = [:]
    for (i, f) in layout.fields.enumerated() {
        if let v = sample(f, index: i) { fields[f.name] = v }
    }
    if layout.kind == .response { fields["err"] = .int(0) }
    let message = Message(kind: layout.kind, id: layout.kind == .event ? 0 : id, code: layout.code, fields: fields)
    id &+= 1
    do {
        let wire = try message.encoded()
        let (ok, cWire, _) = cRoundTrip(wire)
        let back = try Message(wire: cWire)
        if ok && cWire == wire && back == message {
            agreed += 1
            print("ok  \(wire.count.description.leftPad(4)) B  \(back)")
        } else {
            failed += 1
            print("MISMATCH \(layout): swift \(Hex.encode(wire)) c \(Hex.encode(cWire))")
        }
    } catch {
        failed += 1
        print("ERROR \(layout): \(error)")
    }
}
print("\n\(agreed) frame types round-tripped Swift → C → Swift with identical bytes, \(failed) mismatches")
if failed > 0 { exit(1) }

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
}
