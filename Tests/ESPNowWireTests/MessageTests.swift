import Testing
import ESPNowWire

@Suite("Layouts, messages and codes")
struct MessageTests {
    @Test func everyCommandHasRequestAndResponseLayouts() throws {
        for c in CommandCode.allCases {
            let req = try #require(MessageLayout.find(kind: .request, code: c.rawValue))
            let resp = try #require(MessageLayout.find(kind: .response, code: c.rawValue))
            #expect(req.name == c.name && resp.name == c.name)
            #expect(resp.fields.first == FieldLayout("err", .i32))
            #expect(CommandCode(name: c.name) == c)
        }
        for e in EventCode.allCases {
            let l = try #require(MessageLayout.find(kind: .event, code: e.rawValue))
            #expect(l.name == e.name && EventCode(name: e.name) == e)
            #expect(MessageLayout.find(kind: .request, code: e.rawValue) == nil)
        }
        #expect(MessageLayout.all.count == 2 * CommandCode.allCases.count + EventCode.allCases.count)
        #expect(MessageLayout.find(kind: .request, code: 0x7F) == nil)
        // bytes only as the last field; names unique per layout.
        for l in MessageLayout.all {
            #expect(Set(l.fields.map(\.name)).count == l.fields.count, "\(l)")
            for (i, f) in l.fields.enumerated() {
                if case .bytes = f.type { #expect(i == l.fields.count - 1, "\(l)") }
            }
        }
    }

    @Test func specFieldLists() throws {
        let names = { (k: FrameKind, n: String) in MessageLayout.find(kind: k, name: n)!.fields.map(\.name) }
        #expect(names(.event, "RECV") == ["src_addr", "dst", "rate", "rssi", "channel", "timestamp_us", "dst_addr", "data"])
        #expect(names(.request, "ESPNOW_ADD_PEER") == ["peer_addr", "lmk", "channel", "ifidx", "encrypt"])
        #expect(names(.response, "ESPNOW_GET_PEER") == ["err", "peer_addr", "lmk", "channel", "ifidx", "encrypt"])
        #expect(names(.request, "ESPNOW_SEND") == ["peer_addr", "flags", "data"])
        #expect(names(.response, "ESPNOW_SEND") == ["err", "statuses", "failures"])
        #expect(names(.response, "STATS").count == 1 + WireProtocol.statsCount)
        #expect(names(.response, "STATS").last == "resp_unsent")
        let hello = MessageLayout.find(kind: .event, name: "HELLO")!
        #expect(hello.fields.suffix(3).elementsEqual([FieldLayout("idf_version", .str(max: 31)),
                                                      FieldLayout("max_encrypt", .u8), FieldLayout("lost_at_reset", .u32)]))
        // Booleans are their own type: 0 or 1 on the wire, anything else a bad body.
        #expect(MessageLayout.find(kind: .request, name: "STATS")!.field(named: "clear")!.type == .bool)
        #expect(MessageLayout.find(kind: .request, name: "ESPNOW_ADD_PEER")!.field(named: "encrypt")!.type == .bool)
        #expect(MessageLayout.find(kind: .response, name: "HELLO")!.fields.dropFirst().elementsEqual(hello.fields))
        let maxes = [("PING", "data", 64), ("ESPNOW_SEND", "data", 1490)]
        for (m, f, max) in maxes {
            #expect(MessageLayout.find(kind: .request, name: m)!.field(named: f)!.type == .bytes(max: max))
        }
        #expect(MessageLayout.find(kind: .event, name: "LOG")!.field(named: "text")!.type == .bytes(max: 200))
        #expect(MessageLayout.find(kind: .request, name: "WIFI_STA_CONNECT")!.field(named: "ssid")!.type == .str(max: 32))
        #expect(MessageLayout.find(kind: .request, name: "WIFI_AP_CONFIG")!.field(named: "password")!.type == .str(max: 64))
    }

    @Test func espErrorNames() {
        #expect(ESPError(rawValue: 0x3069).name == "ESP_ERR_ESPNOW_NOT_FOUND")
        #expect(ESPError(rawValue: 0xB001).name == "ESP_ERR_BRIDGE_BUSY")
        #expect(ESPError(rawValue: -1).name == "ESP_FAIL")
        #expect(ESPError(rawValue: 0x300F).name == "ESP_ERR_WIFI_NOT_CONNECT")
        #expect(ESPError(rawValue: 0xB002).name == "ESP_ERR_BRIDGE_STALE")
        #expect(ESPError(rawValue: 0xB003).name == "ESP_ERR_BRIDGE_REFUSED")
        #expect(ESPError(rawValue: 0xB004).name == "ESP_ERR_BRIDGE_NO_DEVICE")
        #expect(ESPError.names.count == 35)
        #expect(ESPError(rawValue: 0x1234).name == nil)
        #expect(ESPError(rawValue: 0x1234).description == "0x1234")
        #expect(ESPError(rawValue: 0x3069).description == "ESP_ERR_ESPNOW_NOT_FOUND (0x3069)")
        #expect(ESPError(name: "ESP_ERR_NO_MEM")?.rawValue == 0x101)
    }

    @Test func macAddress() {
        let m = MACAddress("24:0A:c4:9a:bc:de")!
        #expect(m.description == "24:0a:c4:9a:bc:de")
        #expect(m.bytes == [0x24, 0x0a, 0xc4, 0x9a, 0xbc, 0xde])
        #expect(MACAddress(0x24, 0x0a, 0xc4, 0x9a, 0xbc, 0xde) == m)
        #expect(MACAddress(bytes: m.bytes) == m)
        #expect(MACAddress("24:0a:c4:9a:bc") == nil)
        #expect(MACAddress("24:0a:c4:9a:bc:zz") == nil)
        #expect(MACAddress.broadcast.description == "ff:ff:ff:ff:ff:ff")
        #expect(MACAddress("00:00:00:00:00:01")! < MACAddress("01:00:00:00:00:00")!)
        #expect(MemoryLayout<MACAddress>.size == 8)
    }

    @Test func convenienceConstructorsRoundTrip() throws {
        let req = Message.request(.espnowSend, id: 7, [
            "peer_addr": .mac(MACAddress("24:0a:c4:9a:bc:de")!), "flags": .uint(1), "data": .bytes([1, 2, 0, 3]),
        ])
        #expect(try Message(wire: try req.encoded()) == req)
        let err = Message.response(.espnowSend, id: 7, err: .espnowNoMem)
        let back = try Message(wire: try err.encoded())
        #expect(back.err == .espnowNoMem && back.fields.count == 1)
        let log = Message.event(.log, ["level": .uint(3), "flags": .uint(0), "text": .string("héllo")])
        let decodedLog = try Message(wire: try log.encoded())
        #expect(decodedLog.fields["text"] == .bytes(Array("héllo".utf8)))
        // Strings are accepted for MAC fields and the int/uint forms interchangeably.
        let st = Message.event(.sendStatus, ["req_id": .int(3), "peer_addr": .string("ff:ff:ff:ff:ff:ff"), "status": .int(0)])
        #expect(try Message(wire: try st.encoded()).fields["peer_addr"] == .mac(.broadcast))
    }

    @Test func invalidUTF8StrDecodesAsBytesAndRoundTrips() throws {
        let m = Message.request(.wifiStaConnect, id: 1, [
            "ssid": .bytes([0xFF, 0xFE, 0x41]), "password": .string(""), "bssid": .mac(.zero),
        ])
        let back = try Message(wire: try m.encoded())
        #expect(back.fields["ssid"] == .bytes([0xFF, 0xFE, 0x41]))
        #expect(try back.encoded() == m.encoded())
    }

    @Test func encodeErrorsNameTheField() {
        func problem(_ m: Message) -> BodyError? {
            do { _ = try m.encoded(); return nil } catch {
                if case .badBody(let b) = error { return b }
                return nil
            }
        }
        let mac = FieldValue.mac(.zero)
        #expect(problem(.request(.espnowDelPeer, id: 1, [:]))?.field == "peer_addr")
        #expect(problem(.request(.espnowDelPeer, id: 1, [:]))?.problem == .missing)
        #expect(problem(.request(.espnowDelPeer, id: 1, ["peer_addr": mac, "bogus": .uint(1)]))?.problem == .unexpected)
        #expect(problem(.request(.stats, id: 1, ["clear": .uint(256)]))?.problem == .outOfRange)
        #expect(problem(.request(.stats, id: 1, ["clear": .int(-1)]))?.problem == .outOfRange)
        #expect(problem(.request(.wifiSetMaxTxPower, id: 1, ["power": .int(-129)]))?.problem == .outOfRange)
        #expect(problem(.request(.wifiSetMaxTxPower, id: 1, ["power": .int(-128)])) == nil)
        #expect(problem(.request(.stats, id: 1, ["clear": .string("x")]))?.problem == .wrongType)
        #expect(problem(.request(.ping, id: 1, ["data": .bytes(Array(repeating: 1, count: 65))]))?.problem == .tooLong(length: 65, max: 64))
        #expect(problem(.request(.espnowSetPMK, id: 1, ["pmk": .bytes([1, 2])]))?.problem == .wrongType)
        #expect(problem(.response(.wifiGetMode, id: 1, err: .fail, ["mode": .uint(1)]))?.problem == .unexpected)
        #expect(problem(.response(.wifiGetMode, id: 1, err: .ok, [:]))?.field == "mode")
        let recv: [String: FieldValue] = ["src_addr": mac, "dst": .uint(3), "rate": .uint(1), "rssi": .int(-1),
                                          "channel": .uint(1), "timestamp_us": .uint(0), "data": .bytes([])]
        #expect(problem(.event(.recv, recv))?.field == "dst_addr")
        var r2 = recv
        r2["dst"] = .uint(0)
        r2["dst_addr"] = mac
        #expect(problem(.event(.recv, r2))?.problem == .unexpected)
        r2["dst"] = .uint(4)
        #expect(problem(.event(.recv, r2))?.field == "dst")
        #expect(throws: WireError.unknownCode(kind: .event, code: 0x99)) {
            try Message(kind: .event, code: 0x99).encoded()
        }
    }

    @Test func recvViewEncodeMatchesTableEncode() throws {
        let payload: [UInt8] = (0..<250).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for dst in RecvDestination.allCases {
            let dstAddr: MACAddress? = dst == .other ? MACAddress("24:0a:c4:ff:ee:dd") : nil
            var fields: [String: FieldValue] = [
                "src_addr": .mac(MACAddress("7c:df:a1:0b:2c:3d")!), "dst": .uint(UInt64(dst.rawValue)), "rate": .uint(11),
                "rssi": .int(-45), "channel": .uint(6), "timestamp_us": .uint(123_456), "data": .bytes(payload),
            ]
            if let d = dstAddr { fields["dst_addr"] = .mac(d) }
            let table = try Message.event(.recv, fields).encoded()
            var fast: [UInt8] = []
            let r: Result<Void, WireError> = payload.withUnsafeBytes { p in
                let v = RecvEventView(srcAddr: MACAddress("7c:df:a1:0b:2c:3d")!, dst: dst, rate: 11, rssi: -45,
                                      channel: 6, timestampUs: 123_456, dstAddr: dstAddr, data: p)
                return Result { () throws(WireError) in try v.encode(into: &fast) }
            }
            try r.get()
            #expect(fast == table)
        }
    }
}
