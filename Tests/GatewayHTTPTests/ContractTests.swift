import AsyncHTTPClient
import ESPNowGateway
import ESPNowGatewayHTTP
import ESPNowSimulator
import ESPNowWire
import Foundation
import GatewayTestSupport
import NIOHTTP1
import Testing

/// The REST API end to end: a gateway with a simulated dongle and sensor, plus packets
/// handed in with known times and values, queried over TCP with a real HTTP client; every
/// response checked against the OpenAPI document the server serves.
@Suite("HTTP API contract")
struct ContractTests {
    static let t0: Int64 = 1_700_000_000_000_000  // 2023-11-14T22:13:20Z
    static let lmk = "00112233445566778899aabbccddeeff"

    static func iso(_ us: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(us) / 1e6))
    }

    /// Walks every page of `path` (which has `limit`), returning the items and page sizes.
    static func walk(_ h: GatewayHarness, _ path: String, key: String) async throws -> ([JSON], [Int]) {
        var items: [JSON] = []
        var sizes: [Int] = []
        var cursor: String?
        repeat {
            let r = try await h.request(.GET, path + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(r.status == 200)
            let page = r.json?[key]?.array ?? []
            items += page
            sizes.append(page.count)
            cursor = r.json?["nextCursor"]?.string
        } while cursor != nil && sizes.count < 100
        return (items, sizes)
    }

    static func expectError(_ r: GatewayHarness.Reply, _ status: Int, mentioning words: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == status, sourceLocation: sourceLocation)
        let message = r.json?["error"]?["message"]?.string ?? ""
        for w in words { #expect(message.contains(w), "\"\(message)\" should name \(w)", sourceLocation: sourceLocation) }
    }

    @Test(arguments: Backend.allCases)
    func everyEndpoint(_ backend: Backend) async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 1, nodes: ["sensor,interval=200"]))
        defer { air.shutdown() }
        let sensor = try #require(air.nodes.first?.staMAC)
        var gc = GatewayConfig()
        gc.gatewayID = "web-test"
        gc.downlinkPollUs = 200_000
        let h: GatewayHarness
        do {
            h = try await GatewayHarness.start(backend, ports: [air.dongles[0].port!], gatewayConfig: gc)
        } catch {
            Issue.record("cannot start: \(String(reflecting: error))")
            throw error
        }
        try await withHarness(h) { h in
            for i in 0..<30 { h.gateway.ingest(uplink(nodeA, "temp=20.\(i) hum=50 n=\(i)", at: Self.t0 + Int64(i) * 1_000_000)) }
            for i in 0..<10 { h.gateway.ingest(uplink(nodeB, "door=open n=\(i)", at: Self.t0 + Int64(i) * 1_000_000, rssi: -70)) }
            try await eventually("the handed-in packets and the sensor's stored") {
                let n = try await h.store.nodes()
                return n.first { $0.mac == nodeA }?.packets == 30 && n.first { $0.mac == nodeB }?.packets == 10
                    && (n.first { $0.mac == sensor }?.packets ?? 0) >= 3
            }

            // Health and status.
            #expect(try await h.request(.GET, "/healthz").json == .object(["status": .string("ok")]))
            #expect(try await h.request(.GET, "/readyz").json?["status"] == .string("ready"))
            let status = try await h.request(.GET, "/api/status").json
            #expect(status?["gatewayId"]?.string == "web-test")
            #expect(status?["database"]?["kind"]?.string == backend.rawValue)
            #expect(status?["dongles"]?.array?.first?["connected"]?.bool == true)
            #expect((status?["counters"]?["stored"]?.int ?? 0) >= 43)

            // Nodes.
            let nodes = try await h.request(.GET, "/api/nodes").json?["nodes"]?.array ?? []
            #expect(Set(nodes.compactMap { $0["mac"]?.string }) == [nodeA.description, nodeB.description, sensor.description])
            let a = try #require(nodes.first { $0["mac"]?.string == nodeA.description })
            let last = Dictionary(uniqueKeysWithValues: (a["lastValues"]?.array ?? []).compactMap { v in v["field"]?.string.map { ($0, v) } })
            #expect(Set(last.keys) == ["temp", "hum", "n"])
            #expect(last["temp"]?["value"] == .number(20.29))
            #expect(last["n"]?["value"] == .int(29))
            #expect(last["temp"]?["timeUs"]?.int == Self.t0 + 29_000_000)
            #expect(a["packets"]?.int == 30 && a["hasLmk"]?.bool == false && a["rssi"]?.int == -50)
            let b = try await h.request(.GET, "/api/nodes/\(nodeB)").json
            #expect(b?["lastValues"]?.array?.first { $0["field"]?.string == "door" }?["value"] == .string("open"))
            Self.expectError(try await h.request(.GET, "/api/nodes/02:00:00:00:00:ff"), 404, mentioning: ["02:00:00:00:00:ff"])
            Self.expectError(try await h.request(.GET, "/api/nodes/zz:00"), 400, mentioning: ["zz:00", "MAC"])
            Self.expectError(try await h.request(.GET, "/api/nodes?x=1"), 400, mentioning: ["x"])

            // Readings: keyset pages in both orders, filters, CSV, errors.
            let (asc, ascSizes) = try await Self.walk(h, "/api/readings?node=\(nodeA)&field=temp&limit=7&order=asc", key: "readings")
            #expect(ascSizes == [7, 7, 7, 7, 2])
            #expect(asc.map { $0["timeUs"]?.int } == (0..<30).map { Self.t0 + Int64($0) * 1_000_000 })
            #expect(asc.map { $0["value"].flatMap(OpenAPIDocument.number) } == (0..<30).map { Double("20.\($0)")! })
            #expect(asc.allSatisfy { $0["node"]?.string == nodeA.description && $0["field"]?.string == "temp" })
            let (desc, _) = try await Self.walk(h, "/api/readings?node=\(nodeA)&field=temp&limit=8", key: "readings")
            #expect(desc == asc.reversed())
            let (all, _) = try await Self.walk(h, "/api/readings?node=\(nodeA)&limit=13", key: "readings")
            #expect(all.count == 90)
            #expect(Set(all.map(\.description)).count == 90)
            let ranged = try await h.request(.GET, "/api/readings?node=\(nodeA)&field=temp&from=\(Self.iso(Self.t0 + 10_000_000))&to=\(Self.t0 + 20_000_000)")
            #expect(ranged.json?["readings"]?.array?.map { $0["timeUs"]?.int } == (10..<20).reversed().map { Self.t0 + Int64($0) * 1_000_000 })
            #expect(ranged.json?["nextCursor"] == nil)
            let csv = try await h.request(.GET, "/api/readings?node=\(nodeB)&field=door&format=csv&order=asc")
            let lines = csv.body.split(separator: "\n")
            #expect(lines.first == "node,time,timeUs,field,value,unit")
            #expect(lines.count == 11)
            #expect(lines[1] == "\(nodeB),2023-11-14T22:13:20.000000Z,\(Self.t0),door,open,")
            #expect(csv.headers.first(name: "X-Next-Cursor") == nil)
            let csvPage = try await h.request(.GET, "/api/readings?node=\(nodeB)&field=door&format=csv&limit=3")
            #expect(csvPage.body.split(separator: "\n").count == 4)
            #expect(csvPage.headers.first(name: "X-Next-Cursor") != nil)
            Self.expectError(try await h.request(.GET, "/api/readings?node=nope"), 400, mentioning: ["node", "nope"])
            Self.expectError(try await h.request(.GET, "/api/readings?from=yesterday"), 400, mentioning: ["from", "yesterday"])
            Self.expectError(try await h.request(.GET, "/api/readings?to=2023-11-14T10:00:00"), 400, mentioning: ["to"])
            Self.expectError(try await h.request(.GET, "/api/readings?limit=0"), 400, mentioning: ["limit", "1 to 10000"])
            Self.expectError(try await h.request(.GET, "/api/readings?limit=10001"), 400, mentioning: ["limit"])
            Self.expectError(try await h.request(.GET, "/api/readings?cursor=abc"), 400, mentioning: ["cursor", "abc"])
            Self.expectError(try await h.request(.GET, "/api/readings?colour=red"), 400, mentioning: ["colour"])
            Self.expectError(try await h.request(.GET, "/api/readings?format=xml"), 400, mentioning: ["format", "xml"])
            Self.expectError(try await h.request(.GET, "/api/readings?from=\(Self.t0)&to=\(Self.t0)"), 400, mentioning: ["from", "to"])

            // Raw packets.
            let (packets, pSizes) = try await Self.walk(h, "/api/packets?node=\(nodeA)&limit=10&order=asc", key: "packets")
            #expect(pSizes == [10, 10, 10])
            #expect(packets.compactMap { $0["payloadHex"]?.string } == (0..<30).map { i in
                Array("temp=20.\(i) hum=50 n=\(i)".utf8).map { String(format: "%02x", $0) }.joined()
            })
            #expect(packets.allSatisfy { $0["rssi"]?.int == -50 && $0["decoder"]?.string == "text" && $0["dongle"]?.string == "test" })
            let sensorPackets = try await h.request(.GET, "/api/packets?node=\(sensor)&limit=2").json?["packets"]?.array ?? []
            #expect(sensorPackets.count == 2 && sensorPackets.allSatisfy { $0["decoder"]?.string == "layout:espnow-sim" && $0["seq"]?.int != nil })
            Self.expectError(try await h.request(.GET, "/api/packets?field=temp"), 400, mentioning: ["field"])

            // Changing a node; the key is accepted and never shown.
            let patched = try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: #"{"name":"attic","decoder":"text","lmk":"\#(Self.lmk)"}"#)
            #expect(patched.status == 200)
            #expect(patched.json?["name"]?.string == "attic" && patched.json?["decoder"]?.string == "text" && patched.json?["hasLmk"]?.bool == true)
            #expect(h.gateway.decoderKind(for: nodeA) == .text)
            Self.expectError(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: #"{"lmk":"0011"}"#), 400, mentioning: ["lmk", "32 hex"])
            Self.expectError(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: #"{"colour":"red"}"#), 400, mentioning: ["colour"])
            Self.expectError(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: "{}"), 400, mentioning: ["name"])
            Self.expectError(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: #"{"decoder":"nope"}"#), 400, mentioning: ["decoder"])
            Self.expectError(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: "[1,2"), 400, mentioning: ["JSON"])
            let huge = #"{"name":""# + String(repeating: "x", count: 70_000) + #""}"#
            Self.expectError(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: huge), 413, mentioning: ["65536"])
            #expect(try await h.request(.GET, "/api/nodes/\(nodeA)").json?["name"]?.string == "attic")

            // Downlinks: queued over HTTP, delivered by the gateway after the sensor's next uplink.
            let queued = try await h.request(.POST, "/api/nodes/\(sensor)/downlinks", body: #"{"text":"interval=60"}"#)
            #expect(queued.status == 201)
            #expect(queued.json?["state"]?.string == "pending" && queued.json?["size"]?.int == 11)
            let id = try #require(queued.json?["id"]?.int)
            #expect(queued.headers.first(name: "Location") == "/api/downlinks/\(id)")
            let hex = try await h.request(.POST, "/api/nodes/\(sensor)/downlinks", body: #"{"hex":"01 02 ff"}"#)
            #expect(hex.status == 201 && hex.json?["payloadHex"]?.string == "0102ff")
            Self.expectError(try await h.request(.POST, "/api/nodes/\(sensor)/downlinks", body: "{}"), 400, mentioning: ["text or hex"])
            Self.expectError(try await h.request(.POST, "/api/nodes/\(sensor)/downlinks", body: #"{"text":"a","hex":"01"}"#), 400, mentioning: ["not both"])
            Self.expectError(try await h.request(.POST, "/api/nodes/\(sensor)/downlinks", body: #"{"text":""}"#), 400, mentioning: ["1 to 1470", "0"])
            Self.expectError(try await h.request(.POST, "/api/nodes/\(sensor)/downlinks", body: #"{"hex":"zz"}"#), 400, mentioning: ["hex"])
            Self.expectError(try await h.request(.POST, "/api/nodes/bad/downlinks", body: #"{"text":"a"}"#), 400, mentioning: ["bad"])
            let list = try await h.request(.GET, "/api/nodes/\(sensor)/downlinks").json?["downlinks"]?.array ?? []
            #expect(list.compactMap { $0["id"]?.int } == [id + 1, id])
            try await eventually("the downlink delivered after the sensor's next uplink") {
                try await h.request(.GET, "/api/downlinks/\(id)").json?["state"]?.string == "delivered"
            }
            #expect(try await h.request(.GET, "/api/downlinks/\(id)").json?["attempts"]?.int == 1)
            Self.expectError(try await h.request(.GET, "/api/downlinks/999999"), 404, mentioning: ["999999"])
            Self.expectError(try await h.request(.GET, "/api/downlinks/abc"), 400, mentioning: ["abc"])

            // Metrics, the document, the page, unknown routes.
            let metrics = try await h.request(.GET, "/metrics")
            #expect(metrics.status == 200 && metrics.body.contains("espnow_gateway_packets_stored_total"))
            #expect(try await h.request(.GET, "/openapi.json").json?["openapi"]?.string == "3.1.0")
            let page = try await h.request(.GET, "/")
            #expect(page.status == 200 && page.body.contains("<html"))
            #expect(try await h.request(.GET, "/static/no-such-file.js").status == 404)
            let unknown = try await h.request(.GET, "/api/nope", validate: false)
            Self.expectError(unknown, 404, mentioning: ["/api/nope"])
            #expect(unknown.json?["error"]?["code"]?.string == "not_found")

            // Every documented operation was exercised (the streams have their own tests).
            #expect(h.api.operations.subtracting(h.api.covered) == ["GET /api/stream", "GET /api/ws"])
            try LMKChecks.expectAbsent(Self.lmk, from: h.bodies.withLockedValue { $0 })
        }
    }
}

enum LMKChecks {
    /// The key in every spelling a leak could take: hex either case, with separators, base64.
    static func expectAbsent(_ lmk: String, from bodies: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = stride(from: 0, to: lmk.count, by: 2).map { i in
            UInt8(lmk[lmk.index(lmk.startIndex, offsetBy: i)..<lmk.index(lmk.startIndex, offsetBy: i + 2)], radix: 16)!
        }
        let spellings = [lmk.lowercased(), lmk.uppercased(), bytes.map { String(format: "%02x", $0) }.joined(separator: ":"),
                         bytes.map { String(format: "%02X", $0) }.joined(separator: ":"), Data(bytes).base64EncodedString(),
                         bytes.map { String($0) }.joined(separator: ",")]
        #expect(!bodies.isEmpty, sourceLocation: sourceLocation)
        for b in bodies {
            for s in spellings { #expect(!b.contains(s), "a response carries the LMK (\(s))", sourceLocation: sourceLocation) }
        }
    }
}

/// A decoder chosen over HTTP is used at once and again after a restart.
@Suite("Node changes")
struct NodeChangeTests {
    @Test func decoderSetOverHTTPOutlivesARestart() async throws {
        let h = try await GatewayHarness.start()
        let path = try #require(h.store as? SQLiteStore).path
        try await withHarness(h) { h in
            #expect(try await h.request(.PATCH, "/api/nodes/\(nodeA)", body: #"{"decoder":"raw"}"#).status == 200)
            h.gateway.ingest(uplink(nodeA, "t=1", at: ContractTests.t0))
            try await eventually("stored") { h.gateway.stats.stored == 1 }
        }
        let again = try Gateway(config: GatewayConfig(), store: try SQLiteStore(path: path), ports: [])
        let run = Task { try await again.run() }
        defer { run.cancel() }
        try await eventually("the registry's decoder in use") { again.decoderKind(for: nodeA) == .raw }
        again.ingest(uplink(nodeA, "t=2", at: ContractTests.t0 + 5_000_000))
        try await eventually("stored after the restart") { again.stats.stored == 1 }
        run.cancel()
        try await run.value
        let check = try SQLiteStore(path: path)
        let packets = try await check.queryPackets(PacketQuery(node: nodeA, ascending: true))
        #expect(packets.map(\.decoder) == ["raw", "raw"])
        #expect(try await check.queryReadings(ReadingQuery(node: nodeA)).isEmpty)
        await check.close()
    }
}
