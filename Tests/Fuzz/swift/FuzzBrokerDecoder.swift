// libFuzzer target for the broker's client-facing decoder (ESPNowBroker's ClientDecoder):
// what a client, possibly hostile, can make the broker parse. Built together with
// ESPNowWire's sources and ClientDecoder.swift in one swiftc invocation (no imports):
//
//   swiftc -parse-as-library -sanitize=fuzzer,address -O Sources/ESPNowWire/*.swift \
//       Sources/ESPNowBroker/ClientDecoder.swift Tests/Fuzz/swift/FuzzBrokerDecoder.swift -o .build-fuzz/fuzz-broker
//
// Properties (a violation traps, which libFuzzer reports as a crash):
// - the same inputs and counters whether the bytes arrive at once, in two chunks or byte by byte;
// - every output is counted exactly once (frames delivered, or a drop by reason);
// - a request handed on has a body that re-encodes, byte for byte, from its decoded fields,
//   so the broker never forwards anything it did not fully validate;
// - a BROKER_OPEN token and a BROKER_FILTER list are never longer than the protocol allows.

@inline(__always)
func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fatalError("fuzz property violated: \(what())") }
}

func decode(_ bytes: UnsafeRawBufferPointer, chunks: [Range<Int>]) -> ([ClientInput], LinkCounters) {
    var d = ClientDecoder()
    var out: [ClientInput] = []
    for r in chunks { d.feed(UnsafeRawBufferPointer(rebasing: bytes[r])) { out.append($0) } }
    return (out, d.counters)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let (whole, counters) = decode(input, chunks: [0..<size])
    var drops = 0, rejectsBadBody = 0
    for i in whole {
        switch i {
        case .dropped: drops += 1
        case .reject(_, _, _, let e):
            check(e == .invalidSize || e == .notSupported, "reject with \(e)")
            if e == .invalidSize { rejectsBadBody += 1 }
        case .open(_, _, _, let token):
            check(token.count <= BrokerWire.maxTokenLength, "token of \(token.count) bytes")
        case .filter(_, _, let sources):
            check(sources.count <= BrokerWire.maxFilterSources, "filter of \(sources.count) sources")
        case .request(let id, _, let code, let fields):
            guard let layout = MessageLayout.find(kind: .request, code: code.rawValue),
                  let body = try? layout.encodeBody(fields) else { fatalError("accepted request does not re-encode") }
            // The fields decode again to themselves (the layout is exact).
            guard let again = try? layout.decodeFields(body) else { fatalError("re-encoded body does not decode") }
            check(again == fields, "request \(code) id \(id) changed across a round trip")
        }
    }
    check(counters.dropped == UInt64(drops + rejectsBadBody), "drops not counted once each")
    check(counters.frames + counters.dropped == UInt64(whole.count), "outputs not counted once each")

    let cut = size == 0 ? 0 : Int(data[0]) % (size + 1)
    let (two, c2) = decode(input, chunks: [0..<cut, cut..<size])
    check(two == whole && c2 == counters, "two chunks differ from one")
    let (bytewise, c3) = decode(input, chunks: (0..<size).map { $0..<($0 + 1) })
    check(bytewise == whole && c3 == counters, "byte by byte differs from one chunk")
    return 0
}
