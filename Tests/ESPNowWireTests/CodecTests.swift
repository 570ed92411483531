import Testing
import ESPNowWire

/// Reference COBS encoder written straight from the definition (non-streaming).
func referenceCOBS(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0]
    var codeAt = 0
    var code: UInt8 = 1
    var openedByFull = false
    for b in data {
        if b == 0 {
            out[codeAt] = code; codeAt = out.count; out.append(0); code = 1; openedByFull = false
        } else {
            out.append(b); code += 1; openedByFull = false
            if code == 0xFF { out[codeAt] = code; codeAt = out.count; out.append(0); code = 1; openedByFull = true }
        }
    }
    if code == 1 && openedByFull {
        out.removeLast()  // minimal form: no empty group after a full one at the end
    } else {
        out[codeAt] = code
    }
    return out
}

@Suite("CRC-32 and COBS")
struct CodecTests {
    @Test func crcCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        // Running form.
        let a = Array("12345".utf8), b = Array("6789".utf8)
        #expect(CRC32.checksum(b, continuing: CRC32.checksum(a)) == 0xCBF4_3926)
        // Long input through the 8-byte path at every alignment.
        var rng = SplitMix(state: 9)
        let data = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for start in 0..<9 {
            let s = Array(data[start...])
            var c: UInt32 = 0xFFFF_FFFF
            for x in s { c ^= UInt32(x); for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 } }
            #expect(CRC32.checksum(s) == ~c)
        }
    }

    @Test func cobsBasics() throws {
        #expect(COBS.encode([]) == [0x01])
        #expect(COBS.encode([0]) == [0x01, 0x01])
        #expect(COBS.encode([0, 0]) == [0x01, 0x01, 0x01])
        #expect(COBS.encode([0x11, 0x22, 0x00, 0x33]) == [0x03, 0x11, 0x22, 0x02, 0x33])
        #expect(COBS.encode([0x11, 0x00]) == [0x02, 0x11, 0x01])
        #expect(try COBS.decode([0x03, 0x11, 0x22, 0x02, 0x33]) == [0x11, 0x22, 0x00, 0x33])
        #expect(try COBS.decode([0x01]) == [])
        #expect(try COBS.decode([0x01, 0x01]) == [0])
    }

    @Test func cobs254And255NonZero() throws {
        let d254 = [UInt8](repeating: 0x42, count: 254)
        #expect(COBS.encode(d254) == [0xFF] + d254)  // minimal: no trailing 0x01
        #expect(try COBS.decode([0xFF] + d254) == d254)
        #expect(try COBS.decode([0xFF] + d254 + [0x01]) == d254)  // non-minimal form accepted
        let d255 = [UInt8](repeating: 0x42, count: 255)
        #expect(COBS.encode(d255) == [0xFF] + d254 + [0x02, 0x42])
        #expect(try COBS.decode([0xFF] + d254 + [0x02, 0x42]) == d255)
        let d253 = [UInt8](repeating: 0x42, count: 253)
        #expect(COBS.encode(d253) == [0xFE] + d253)
        // A zero right after a full group.
        #expect(COBS.encode(d254 + [0]) == [0xFF] + d254 + [0x01, 0x01])
        #expect(try COBS.decode([0xFF] + d254 + [0x01, 0x01]) == d254 + [0])
        // 508 = 2 full groups.
        let d508 = [UInt8](repeating: 0x42, count: 508)
        #expect(COBS.encode(d508) == [0xFF] + d254 + [0xFF] + d254)
        #expect(try COBS.decode([0xFF] + d254 + [0xFF] + d254 + [0x01]) == d508)
    }

    @Test func cobsOverheadBound() throws {
        var rng = SplitMix(state: 5)
        for n in [1, 2, 253, 254, 255, 256, 507, 508, 509, 1000, 1536] {
            for zeros in [0, 1, 5] {
                var d = (0..<n).map { _ in UInt8.random(in: 1...255, using: &rng) }
                for _ in 0..<zeros { d[Int.random(in: 0..<n, using: &rng)] = 0 }
                let e = COBS.encode(d)
                #expect(e.count <= n + (n + 253) / 254)
                #expect(e.count <= COBS.maxEncodedLength(n))
                #expect(!e.contains(0))
                #expect(e == referenceCOBS(d), "n \(n) zeros \(zeros)")
                #expect(try COBS.decode(e) == d)
            }
        }
        #expect(COBS.encode([UInt8](repeating: 1, count: 1536)).count == WireProtocol.maxEncoded)
    }

    @Test func cobsRandomRoundTrip() throws {
        var rng = SplitMix(state: 6)
        for _ in 0..<2000 {
            let n = Int.random(in: 0...1600, using: &rng)
            let zeroRate = Int.random(in: 0...300, using: &rng)
            let d = (0..<n).map { _ in Int.random(in: 0...zeroRate, using: &rng) == 0 ? 0 : UInt8.random(in: 1...255, using: &rng) }
            let e = COBS.encode(d)
            #expect(e == referenceCOBS(d))
            #expect(try COBS.decode(e) == d)
        }
    }

    @Test func cobsDecodeErrors() throws {
        #expect(throws: WireError.badCOBS) { try COBS.decode([0x05, 0x11, 0x22]) }
        #expect(throws: WireError.badCOBS) { try COBS.decode([0x02, 0x11, 0x00, 0x01]) }
        #expect(throws: WireError.badCOBS) { try COBS.decode([0xFF, 0x11]) }
        #expect(throws: WireError.oversize) { try decodeInto([0x04, 1, 2, 3], capacity: 2) }
        #expect(try decodeInto([0x04, 1, 2, 3], capacity: 3) == 3)
    }

    @Test func cobsDecodeInPlace() throws {
        var rng = SplitMix(state: 8)
        for _ in 0..<200 {
            let d = (0..<Int.random(in: 1...600, using: &rng)).map { _ in UInt8.random(in: 0...3, using: &rng) }
            var buf = COBS.encode(d)
            let n = try buf.withUnsafeMutableBytes { b throws(WireError) in
                try COBS.decode(UnsafeRawBufferPointer(b), into: b)
            }
            #expect(Array(buf[..<n]) == d)
        }
    }

    @Test func frameDecodeOrderAndLimits() throws {
        // Encoded frames longer than 1543 are oversize even if they would decode.
        #expect(throws: WireError.oversize) { try Frame(wire: [UInt8](repeating: 1, count: 1544)) }
        // A body too large to fit MAX_DECODED cannot be encoded.
        let big = Frame(kind: .event, code: 0x81, body: [UInt8](repeating: 1, count: WireProtocol.maxBody + 1))
        #expect(throws: WireError.oversize) { try big.encoded() }
        let maxF = Frame(kind: .event, code: 0x81, body: [UInt8](repeating: 1, count: WireProtocol.maxBody))
        let w = try maxF.encoded()
        #expect(w.count == WireProtocol.maxWire)
        #expect(try Frame(wire: w) == maxF)
        // Worked example (section 11).
        let ping = Frame(kind: .request, id: 1, code: 0x02, body: [0x68, 0x69])
        #expect(Hex.encode(try ping.encoded()) == "03210108026869bdb29cda00")
        // Raw-buffer API: too small output.
        #expect(throws: WireError.noSpace) { try encodeInto(ping, capacity: 5) }
        #expect(try encodeInto(ping, capacity: 13) == 12)
    }
}

func decodeInto(_ input: [UInt8], capacity: Int) throws(WireError) -> Int {
    var out = [UInt8](repeating: 0, count: capacity)
    let r: Result<Int, WireError> = input.withUnsafeBytes { i in
        out.withUnsafeMutableBytes { o in Result { () throws(WireError) in try COBS.decode(i, into: o) } }
    }
    return try r.get()
}

func encodeInto(_ f: Frame, capacity: Int) throws(WireError) -> Int {
    var out = [UInt8](repeating: 0, count: capacity)
    let r: Result<Int, WireError> = f.body.withUnsafeBytes { b in
        out.withUnsafeMutableBytes { o in Result { () throws(WireError) in try Frame.encode(header: f.header, body: b, into: o) } }
    }
    return try r.get()
}
