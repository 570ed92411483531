import ProtocolVectors
import Testing
import ESPNowWire

@Suite("protocol-vectors.json")
struct VectorTests {
    @Test func fileShape() {
        #expect(Fixtures.file.protocol_version == Int(WireProtocol.version))
        #expect(Fixtures.vectors.count > 0)
        #expect(Fixtures.rejects.count > 0)
    }

    @Test("decode wire_hex → fields", arguments: Fixtures.vectors)
    func decode(_ v: Vector) throws {
        let wire = v.wire
        #expect(wire.last == 0)
        let m = try Message(wire: wire)
        let expected = try v.expectedMessage()
        #expect(Int(m.header.version) == v.fields.version)
        #expect(m.kind == v.kind)
        #expect(m.name == v.fields.code)
        #expect(Int(m.id) == (v.fields.id ?? 0))
        #expect(m.fields == expected.fields, "\(v.name)")
    }

    @Test("encode fields → wire_hex", arguments: Fixtures.vectors)
    func encode(_ v: Vector) throws {
        let m = try v.expectedMessage()
        let wire = try m.encoded()
        #expect(Hex.encode(wire) == v.wire_hex)
        // encode(into:) reusing a dirty buffer gives the same bytes.
        var buf = [UInt8](repeating: 0xAA, count: 3000)
        try m.encode(into: &buf)
        #expect(buf == wire)
    }

    @Test("zero-allocation path: splitter view + visitor agree", arguments: Fixtures.vectors)
    func zeroAllocPath(_ v: Vector) throws {
        let expected = try v.expectedMessage()
        var sp = FrameSplitter()
        var seen = 0
        var failure: String?
        v.wire.withUnsafeBytes { b in
            sp.feed(b) { r in
                switch r {
                case .success(let view):
                    seen += 1
                    #expect(view.header == expected.header)
                    do {
                        let l = MessageLayout.find(kind: view.kind, code: view.code)!
                        try l.validate(body: view.body)
                        #expect(try l.decodeFields(view.body) == expected.fields)
                        if view.kind == .event && view.code == EventCode.recv.rawValue {
                            let r = try RecvEventView(frame: view)
                            #expect(FieldValue.mac(r.srcAddr) == expected.fields["src_addr"])
                            #expect(FieldValue.uint(UInt64(r.dst.rawValue)) == expected.fields["dst"])
                            #expect(FieldValue.uint(UInt64(r.rate)) == expected.fields["rate"])
                            #expect(FieldValue.int(Int64(r.rssi)) == expected.fields["rssi"])
                            #expect(FieldValue.uint(UInt64(r.channel)) == expected.fields["channel"])
                            #expect(FieldValue.uint(UInt64(r.timestampUs)) == expected.fields["timestamp_us"])
                            #expect(r.dstAddr.map { FieldValue.mac($0) } == expected.fields["dst_addr"])
                            #expect(FieldValue.bytes(Array(r.data)) == expected.fields["data"])
                            var out: [UInt8] = []
                            try r.encode(into: &out)
                            #expect(out == v.wire)
                        }
                    } catch {
                        failure = "\(error)"
                    }
                case .failure(let e): failure = "\(e)"
                }
            }
        }
        #expect(seen == 1)
        #expect(failure == nil)
        #expect(sp.counters.frames == 1 && sp.counters.dropped == 0)
    }

    @Test("reject → stated reason", arguments: Fixtures.rejects)
    func reject(_ r: Reject) {
        #expect(throws: WireError.self) { try Message(wire: r.wire) }
        do {
            _ = try Message(wire: r.wire)
        } catch {
            #expect(error.reason == r.reason, "\(r.name): \(error)")
        }
        // Through the splitter: a framing reject is one counted drop and no frame; a bad body
        // is a valid frame whose body then fails its layout.
        var sp = FrameSplitter()
        let out = sp.feed(r.wire)
        #expect(out.count == 1)
        switch out.first {
        case .success(let f)?:
            #expect(r.reason == "bad_body")
            #expect(throws: WireError.self) { try Message(frame: f) }
            do { _ = try Message(frame: f) } catch { #expect(error.reason == "bad_body") }
            if f.kind == .event && f.code == EventCode.recv.rawValue {
                // The zero-allocation RECV view rejects the same bodies.
                let ok = f.body.withUnsafeBytes { (try? RecvEventView(body: $0)) != nil }
                #expect(!ok)
            }
            #expect(sp.counters.frames == 1)
        case .failure(let e)?:
            #expect(e.reason == r.reason)
            #expect(sp.counters.dropped == 1 && sp.counters.frames == 0)
        case nil: Issue.record("no output")
        }
    }

    @Test func badBodyErrorsNameMessageAndField() throws {
        func body(_ name: String) throws -> BodyError {
            let r = Fixtures.rejects.first { $0.name == name }!
            do {
                _ = try Message(wire: r.wire)
            } catch {
                if case .badBody(let b) = error { return b }
                throw error
            }
            throw VectorError.bad("no error")
        }
        let b1 = try body("bad_body_sta_connect_ssid_33")
        #expect(b1.message == "WIFI_STA_CONNECT" && b1.kind == .request && b1.field == "ssid")
        #expect(b1.problem == .tooLong(length: 33, max: 32))
        let b2 = try body("bad_body_recv_dst3_no_dst_addr")
        #expect(b2.message == "RECV" && b2.field == "dst_addr" && b2.problem == .tooShort)
        let b3 = try body("bad_body_error_response_extra_bytes")
        #expect(b3.field == "err")
        let b4 = try body("bad_body_ping_65")
        #expect(b4.field == "data" && b4.problem == .tooLong(length: 65, max: 64))
        #expect(b1.description.contains("ssid"))
    }

    @Test func foreignHelloIsRecognised() throws {
        let r = Fixtures.rejects.first { $0.name == "bad_version_3_hello_event" }!
        var sp = FrameSplitter()
        let out = sp.feed(r.wire)
        #expect(out.count == 1)
        #expect(sp.counters.badVersion == 1)
        let h = try #require(sp.lastForeignHello)
        #expect(h.frameVersion == 3)
        #expect(h.description.contains("reflash the bridge firmware"))
    }
}
