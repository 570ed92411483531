import ProtocolVectors
import Testing
import ESPNowWire

/// Deterministic PRNG for reproducible garbage.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func nonZeroGarbage(_ n: Int, _ rng: inout SplitMix) -> [UInt8] {
    (0..<n).map { _ in UInt8.random(in: 1...255, using: &rng) }
}

let bootText = Array("ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET)".utf8)

/// Feeds the chunks and returns frames and drops.
func run(_ sp: inout FrameSplitter, _ chunks: [[UInt8]]) -> [Result<Frame, WireError>] {
    chunks.flatMap { sp.feed($0) }
}

func frames(_ r: [Result<Frame, WireError>]) -> [Frame] {
    r.compactMap { if case .success(let f) = $0 { f } else { nil } }
}

func drops(_ r: [Result<Frame, WireError>]) -> [WireError] {
    r.compactMap { if case .failure(let e) = $0 { e } else { nil } }
}

@Suite("FrameSplitter")
struct SplitterTests {
    @Test("every vector split in two at every boundary and byte by byte", arguments: Fixtures.vectors)
    func splits(_ v: Vector) throws {
        let wire = v.wire
        let expected = try Frame(wire: wire)
        for cut in 0...wire.count {
            var sp = FrameSplitter()
            let out = run(&sp, [Array(wire[..<cut]), Array(wire[cut...])])
            #expect(out.count == 1 && frames(out) == [expected], "cut at \(cut)")
        }
        var sp = FrameSplitter()
        let out = run(&sp, wire.map { [$0] })
        #expect(frames(out) == [expected] && out.count == 1)
        #expect(sp.counters.frames == 1 && sp.counters.dropped == 0 && sp.pendingCount == 0)
    }

    @Test func allVectorsBackToBackInRandomChunks() throws {
        let all = Fixtures.vectors.flatMap { $0.wire }
        let expected = try Fixtures.vectors.map { try Frame(wire: $0.wire) }
        var rng = SplitMix(state: 7)
        for _ in 0..<20 {
            var sp = FrameSplitter()
            var out: [Result<Frame, WireError>] = []
            var i = 0
            while i < all.count {
                let n = min(all.count - i, Int.random(in: 1...700, using: &rng))
                out += sp.feed(all[i..<(i + n)])
                i += n
            }
            #expect(frames(out) == expected)
            #expect(drops(out).isEmpty)
        }
    }

    @Test func emptyFramesAreIgnored() throws {
        let v = Fixtures.vectors[0].wire
        var sp = FrameSplitter()
        let out = sp.feed([0, 0, 0] + v + [0, 0] + v)
        #expect(frames(out).count == 2 && drops(out).isEmpty && sp.counters.dropped == 0)
    }

    @Test func garbageBeforeAndBetweenFramesWithDelimiters() throws {
        var rng = SplitMix(state: 1)
        let vs = Fixtures.vectors.prefix(30).map { $0.wire }
        var stream: [UInt8] = []
        var garbageRegions = 0
        for (i, w) in vs.enumerated() {
            let g = i % 2 == 0 ? bootText : nonZeroGarbage(Int.random(in: 1...300, using: &rng), &rng)
            stream += g + [0] + w
            garbageRegions += 1
        }
        for recover in [true, false] {
            var sp = FrameSplitter(recoversFrames: recover)
            let out = sp.feed(stream)
            #expect(try frames(out) == vs.map { try Frame(wire: $0) })
            #expect(drops(out).count == garbageRegions)
            #expect(sp.counters.dropped == UInt64(garbageRegions))
        }
    }

    @Test func garbageGluedToFramesIsDroppedThenFrameRecovered() throws {
        var rng = SplitMix(state: 2)
        let vs = Fixtures.vectors.map { $0.wire }
        for (i, w) in vs.enumerated() {
            let g = i % 2 == 0 ? bootText : nonZeroGarbage(Int.random(in: 1...400, using: &rng), &rng)
            var sp = FrameSplitter()
            let out = sp.feed(g + w)  // no delimiter between garbage and frame
            let f = try Frame(wire: w)
            #expect(drops(out).count == 1, "vector \(i)")
            #expect(frames(out) == [f], "vector \(i)")
            if case .failure? = out.first {} else { Issue.record("drop must come first") }
            // Without recovery the spec's baseline: the frame is lost with the garbage.
            var plain = FrameSplitter(recoversFrames: false)
            let out2 = plain.feed(g + w)
            #expect(frames(out2).isEmpty && drops(out2).count == 1)
        }
    }

    @Test func frameCutByResetThenGoodFrame() throws {
        let recv = Fixtures.vectors.first { $0.name == "recv_event_250" }!.wire
        let hello = Fixtures.vectors.first { $0.name == "hello_event" }!.wire
        let expected = try Frame(wire: hello)
        for cut in [1, 2, 50, 136, 200, recv.count - 2] {
            let half = Array(recv[..<cut])
            // Device restarts mid-frame; its ROM text, then (maybe) a flushing 0x00, then HELLO.
            for tail in [hello, [0] + hello, bootText + hello, bootText + [0] + hello] {
                var sp = FrameSplitter()
                let out = run(&sp, [half, tail])
                #expect(frames(out) == [expected], "cut \(cut)")
                #expect(drops(out).count == 1, "cut \(cut)")
                #expect(sp.counters.dropped == 1 && sp.counters.frames == 1)
            }
        }
    }

    @Test func oversizeInputIsDroppedAndCounted() throws {
        var rng = SplitMix(state: 3)
        let good = Fixtures.vectors[0].wire
        let expected = try Frame(wire: good)
        for size in [1544, 1600, 3086, 3087, 5000, 20000] {
            let big = nonZeroGarbage(size, &rng)
            // Delimited oversize region, then a good frame.
            var sp = FrameSplitter()
            var out = run(&sp, [big, [0], good])
            #expect(drops(out) == [.oversize] && frames(out) == [expected], "size \(size)")
            #expect(sp.counters.oversize == 1)
            // Byte-by-byte and in odd chunks, the same.
            sp = FrameSplitter()
            out = run(&sp, stride(from: 0, to: big.count, by: 97).map { Array(big[$0..<min($0 + 97, big.count)]) } + [[0], good])
            #expect(drops(out) == [.oversize] && frames(out) == [expected])
            // Glued to the good frame: oversize drop, then the frame is recovered from the window.
            sp = FrameSplitter()
            out = run(&sp, [big + good])
            #expect(drops(out) == [.oversize] && frames(out) == [expected], "glued size \(size)")
        }
        // The largest valid frame is not oversize.
        let largest = Fixtures.vectors.first { $0.name == "recv_event_dst_other_1470" }!.wire
        var sp = FrameSplitter()
        #expect(frames(sp.feed(largest)).count == 1)
    }

    @Test func kindFilterOnAHost() throws {
        let req = Fixtures.vectors.first { $0.fields.kind == "request" }!.wire
        let resp = Fixtures.vectors.first { $0.fields.kind == "response" }!.wire
        let evt = Fixtures.vectors.first { $0.fields.kind == "event" }!.wire
        var sp = FrameSplitter(accepting: .fromDevice)
        let out = sp.feed(req + resp + evt)
        #expect(drops(out) == [.badKind(1)] && frames(out).count == 2)
        #expect(sp.counters.badKind == 1)
        var dev = FrameSplitter(accepting: .fromHost)
        let out2 = dev.feed(req + resp + evt)
        #expect(drops(out2) == [.badKind(2), .badKind(3)] && frames(out2).count == 1)
    }

    @Test func randomNoiseNeverCrashesAndCountsEveryRegion() {
        var rng = SplitMix(state: 4)
        for _ in 0..<200 {
            let n = Int.random(in: 0...5000, using: &rng)
            let noise = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var sp = FrameSplitter()
            let out = sp.feed(noise)
            #expect(UInt64(out.count) == sp.counters.frames + sp.counters.dropped)
        }
    }

    @Test func feedViewIsInSplitterStorage() {
        let w = Fixtures.vectors.first { $0.name == "recv_event_250" }!.wire
        var sp = FrameSplitter()
        var got: (MACAddress, Int8, Int)?
        w.withUnsafeBytes { b in
            sp.feed(b) { r in
                if case .success(let v) = r, let e = try? RecvEventView(frame: v) {
                    got = (e.srcAddr, e.rssi, e.data.count)
                }
            }
        }
        #expect(got?.0 == MACAddress("24:0a:c4:9a:bc:de"))
        #expect(got?.1 == -45)
        #expect(got?.2 == 250)
    }
}
