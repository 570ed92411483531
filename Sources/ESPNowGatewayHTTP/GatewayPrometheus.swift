import ESPNowGateway

/// `/metrics` until the gateway's own swift-metrics instrumentation is wired in: the
/// gateway's counters in the Prometheus text format (a replaceable piece; the server takes
/// any `() -> String` instead).
enum GatewayPrometheus {
    static func text(_ s: GatewayStats, streamDropped: Int, streamClients: Int) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Int64)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, v) in samples { out += "\(name)\(labels) \(v)\n" }
        }
        metric("espnow_gateway_packets_received_total", "counter", "Packets handed to the gateway.", [("", s.received)])
        metric("espnow_gateway_packets_stored_total", "counter", "Packets written to the database.", [("", s.stored)])
        metric("espnow_gateway_duplicates_total", "counter", "Packets recognised as duplicates.", [("", s.duplicates)])
        metric("espnow_gateway_readings_total", "counter", "Readings written.", [("", s.readings)])
        metric("espnow_gateway_decode_errors_total", "counter", "Packets whose payload did not decode.", [("", s.decodeErrors)])
        metric("espnow_gateway_downlinks_delivered_total", "counter", "Downlinks acknowledged by their node.", [("", s.downlinksDelivered)])
        var drops = s.drops.sorted { $0.key < $1.key }.map { ("{cause=\"\($0.key)\"}", $0.value) }
        drops.append(("{cause=\"stream_client\"}", Int64(streamDropped)))
        metric("espnow_gateway_drops_total", "counter", "Packets (or streamed readings) dropped, by cause.", drops)
        metric("espnow_gateway_queue_depth", "gauge", "Packets waiting between the radios and the database.", [("", Int64(s.queueDepth))])
        metric("espnow_gateway_spool_depth", "gauge", "Packets spooled while the database is away.", [("", Int64(s.spoolDepth))])
        metric("espnow_gateway_database_up", "gauge", "1 while the database accepts writes.", [("", s.databaseUp ? 1 : 0)])
        metric("espnow_gateway_dongle_connected", "gauge", "1 per connected dongle.",
               s.dongles.values.sorted { $0.port < $1.port }.map { ("{port=\"\(escape($0.port))\"}", $0.connected ? 1 : 0) })
        metric("espnow_gateway_stream_clients", "gauge", "Live stream (SSE and WebSocket) clients.", [("", Int64(streamClients))])
        return out
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
