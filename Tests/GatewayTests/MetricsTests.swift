import ESPNowGateway
import ESPNowWire
import Foundation
import GatewayTestSupport
import Testing

/// The Prometheus scrape after a known feed: exact per-node counts, drops by cause, the
/// histograms, and a text that parses as the exposition format.
@Suite("Metrics")
struct MetricsTests {
    static let nodeC = MACAddress(0x02, 0, 0, 0, 0, 0xC3)

    /// Per seq: a sensor packet (3 readings) from A, a JSON packet (2 readings) from B, a
    /// packet from C (not on the allow-list); then one undecodable packet from B.
    static func feed(_ g: Gateway, seqs: ClosedRange<UInt32>) {
        for s in seqs {
            g.ingest(Uplink(node: nodeA, payload: GatewayServiceTests.simPayload(seq: s), hostTimeUs: nowUsForTests(),
                            rssi: -40, dongle: "d1", receivedNs: 1))
            g.ingest(Uplink(node: nodeB, payload: Array("{\"t\": \(s), \"h\": 5}".utf8), hostTimeUs: nowUsForTests(), rssi: -72, dongle: "d2"))
            g.ingest(Uplink(node: nodeC, payload: [1, 2, 3], hostTimeUs: nowUsForTests(), rssi: -80, dongle: "d1"))
        }
        g.ingest(Uplink(node: nodeB, payload: Array("{\"broken\(seqs.lowerBound)".utf8), hostTimeUs: nowUsForTests(), rssi: -90, dongle: "d2"))
    }

    static func makeGateway() throws -> Gateway {
        var config = GatewayConfig()
        config.gatewayID = "metrics"
        config.allow = [nodeA, nodeB]
        config.nodes[nodeB] = NodeConfig(mac: nodeB, decoder: .json)
        return try Gateway(config: config, store: try SQLiteStore(path: tempPath("m.sqlite")), ports: [])
    }

    @Test func scrapeCountsAKnownFeedExactly() async throws {
        let g = try Self.makeGateway()
        let metrics = GatewayMetrics(gateway: g)
        // A second gateway in the same process keeps its own books.
        let other = try Self.makeGateway()
        let otherMetrics = GatewayMetrics(gateway: other)

        Self.feed(g, seqs: 1...40)
        Self.feed(other, seqs: 1...3)
        try await GatewayServiceTests.running([g, other]) {
            try await eventually("81 stored") { g.stats.stored == 81 && other.stats.stored == 7 }
            let p = try PrometheusText(metrics.prometheusText())
            let a = ["node": nodeA.description], b = ["node": nodeB.description]
            #expect(p.value("espnow_gateway_node_packets_total", a) == 40)
            #expect(p.value("espnow_gateway_node_readings_total", a) == 120)
            #expect(p.value("espnow_gateway_node_packets_total", b) == 41)
            #expect(p.value("espnow_gateway_node_readings_total", b) == 80)
            #expect(p.value("espnow_gateway_node_decode_errors_total", b) == 1)
            #expect(p.value("espnow_gateway_node_decode_errors_total", a) == 0)
            #expect(p.value("espnow_gateway_node_packets_total", ["node": Self.nodeC.description]) == nil)
            #expect(p.value("espnow_gateway_packets_received_total") == 121)
            #expect(p.value("espnow_gateway_packets_stored_total") == 81)
            #expect(p.value("espnow_gateway_readings_total") == 200)
            #expect(p.value("espnow_gateway_drops_total", ["cause": "not_allowed"]) == 40)
            #expect(p.value("espnow_gateway_drops_total", ["cause": "gateway_queue"]) == 0)
            #expect(p.value("espnow_gateway_node_rssi_dbm", a) == -40)
            #expect(p.value("espnow_gateway_node_rssi_dbm", b) == -90)
            // RSSI histogram per dongle: 40 at -40 dBm on d1; 40 at -72 and one at -90 on d2.
            #expect(p.value("espnow_gateway_rssi_dbm_count", ["dongle": "d1"]) == 40)
            #expect(p.value("espnow_gateway_rssi_dbm_bucket", ["dongle": "d1", "le": "-50.0"]) == 0)
            #expect(p.value("espnow_gateway_rssi_dbm_bucket", ["dongle": "d1", "le": "-40.0"]) == 40)
            #expect(p.value("espnow_gateway_rssi_dbm_bucket", ["dongle": "d2", "le": "-90.0"]) == 1)
            #expect(p.value("espnow_gateway_rssi_dbm_bucket", ["dongle": "d2", "le": "-70.0"]) == 41)
            #expect(p.value("espnow_gateway_rssi_dbm_sum", ["dongle": "d2"]) == Double(-72 * 40 - 90))
            // Every commit timed (at least one batch), every A packet's latency (it has receivedNs).
            #expect(p.total("espnow_gateway_db_commit_seconds_count") >= 1)
            #expect(p.value("espnow_gateway_ingest_latency_seconds_count") == 40)
            #expect(p.value("espnow_gateway_queue_depth") == 0)
            #expect(p.value("espnow_gateway_spool_depth") == 0)
            #expect(p.value("espnow_gateway_database_up") == 1)
            #expect(p.value("espnow_gateway_downlinks_pending") == 0)
            let age = try #require(p.value("espnow_gateway_node_last_seen_age_seconds", a))
            #expect(age >= 0 && age < 3600)
            #expect(p.types["espnow_gateway_node_packets_total"] == "counter")
            #expect(p.types["espnow_gateway_rssi_dbm"] == "histogram")
            #expect(p.types["espnow_gateway_queue_depth"] == "gauge")

            // The other gateway's registry saw only its own feed.
            let q = try PrometheusText(otherMetrics.prometheusText())
            #expect(q.value("espnow_gateway_node_packets_total", a) == 3)
            #expect(q.value("espnow_gateway_drops_total", ["cause": "not_allowed"]) == 3)

            // A second scrape moves by exactly what happened in between.
            Self.feed(g, seqs: 41...50)
            try await eventually("102 stored") { g.stats.stored == 102 }
            let p2 = try PrometheusText(metrics.prometheusText())
            #expect(p2.value("espnow_gateway_node_packets_total", a) == 50)
            #expect(p2.value("espnow_gateway_node_packets_total", b) == 52)
            #expect(p2.value("espnow_gateway_drops_total", ["cause": "not_allowed"]) == 50)
            #expect(p2.value("espnow_gateway_packets_received_total") == 152)
        }
    }

    @Test func figuresKeptElsewhere() throws {
        let metrics = GatewayMetrics(gateway: try Self.makeGateway())
        metrics.setTotal("espnow_gateway_stream_dropped_total", 5)
        metrics.setTotal("espnow_gateway_stream_dropped_total", 7)
        metrics.setLevel("espnow_gateway_stream_clients", 3)
        var p = try PrometheusText(metrics.prometheusText())
        #expect(p.value("espnow_gateway_stream_dropped_total") == 7)
        #expect(p.value("espnow_gateway_stream_clients") == 3)
        // A figure that went down restarted from zero: the counter moves on by the new value.
        metrics.setTotal("espnow_gateway_stream_dropped_total", 2)
        p = try PrometheusText(metrics.prometheusText())
        #expect(p.value("espnow_gateway_stream_dropped_total") == 9)
    }

    @Test func parserRejectsMalformedText() {
        for bad in ["metric{a=\"1\" 2", "1metric 2", "m{a=1} 2", "m two", "# TYPE m countr", "m{a=\"x\\q\"} 1"] {
            #expect(throws: PrometheusText.Invalid.self, "\(bad)") { try PrometheusText(bad) }
        }
        #expect(throws: PrometheusText.Invalid.self) {
            try PrometheusText("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n")
        }
        #expect((try? PrometheusText("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\nm{a=\"q\\\"\"} 1.5e3\n")) != nil)
    }
}
