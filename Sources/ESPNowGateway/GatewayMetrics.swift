import CoreMetrics
import ESPNowDevice
import ESPNowWire
import Foundation
import NIOConcurrencyHelpers
import Prometheus

// Prometheus and Foundation have their own types of these names.
fileprivate typealias Counter = CoreMetrics.Counter
fileprivate typealias Gauge = CoreMetrics.Gauge
fileprivate typealias Recorder = CoreMetrics.Recorder
fileprivate typealias Timer = CoreMetrics.Timer

/// Prometheus metrics of one gateway, through swift-metrics with a factory over a registry
/// this object owns (no global bootstrap: several gateways, and tests, in one process do not
/// share counters). Event counts are recorded as batches commit; levels (queue depths, ages,
/// the dongles' link counters, drops) are read from the gateway when scraped.
/// Metric names and labels: docs/GATEWAY.md "Metrics".
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let gateway: Gateway

    private struct NodeMetrics {
        var packets: Counter
        var readings: Counter
        var decodeErrors: Counter
        var lastSeenAge: Gauge
        var lastRSSI: Gauge
        var lastSeenUs: Int64
    }

    private struct State {
        var nodes: [MACAddress: NodeMetrics] = [:]
        var rssi: [String: Recorder] = [:]
        /// Last value seen of every cumulative figure read at scrape time (metric+labels → value),
        /// so that Prometheus counters only ever move by the difference.
        var seen: [String: Int64] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private let commitLatency: Timer
    private let ingestLatency: Timer

    static let rssiLabel = "espnow_gateway_rssi_dbm"
    static let commitLabel = "espnow_gateway_db_commit_seconds"
    static let ingestLabel = "espnow_gateway_ingest_latency_seconds"

    /// Starts recording `gateway`'s commits into `registry` (a new one by default). Lives as
    /// long as the gateway (which keeps its observer).
    public init(gateway: Gateway, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.gateway = gateway
        var f = PrometheusMetricsFactory(registry: registry)
        f.valueHistogramBuckets[Self.rssiLabel] = [-95, -90, -85, -80, -75, -70, -65, -60, -55, -50, -40, -30]
        let ms: [Int] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
        f.durationHistogramBuckets[Self.commitLabel] = ms.map { .milliseconds($0) }
        f.durationHistogramBuckets[Self.ingestLabel] = ms.map { .milliseconds($0) }
        factory = f
        commitLatency = Timer(label: Self.commitLabel, factory: f)
        ingestLatency = Timer(label: Self.ingestLabel, factory: f)
        gateway.onCommit { [self] batch in record(batch) }
        gateway.writeTimings.withLockedValue { [commitLatency] in $0.append { ns in commitLatency.recordNanoseconds(Int64(ns)) } }
    }

    /// The registry in the Prometheus text exposition format (what `/metrics` serves).
    public func prometheusText() -> String {
        refresh(nowUs: nowUs())
        return registry.emitToString()
    }

    /// The same as bytes (no String copy for an HTTP body).
    public func prometheusBytes() -> [UInt8] {
        refresh(nowUs: nowUs())
        return registry.emitToBuffer()
    }

    /// Sets a gauge of something the gateway does not know (e.g. the HTTP server's stream clients).
    public func setLevel(_ label: String, _ value: Double, dimensions: [(String, String)] = []) {
        gauge(label, dimensions, value)
    }

    /// Advances a counter to a cumulative figure kept elsewhere (it only ever moves by the
    /// difference; a figure that went down restarted from zero).
    public func setTotal(_ label: String, _ total: Int64, dimensions: [(String, String)] = []) {
        state.withLockedValue { advance(&$0, label, dimensions, to: total) }
    }

    func record(_ batch: [Ingest]) {
        let now = monotonicNs()
        state.withLockedValue { s in
            for i in batch {
                let u = i.uplink
                let n = node(u.node, &s)
                n.packets.increment()
                n.readings.increment(by: i.decoded.readings.count)
                if i.decoded.error != nil { n.decodeErrors.increment() }
                n.lastRSSI.record(Int64(u.rssi))
                s.nodes[u.node]!.lastSeenUs = max(s.nodes[u.node]!.lastSeenUs, u.hostTimeUs)
                let r = s.rssi[u.dongle] ?? Recorder(label: Self.rssiLabel, dimensions: [("dongle", u.dongle)], factory: factory)
                s.rssi[u.dongle] = r
                r.record(Int64(u.rssi))
                if u.receivedNs > 0, now >= u.receivedNs { ingestLatency.recordNanoseconds(Int64(now - u.receivedNs)) }
            }
        }
    }

    private func node(_ mac: MACAddress, _ s: inout State) -> NodeMetrics {
        if let n = s.nodes[mac] { return n }
        let d = [("node", mac.description)]
        let n = NodeMetrics(
            packets: Counter(label: "espnow_gateway_node_packets_total", dimensions: d, factory: factory),
            readings: Counter(label: "espnow_gateway_node_readings_total", dimensions: d, factory: factory),
            decodeErrors: Counter(label: "espnow_gateway_node_decode_errors_total", dimensions: d, factory: factory),
            lastSeenAge: Gauge(label: "espnow_gateway_node_last_seen_age_seconds", dimensions: d, factory: factory),
            lastRSSI: Gauge(label: "espnow_gateway_node_rssi_dbm", dimensions: d, factory: factory),
            lastSeenUs: 0)
        s.nodes[mac] = n
        return n
    }

    /// Adds to a counter what a cumulative figure grew by since the last scrape (a figure that
    /// went down restarted from zero: a new device connection).
    private func advance(_ s: inout State, _ label: String, _ dims: [(String, String)], to value: Int64) {
        let key = label + dims.map { "|\($0.0)=\($0.1)" }.joined()
        let last = s.seen[key] ?? 0
        let delta = value >= last ? value - last : value
        s.seen[key] = value
        // Created even at zero, so that the series exists from the first scrape.
        Counter(label: label, dimensions: dims, factory: factory).increment(by: delta)
    }

    private func gauge(_ label: String, _ dims: [(String, String)] = [], _ v: Double) {
        Gauge(label: label, dimensions: dims, factory: factory).record(v)
    }

    func refresh(nowUs now: Int64) {
        let st = gateway.stats
        let devices = gateway.devices.withLockedValue { $0 }
        let hooks = gateway.webhooks.map { ($0.name, $0.stats) }
        let pending = gateway.downlinks.pendingCount
        state.withLockedValue { s in
            for n in s.nodes.values where n.lastSeenUs > 0 {
                n.lastSeenAge.record(Double(max(0, now - n.lastSeenUs)) / 1e6)
            }
            advance(&s, "espnow_gateway_packets_received_total", [], to: st.received)
            advance(&s, "espnow_gateway_packets_stored_total", [], to: st.stored)
            advance(&s, "espnow_gateway_packets_duplicate_total", [], to: st.duplicates)
            advance(&s, "espnow_gateway_readings_total", [], to: st.readings)
            advance(&s, "espnow_gateway_decode_errors_total", [], to: st.decodeErrors)
            for cause in DropCause.allCases {
                advance(&s, "espnow_gateway_drops_total", [("cause", cause.rawValue)], to: st.drops[cause.rawValue] ?? 0)
            }
            advance(&s, "espnow_gateway_downlinks_total", [("result", "delivered")], to: st.downlinksDelivered)
            advance(&s, "espnow_gateway_downlinks_total", [("result", "failed_attempt")], to: st.downlinksFailedAttempts)
            for (port, c) in devices.map({ ($0.key, $0.value.hostCounters) }) {
                let d = [("dongle", port)]
                advance(&s, "espnow_gateway_link_frames_total", d, to: Int64(c.link.frames))
                advance(&s, "espnow_gateway_link_bad_crc_total", d, to: Int64(c.link.badCRC))
                advance(&s, "espnow_gateway_link_dropped_frames_total", d, to: Int64(c.link.dropped))
                advance(&s, "espnow_gateway_link_retransmissions_total", d, to: Int64(c.retransmissions))
                advance(&s, "espnow_gateway_link_reboots_total", d, to: Int64(c.reboots))
                advance(&s, "espnow_gateway_link_reconnects_total", d, to: Int64(c.reconnects))
            }
            for (name, w) in hooks {
                for (result, v) in [("delivered", w.delivered), ("retried", w.retries), ("failed", w.failed), ("dropped", w.dropped)] {
                    advance(&s, "espnow_gateway_webhook_bodies_total", [("webhook", name), ("result", result)], to: v)
                }
            }
        }
        gauge("espnow_gateway_queue_depth", [], Double(st.queueDepth))
        gauge("espnow_gateway_spool_depth", [], Double(st.spoolDepth))
        gauge("espnow_gateway_database_up", [], st.databaseUp ? 1 : 0)
        gauge("espnow_gateway_downlinks_pending", [], Double(pending))
        for (port, d) in st.dongles {
            gauge("espnow_gateway_dongle_connected", [("dongle", port)], d.connected ? 1 : 0)
        }
        for (name, w) in hooks {
            gauge("espnow_gateway_webhook_queue_depth", [("webhook", name)], Double(w.queued))
        }
    }
}
