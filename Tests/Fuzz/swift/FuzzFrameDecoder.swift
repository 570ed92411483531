// libFuzzer target for the Swift wire decoder (ESPNowWire). Built together with the module's
// sources in one swiftc invocation, so it uses the module's API without an import:
//
//   swiftc -parse-as-library -sanitize=fuzzer,address -O Sources/ESPNowWire/*.swift \
//       Tests/Fuzz/swift/FuzzFrameDecoder.swift -o .build-fuzz/fuzz-swift
//   .build-fuzz/fuzz-swift -max_total_time=120 .build-fuzz/corpus-swift .build-fuzz/seeds
//
// Properties checked (any violation traps, which libFuzzer reports as a crash):
// - the splitter gives the same frames and drops whether the input arrives at once, in two
//   chunks or byte by byte (over a window of up to 320 bytes the input places), and counts
//   every output;
// - every frame: decode -> encode -> decode gives the same header and body, and, when the body
//   fits its layout, the same fields; a body's re-encoding is byte-identical (layouts are exact);
// - RECV frames: the zero-allocation view agrees with the table decode and re-encodes identically;
// - any input taken as a body of the layout picked by its first bytes: decode -> encode == input;
// - COBS: decode(encode(x)) == x, the encoding has no 0x00 and respects the overhead bound.

@inline(__always)
func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fatalError("fuzz property violated: \(what())") }
}

/// One splitter output in an owned, comparable form.
enum Out: Equatable {
    case frame(Frame)
    case drop(WireError)
}

/// One splitter reused for every split, reset in between (`discardPending` and
/// `resetCounters` give the state of a new one): a new splitter zeroes ~6.7 KB, and under
/// ASan those allocations and page faults were most of the time per input.
nonisolated(unsafe) var reusedSplitter = FrameSplitter()
nonisolated(unsafe) var reusedScratch = [UInt8](repeating: 0, count: WireProtocol.maxDecoded)

func split(_ bytes: UnsafeRawBufferPointer, chunks: [Range<Int>]) -> ([Out], LinkCounters) {
    reusedSplitter.discardPending()
    reusedSplitter.resetCounters()
    var out: [Out] = []
    for r in chunks {
        reusedSplitter.feed(UnsafeRawBufferPointer(rebasing: bytes[r])) { res in
            switch res {
            case .success(let v): out.append(.frame(v.copy()))
            case .failure(let e): out.append(.drop(e))
            }
        }
    }
    return (out, reusedSplitter.counters)
}

/// decode -> encode -> decode on one frame.
func roundTrip(_ f: Frame) {
    let wire: [UInt8]
    do { wire = try f.encoded() } catch { fatalError("valid frame does not re-encode: \(error)") }
    check(wire.last == 0 && !wire.dropLast().contains(0), "encoding has a stray 0x00")
    guard let again = try? Frame(wire: wire) else { fatalError("re-encoded frame does not decode") }
    check(again == f, "frame changed across a round trip")

    guard let m = try? Message(frame: f) else { return }  // unknown code or bad body: fine
    guard let body = try? m.encodeBody() else { fatalError("decoded fields do not re-encode: \(m)") }
    check(body == f.body, "body re-encoding differs for \(m)")
    guard let m2 = try? Message(wire: try! m.encoded()) else { fatalError("message round trip failed") }
    check(m2 == m, "fields changed across a round trip")

    if f.kind == .event && f.code == EventCode.recv.rawValue {
        f.body.withUnsafeBytes { b in
            guard let r = try? RecvEventView(body: b) else { fatalError("RECV view rejects a valid RECV body") }
            check(FieldValue.mac(r.srcAddr) == m.fields["src_addr"], "RECV src_addr")
            check(FieldValue.uint(UInt64(r.dst.rawValue)) == m.fields["dst"], "RECV dst")
            check(FieldValue.uint(UInt64(r.rate)) == m.fields["rate"], "RECV rate")
            check(FieldValue.int(Int64(r.rssi)) == m.fields["rssi"], "RECV rssi")
            check(FieldValue.uint(UInt64(r.timestampUs)) == m.fields["timestamp_us"], "RECV timestamp")
            check(r.dstAddr.map { FieldValue.mac($0) } == m.fields["dst_addr"], "RECV dst_addr")
            check(FieldValue.bytes(Array(r.data)) == m.fields["data"], "RECV data")
            var out: [UInt8] = []
            guard (try? r.encode(into: &out)) != nil else { fatalError("RECV view does not encode") }
            check(out == wire, "RECV view encoding differs from the table encoding")
        }
    } else if f.kind == .event && f.code == EventCode.recv.rawValue {
        f.body.withUnsafeBytes { b in check((try? RecvEventView(body: b)) == nil, "RECV view accepts a bad body") }
    }
}

/// The window fed one byte at a time: all of a short input, else `singleWindow` bytes from
/// an offset taken from the input's second and third bytes.
let singleWindow = 320

func singleBytes(_ size: Int, _ data: UnsafePointer<UInt8>) -> (Int, Int) {
    guard size > singleWindow else { return (0, size) }
    let start = (Int(data[1]) << 8 | Int(data[2])) % (size - singleWindow + 1)
    return (start, start + singleWindow)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)

    // 1. The splitter, whole / two chunks / byte by byte.
    let (whole, counters) = split(input, chunks: [0..<size])
    var frames = 0
    for o in whole { if case .frame = o { frames += 1 } }
    check(UInt64(frames) == counters.frames && UInt64(whole.count - frames) == counters.dropped,
          "counters do not match the outputs")
    let cut = size == 0 ? 0 : Int(data[0]) % (size + 1)
    check(split(input, chunks: [0..<cut, cut..<size]).0 == whole, "two-chunk split differs")
    // Byte by byte over a window of at most `singleWindow` bytes whose start the input
    // picks (the rest in two chunks): every splitter state is reachable inside a window,
    // and feeding all 2 KiB of every input one byte at a time cost most of the run time.
    let (from, to) = singleBytes(size, data)
    let singles = [0..<from] + (from..<to).map { $0..<($0 + 1) } + [to..<size]
    check(split(input, chunks: singles).0 == whole, "byte-by-byte split differs in \(from)..<\(to)")
    for o in whole { if case .frame(let f) = o { roundTrip(f) } }

    // 2. The whole input as one encoded frame (with the zero check), in place and not.
    var copy = Array(input)
    let viaScratch: Frame? = reusedScratch.withUnsafeMutableBytes { s in (try? Frame.decode(input, scratch: s))?.copy() }
    let inPlace: Frame? = copy.withUnsafeMutableBytes { b in (try? Frame.decode(inPlace: b))?.copy() }
    check(viaScratch == inPlace, "in-place decode differs")
    // (Round-tripped above already when the splitter found the same frame.)
    if let f = viaScratch, !whole.contains(.frame(f)) { roundTrip(f) }

    // 3. The input as a body of some layout: exact layouts make decode -> encode the identity.
    if size >= 1 {
        let layouts = MessageLayout.all
        let l = layouts[Int(data[0]) % layouts.count]
        let body = UnsafeRawBufferPointer(rebasing: input[1...])
        if let fields = try? l.decodeFields(body) {
            guard let again = try? l.encodeBody(fields) else { fatalError("\(l): decoded fields do not encode") }
            check(again == Array(body), "\(l): body re-encoding differs")
            check((try? l.validate(body: body)) != nil, "\(l): validate disagrees with decode")
        } else {
            check((try? l.validate(body: body)) == nil, "\(l): validate disagrees with decode")
        }
    }

    // 4. COBS round trip of arbitrary bytes.
    let enc = COBS.encode(Array(input))
    check(!enc.contains(0), "COBS output contains 0x00")
    check(enc.count <= (size == 0 ? 1 : size + (size + 253) / 254), "COBS overhead above the bound")
    guard let dec = try? COBS.decode(enc) else { fatalError("COBS does not decode its own output") }
    check(dec == Array(input), "COBS round trip differs")
    return 0
}
