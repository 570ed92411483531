// codec-bench: the Swift wire codec (ESPNowWire) and the firmware's C codec (BridgeCore) side by
// side on a 250-byte RECV event (recv_event_250 style: 272 bytes on the wire).
//
//   swift run -c release --scratch-path .build-swift codec-bench [seconds-per-measurement]
//
// Encode: all RECV fields -> COBS/CRC wire frame in a reused buffer
//   Swift: RecvEventView.encode(into:)            C: br_msg_encode + br_frame_encode
// Decode: wire frame (delimiter excluded) -> COBS + CRC + header + RECV fields (src MAC, rssi,
//   payload pointer), zero-allocation paths
//   Swift: Frame.decode(_:scratch:) + RecvEventView  C: br_frame_decode + br_msg_find + br_msg_decode
// Stream decode: the same with the byte-stream splitters in front (FrameSplitter.feed vs
//   br_splitter_push per byte).
import BridgeCore
import ESPNowWire
#if canImport(Glibc)
import Glibc
#endif

let secondsPerMeasurement: Double = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 1.0 : 1.0

// MARK: - The frame

let srcMAC = MACAddress(0x24, 0x0a, 0xc4, 0x9a, 0xbc, 0xde)
let srcBytes: [UInt8] = srcMAC.bytes
/// 250 non-zero bytes (like recv_event_250: the decoded frame has no zero byte).
let payload: [UInt8] = (0..<250).map { UInt8(1 + ($0 &* 37 &+ 17) % 255) }
let outCap = WireProtocol.maxWire
let wireOut = UnsafeMutableRawBufferPointer.allocate(byteCount: outCap, alignment: 16)
let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: WireProtocol.maxDecoded, alignment: 16)
let payloadBuf = UnsafeMutableRawBufferPointer.allocate(byteCount: payload.count, alignment: 16)
payloadBuf.copyBytes(from: payload)
let srcBuf = UnsafeMutablePointer<UInt8>.allocate(capacity: 6)
for i in 0..<6 { srcBuf[i] = srcBytes[i] }

@MainActor func makeView(timestamp: UInt32) -> RecvEventView {
    RecvEventView(srcAddr: srcMAC, dst: .station, rate: 11, rssi: -45, channel: 1, timestampUs: timestamp,
                  data: UnsafeRawBufferPointer(payloadBuf))
}

let wireCount = try! makeView(timestamp: 0x1234_5678).encode(into: wireOut)
/// The reference wire frame (with delimiter); `encoded` excludes the delimiter.
let wire = Array(UnsafeRawBufferPointer(rebasing: wireOut[0..<wireCount]))
let encodedCount = wireCount - 1
let encoded = UnsafeMutableRawBufferPointer.allocate(byteCount: encodedCount, alignment: 16)
encoded.copyBytes(from: wire[0..<encodedCount])

// MARK: - C codec setup

guard let recvMsg = br_msg_find(UInt8(BR_KIND_EVENT.rawValue), UInt8(BR_EVT_RECV.rawValue)) else {
    fatalError("br_msg_find(RECV) returned NULL")
}
let nFields = Int(recvMsg.pointee.nfields)
@MainActor func cFieldIndex(_ name: String) -> Int {
    for i in 0..<nFields where String(cString: recvMsg.pointee.fields[i].name) == name { return i }
    fatalError("C RECV layout has no field \(name)")
}
let ciSrc = cFieldIndex("src_addr"), ciDst = cFieldIndex("dst"), ciRate = cFieldIndex("rate")
let ciRssi = cFieldIndex("rssi"), ciChan = cFieldIndex("channel"), ciTs = cFieldIndex("timestamp_us")
let ciDstAddr = cFieldIndex("dst_addr"), ciData = cFieldIndex("data")
let cVals = UnsafeMutablePointer<br_value_t>.allocate(capacity: Int(BR_MAX_FIELDS))
cVals.initialize(repeating: br_value_t(), count: Int(BR_MAX_FIELDS))
let cEncVals = UnsafeMutablePointer<br_value_t>.allocate(capacity: Int(BR_MAX_FIELDS))
cEncVals.initialize(repeating: br_value_t(), count: Int(BR_MAX_FIELDS))
@MainActor func setC(_ i: Int, _ v: Int64) { cEncVals[i].i = v; cEncVals[i].present = 1 }
cEncVals[ciSrc].ptr = UnsafePointer(srcBuf); cEncVals[ciSrc].len = 6; cEncVals[ciSrc].present = 1
setC(ciDst, 0); setC(ciRate, 11); setC(ciRssi, -45); setC(ciChan, 1); setC(ciTs, 0x1234_5678)
cEncVals[ciDstAddr].present = 0
cEncVals[ciData].ptr = UnsafePointer(payloadBuf.baseAddress!.assumingMemoryBound(to: UInt8.self))
cEncVals[ciData].len = UInt16(payload.count); cEncVals[ciData].present = 1
let cBody = UnsafeMutablePointer<UInt8>.allocate(capacity: WireProtocol.maxDecoded)
let cOut = wireOut.baseAddress!.assumingMemoryBound(to: UInt8.self)
let cScratch = scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
let cEncoded = UnsafePointer(encoded.baseAddress!.assumingMemoryBound(to: UInt8.self))

@MainActor @inline(__always) func cEncode(timestamp: UInt32) -> Int {
    cEncVals[ciTs].i = Int64(timestamp)
    var res = BR_OK
    let bl = br_msg_encode(recvMsg, cEncVals, cBody, WireProtocol.maxDecoded, &res)
    var f = br_frame_t()
    f.version = UInt8(BR_PROTO_VERSION)
    f.kind = UInt8(BR_KIND_EVENT.rawValue)
    f.code = UInt8(BR_EVT_RECV.rawValue)
    f.body = UnsafePointer(cBody)
    f.body_len = UInt16(bl)
    return br_frame_encode(&f, cOut, outCap)
}

/// Decodes a RECV frame with the C codec and reads src MAC, rssi and payload; returns a checksum.
@MainActor @inline(__always) func cDecode(_ enc: UnsafePointer<UInt8>, _ len: Int) -> UInt64 {
    var f = br_frame_t()
    guard br_frame_decode(enc, len, cScratch, WireProtocol.maxDecoded, &f) == BR_OK,
          let m = br_msg_find(f.kind, f.code),
          br_msg_decode(m, f.body, Int(f.body_len), cVals) == BR_OK else { return 0 }
    let src = MACAddress(loadingFrom: UnsafeRawPointer(cVals[ciSrc].ptr!))
    let rssi = Int8(truncatingIfNeeded: cVals[ciRssi].i)
    let data = cVals[ciData]
    let first = data.len > 0 ? data.ptr![0] : 0
    return src.rawValue &+ UInt64(bitPattern: Int64(rssi)) &+ UInt64(data.len) &+ UInt64(first)
}

/// The same with the Swift codec, through the zero-allocation view.
@MainActor @inline(__always) func swiftReadRecv(_ frame: FrameView) -> UInt64 {
    guard let e = try? RecvEventView(frame: frame) else { return 0 }
    let first = e.data.isEmpty ? 0 : e.data[0]
    return e.srcAddr.rawValue &+ UInt64(bitPattern: Int64(e.rssi)) &+ UInt64(e.data.count) &+ UInt64(first)
}

@MainActor @inline(__always) func swiftDecode() -> UInt64 {
    guard let f = try? Frame.decode(UnsafeRawBufferPointer(encoded), scratch: scratch, accepting: .fromDevice) else { return 0 }
    return swiftReadRecv(f)
}

// Sanity: both codecs have the same layout table (names, kinds, codes, field names, types, maxima).
@MainActor func compareLayoutTables() -> Int {
    func cType(_ t: FieldType) -> (UInt8, UInt16) {
        switch t {
        case .u8: (UInt8(BR_T_U8.rawValue), 0)
        case .bool: (UInt8(BR_T_BOOL.rawValue), 0)
        case .i8: (UInt8(BR_T_I8.rawValue), 0)
        case .u16: (UInt8(BR_T_U16.rawValue), 0)
        case .u32: (UInt8(BR_T_U32.rawValue), 0)
        case .i32: (UInt8(BR_T_I32.rawValue), 0)
        case .u64: (UInt8(BR_T_U64.rawValue), 0)
        case .mac: (UInt8(BR_T_MAC.rawValue), 0)
        case .key: (UInt8(BR_T_KEY.rawValue), 0)
        case .str(let m): (UInt8(BR_T_STR.rawValue), UInt16(m))
        case .bytes(let m): (UInt8(BR_T_BYTES.rawValue), UInt16(m))
        case .dst2: (UInt8(BR_T_DST2.rawValue), 0)
        case .rate6: (UInt8(BR_T_RATE6.rawValue), 0)
        case .dstAddr: (UInt8(BR_T_DST_ADDR.rawValue), 0)
        }
    }
    precondition(br_msg_count() == MessageLayout.all.count,
                 "C has \(br_msg_count()) layouts, Swift \(MessageLayout.all.count)")
    for l in MessageLayout.all {
        guard let m = br_msg_find(l.kind.rawValue, l.code) else { fatalError("C has no layout for \(l)") }
        precondition(String(cString: m.pointee.name) == l.name && Int(m.pointee.nfields) == l.fields.count,
                     "layout \(l) differs in name or field count")
        for (i, f) in l.fields.enumerated() {
            let cf = m.pointee.fields[i]
            let (t, max) = cType(f.type)
            precondition(String(cString: cf.name) == f.name && cf.type == t && (max == 0 || cf.max == max),
                         "\(l) field \(i): C \(String(cString: cf.name)) type \(cf.type) max \(cf.max), Swift \(f)")
        }
    }
    return MessageLayout.all.count
}
let layoutCount = compareLayoutTables()

// Sanity: both codecs agree before anything is timed.
let cWireCount = cEncode(timestamp: 0x1234_5678)
precondition(cWireCount == wireCount && Array(UnsafeRawBufferPointer(rebasing: wireOut[0..<cWireCount])) == wire,
             "C and Swift encodings differ")
precondition(cDecode(cEncoded, encodedCount) == swiftDecode() && swiftDecode() != 0, "C and Swift decodes differ")
precondition(wireCount == 272, "recv_event_250 style frame must be 272 bytes on the wire, got \(wireCount)")

// MARK: - Timing

nonisolated(unsafe) var sink: UInt64 = 0
@MainActor @inline(never) func consume(_ x: UInt64) { sink &+= x }

struct Measurement {
    var framesPerSecond: Double
    var mbPerSecond: Double
}

@MainActor func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}

/// Runs `batch(n)` (n frames, returns a checksum) for a warm-up and then until
/// `secondsPerMeasurement` have passed; frames/s and wire MB/s.
@MainActor func measure(_ batch: (Int) -> UInt64) -> Measurement {
    let clock = ContinuousClock()
    var n = 1000
    // Warm-up and calibration: about 0.2 s.
    while true {
        let t0 = clock.now
        consume(batch(n))
        let dt = seconds(t0.duration(to: clock.now))
        if dt > 0.05 { n = max(1000, Int(Double(n) * 0.05 / dt)); break }
        n *= 4
    }
    consume(batch(n * 3))
    var frames = 0
    let start = clock.now
    var elapsed = 0.0
    while elapsed < secondsPerMeasurement {
        consume(batch(n))
        frames += n
        elapsed = seconds(start.duration(to: clock.now))
    }
    let fps = Double(frames) / elapsed
    return Measurement(framesPerSecond: fps, mbPerSecond: fps * Double(wireCount) / 1e6)
}

let swiftEncode = measure { n in
    var s: UInt64 = 0
    for i in 0..<n {
        let k = (try? makeView(timestamp: UInt32(truncatingIfNeeded: i)).encode(into: wireOut)) ?? 0
        s &+= UInt64(k) &+ UInt64(wireOut[k >> 1])
    }
    return s
}
let cEncodeM = measure { n in
    var s: UInt64 = 0
    for i in 0..<n {
        let k = cEncode(timestamp: UInt32(truncatingIfNeeded: i))
        s &+= UInt64(k) &+ UInt64(wireOut[k >> 1])
    }
    return s
}
let swiftDecodeM = measure { n in
    var s: UInt64 = 0
    for _ in 0..<n { s &+= swiftDecode() }
    return s
}
let cDecodeM = measure { n in
    var s: UInt64 = 0
    for _ in 0..<n { s &+= cDecode(cEncoded, encodedCount) }
    return s
}

// Stream decode: one frame (with delimiter) per feed.
var splitter = FrameSplitter(accepting: .fromDevice)
let wireBuf = UnsafeMutableRawBufferPointer.allocate(byteCount: wireCount, alignment: 16)
wireBuf.copyBytes(from: wire)
@MainActor func swiftStream(_ n: Int) -> UInt64 {
    var s: UInt64 = 0
    for _ in 0..<n {
        splitter.feed(UnsafeRawBufferPointer(wireBuf)) { r in
            if case .success(let f) = r { s &+= swiftReadRecv(f) }
        }
    }
    return s
}
let cSplitter = UnsafeMutablePointer<br_splitter_t>.allocate(capacity: 1)
br_splitter_init(cSplitter)
let cSplitBufOffset = MemoryLayout<br_splitter_t>.offset(of: \br_splitter_t.buf)!
let cSplitBuf = (UnsafeRawPointer(cSplitter) + cSplitBufOffset).assumingMemoryBound(to: UInt8.self)
let wireBytes = UnsafePointer(wireBuf.baseAddress!.assumingMemoryBound(to: UInt8.self))
@MainActor func cStream(_ n: Int) -> UInt64 {
    var s: UInt64 = 0
    for _ in 0..<n {
        for i in 0..<wireCount where br_splitter_push(cSplitter, wireBytes[i]) == BR_SPLIT_FRAME {
            s &+= cDecode(cSplitBuf, Int(cSplitter.pointee.len))
        }
    }
    return s
}
let swiftStreamM = measure(swiftStream)
let cStreamM = measure(cStream)

// MARK: - Allocations per decoded frame

struct AllocReport {
    var callsPerFrame: Double
    var bytesPerFrame: Double
    var inUseDelta: Int?
}

@MainActor func allocations(_ frames: Int, _ body: (Int) -> UInt64) -> AllocReport {
    consume(body(100))  // warm: lazy globals, buffers
    let before = mallinfoInUseBytes()
    let c0 = heapAllocationCalls, b0 = heapAllocationBytes
    consume(body(frames))
    let c1 = heapAllocationCalls, b1 = heapAllocationBytes
    let after = mallinfoInUseBytes()
    return AllocReport(callsPerFrame: Double(c1 - c0) / Double(frames), bytesPerFrame: Double(b1 - b0) / Double(frames),
                       inUseDelta: before.flatMap { b in after.map { $0 - b } })
}

let allocFrames = 100_000
let counterSlots = installAllocationCounter()
let aDecode = allocations(allocFrames) { n in
    var s: UInt64 = 0
    for _ in 0..<n { s &+= swiftDecode() }
    return s
}
let aStream = allocations(allocFrames, swiftStream)
let aEncode = allocations(allocFrames) { n in
    var s: UInt64 = 0
    for i in 0..<n { s &+= UInt64((try? makeView(timestamp: UInt32(truncatingIfNeeded: i)).encode(into: wireOut)) ?? 0) }
    return s
}
// Control: the owned, dictionary-based convenience decode does allocate (shows the counter works).
let aOwned = allocations(10_000) { n in
    var s: UInt64 = 0
    for _ in 0..<n {
        if let f = try? Frame.decode(UnsafeRawBufferPointer(encoded), scratch: scratch), let m = try? Message(frame: f) {
            s &+= UInt64(m.fields.count)
        }
    }
    return s
}

// MARK: - Report

@MainActor func fmt(_ x: Double, _ decimals: Int = 0) -> String {
    var p = 1.0
    for _ in 0..<decimals { p *= 10 }
    let r = (x * p).rounded() / p
    var s = decimals == 0 ? String(Int(r)) : String(r)
    if decimals > 0, let dot = s.firstIndex(of: ".") {
        let have = s.distance(from: dot, to: s.endIndex) - 1
        if have < decimals { s += String(repeating: "0", count: decimals - have) }
    }
    return s
}

@MainActor func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
    let sp = String(repeating: " ", count: max(0, w - s.count))
    return left ? s + sp : sp + s
}

print("codec-bench: RECV event, 250-byte payload, \(wireCount) bytes on the wire (decoded \(2 + 13 + 250 + 4))")
print("layout tables: Swift and C agree on all \(layoutCount) layouts (names, codes, fields, types, maxima)")
print("clock: ContinuousClock; warm-up then >= \(fmt(secondsPerMeasurement, 1)) s per measurement\n")
print(pad("operation", 16, left: true) + pad("Swift frames/s", 16) + pad("MB/s", 9) + pad("C frames/s", 14)
      + pad("MB/s", 9) + pad("Swift/C", 9))
@MainActor func row(_ name: String, _ s: Measurement, _ c: Measurement) {
    print(pad(name, 16, left: true) + pad(fmt(s.framesPerSecond), 16) + pad(fmt(s.mbPerSecond, 1), 9)
          + pad(fmt(c.framesPerSecond), 14) + pad(fmt(c.mbPerSecond, 1), 9)
          + pad(fmt(s.framesPerSecond / c.framesPerSecond, 2), 9))
}
row("encode", swiftEncode, cEncodeM)
row("decode", swiftDecodeM, cDecodeM)
row("stream decode", swiftStreamM, cStreamM)
print("\n(MB/s counts wire bytes; Swift/C > 1 means Swift is faster.)")

print("\nHeap allocations in the Swift loops: malloc/calloc/realloc/posix_memalign calls made through libswiftCore"
      + (counterSlots > 0 ? " (\(counterSlots) GOT slots patched)" : " (UNAVAILABLE: counts read 0)")
      + ",\nand the glibc mallinfo2().uordblks (bytes in use) delta over the loop:")
@MainActor func arow(_ name: String, _ a: AllocReport, _ frames: Int) {
    print("  " + pad(name, 40, left: true) + pad(fmt(a.callsPerFrame, 3), 8) + " allocs/frame "
          + pad(fmt(a.bytesPerFrame, 1), 8) + " bytes/frame   in-use delta " + (a.inUseDelta.map { "\($0) B" } ?? "n/a") + " over \(frames) frames")
}
arow("decode (Frame.decode + RecvEventView)", aDecode, allocFrames)
arow("stream decode (FrameSplitter)", aStream, allocFrames)
arow("encode (RecvEventView.encode)", aEncode, allocFrames)
arow("control: owned Message(frame:)", aOwned, 10_000)
print("\n(checksum \(sink & 0xFFFF))")
