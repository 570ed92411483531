// The broker's part of the shared protocol vectors (PROTOCOL.md section 12): BROKER_OPEN
// as the broker's client-facing decoder reads it and as the client link writes it, the
// broker's answers, and the bodies it must refuse.
import ESPNowBroker
import ESPNowWire
import Foundation
import ProtocolVectors
import Testing

private var brokerVectors: BrokerVectors { ProtocolVectors.file.broker }

private func decoded(_ wire: [UInt8]) -> [ClientInput] {
    var d = ClientDecoder()
    var out: [ClientInput] = []
    wire.withUnsafeBytes { d.feed($0) { out.append($0) } }
    return out
}

@Suite("Broker vectors (PROTOCOL.md section 12)")
struct BrokerVectorTests {
    @Test func theFileHasTheBrokerPart() {
        #expect(brokerVectors.codes == ["BROKER_OPEN": Int(BrokerWire.openCode), "BROKER_FILTER": Int(BrokerWire.filterCode)])
        let names = Set(brokerVectors.vectors.map(\.fields.code))
        #expect(names == ["BROKER_OPEN", "BROKER_FILTER", "HELLO"])
        #expect(brokerVectors.rejects.count >= 4)
    }

    /// Requests: the broker's decoder yields exactly the flags and token, and the client
    /// link's encoding of the same values gives the same bytes.
    @Test("BROKER_OPEN requests", arguments: brokerVectors.vectors.filter { $0.fields.kind == "request" && $0.fields.code == "BROKER_OPEN" })
    fileprivate func openRequest(_ v: Vector) throws {
        let flags = UInt8(try #require(v.fields.body["flags"]?.int))
        let tokenHex = try #require(v.fields.body["token"]?.string)
        let token = try #require(Hex.decode(tokenHex))
        let id = UInt16(v.fields.id ?? 0)
        let inputs = decoded(v.wire)
        try #require(inputs.count == 1)
        guard case .open(let gotID, _, let gotFlags, let gotToken) = inputs[0] else {
            Issue.record("\(v.name): decoded as \(inputs[0])")
            return
        }
        #expect(gotID == id && gotFlags == flags && gotToken == token)
        let written = try Frame(kind: .request, id: id, code: BrokerWire.openCode,
                                body: BrokerWire.openBody(flags: flags, token: token)).encoded()
        #expect(written == v.wire)
    }

    /// BROKER_FILTER requests: the sources as the decoder reads them and the client writes them.
    @Test("BROKER_FILTER requests", arguments: brokerVectors.vectors.filter { $0.fields.kind == "request" && $0.fields.code == "BROKER_FILTER" })
    fileprivate func filterRequest(_ v: Vector) throws {
        let hex = try #require(v.fields.body["sources"]?.string)
        let raw = try #require(Hex.decode(hex))
        let sources = stride(from: 0, to: raw.count, by: 6).map { MACAddress(raw[$0], raw[$0 + 1], raw[$0 + 2], raw[$0 + 3], raw[$0 + 4], raw[$0 + 5]) }
        let id = UInt16(v.fields.id ?? 0)
        let inputs = decoded(v.wire)
        try #require(inputs.count == 1)
        guard case .filter(let gotID, _, let got) = inputs[0] else {
            Issue.record("\(v.name): decoded as \(inputs[0])")
            return
        }
        #expect(gotID == id && got == sources)
        let written = try Frame(kind: .request, id: id, code: BrokerWire.filterCode, body: BrokerWire.filterBody(sources: sources)).encoded()
        #expect(written == v.wire)
    }

    /// Responses: the err code (and for HELLO, the brokered cap) as written and as read.
    @Test("broker responses", arguments: brokerVectors.vectors.filter { $0.fields.kind == "response" })
    fileprivate func response(_ v: Vector) throws {
        let err = Int32(try #require(v.fields.body["err"]?.int))
        let frame = try Frame(wire: v.wire, accepting: .fromDevice)
        #expect(frame.kind == .response && Int(frame.id) == v.fields.id ?? 0)
        if v.fields.code == "HELLO" {
            let m = try Message(wire: v.wire)
            #expect(m.err == .ok)
            let caps = try #require(m.fields["caps"]?.uintValue)
            #expect(caps & UInt64(BrokerWire.brokeredCap) != 0)
            #expect(try m.encoded() == v.wire)
            return
        }
        let code = UInt8(try #require(brokerVectors.codes[v.fields.code]))
        #expect(frame.code == code)
        var le = err.littleEndian
        let body = withUnsafeBytes(of: &le) { Array($0) }
        #expect(frame.body == body)
        #expect(try Frame(kind: .response, id: frame.id, code: code, body: body).encoded() == v.wire)
        // The codes the broker answers with are the named ones.
        if err == 0xB003 { #expect(ESPError(rawValue: err) == .bridgeRefused) }
        if err == 0x106 { #expect(ESPError(rawValue: err) == .notSupported) }
    }

    /// Bad bodies are answered ESP_ERR_INVALID_SIZE, counted, never acted on.
    @Test("BROKER_OPEN and BROKER_FILTER bad bodies", arguments: brokerVectors.rejects)
    fileprivate func reject(_ r: Reject) {
        #expect(r.reason == "bad_body")
        var d = ClientDecoder()
        var out: [ClientInput] = []
        r.wire.withUnsafeBytes { d.feed($0) { out.append($0) } }
        #expect(out.count == 1)
        guard case .reject(_, _, let code, let err)? = out.first else {
            Issue.record("\(r.name): \(out)")
            return
        }
        #expect((code == BrokerWire.openCode || code == BrokerWire.filterCode) && err == .invalidSize)
        #expect(d.counters.badBody == 1 && d.counters.frames == 0)
    }

    /// The two broker error codes also appear as ordinary responses in the main vectors.
    @Test func brokerErrorCodesInTheMainVectors() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/protocol-vectors.json")
        struct Main: Decodable {
            struct V: Decodable { var name: String; var wire_hex: String }
            var vectors: [V]
        }
        let main = try JSONDecoder().decode(Main.self, from: Data(contentsOf: url))
        var errs: Set<Int32> = []
        for v in main.vectors where v.name.hasPrefix("error_bridge_") {
            if let e = try Message(wire: Hex.decode(v.wire_hex)!).err { errs.insert(e.rawValue) }
        }
        #expect(errs.isSuperset(of: [ESPError.bridgeRefused.rawValue, ESPError.bridgeNoDevice.rawValue]))
    }
}
