import ESPNowWire
import NIOCore
import PostgresNIO

extension PostgresStore: GatewayQueries {
    /// Every optional filter is a bound parameter (`$n IS NULL OR …`); the planner still uses
    /// the (node, field, time_us) and (node, time_us) indexes for the filters that are set.
    public func queryReadings(_ q: ReadingQuery) async throws -> [ReadingRow] {
        let node = q.node?.description, field = q.field
        let cT = q.after?.timeUs, cI = q.after?.id
        let asc = q.ascending
        let query: PostgresQuery = asc
            ? """
            SELECT id, packet_id, node, time_us, field, value, text, unit FROM readings
            WHERE (\(node)::text IS NULL OR node = \(node)) AND (\(field)::text IS NULL OR field = \(field))
              AND (\(q.fromUs)::int8 IS NULL OR time_us >= \(q.fromUs)) AND (\(q.toUs)::int8 IS NULL OR time_us < \(q.toUs))
              AND (\(cT)::int8 IS NULL OR (time_us, id) > (\(cT), \(cI)))
            ORDER BY time_us ASC, id ASC LIMIT \(Int64(q.limit))
            """
            : """
            SELECT id, packet_id, node, time_us, field, value, text, unit FROM readings
            WHERE (\(node)::text IS NULL OR node = \(node)) AND (\(field)::text IS NULL OR field = \(field))
              AND (\(q.fromUs)::int8 IS NULL OR time_us >= \(q.fromUs)) AND (\(q.toUs)::int8 IS NULL OR time_us < \(q.toUs))
              AND (\(cT)::int8 IS NULL OR (time_us, id) < (\(cT), \(cI)))
            ORDER BY time_us DESC, id DESC LIMIT \(Int64(q.limit))
            """
        return try await readingRows(query)
    }

    func readingRows(_ query: PostgresQuery) async throws -> [ReadingRow] {
        try await reader.run { c, logger in
            var out: [ReadingRow] = []
            for try await r in try await c.query(query, logger: logger)
                .decode((Int64, Int64, String, Int64, String, Double?, String?, String?).self) {
                guard let mac = MACAddress(r.2) else { continue }
                let reading = r.5.map { Reading(r.4, $0, unit: r.7) } ?? Reading(r.4, text: r.6 ?? "", unit: r.7)
                out.append(ReadingRow(id: r.0, packetID: r.1, node: mac, timeUs: r.3, reading: reading))
            }
            return out
        }
    }

    public func queryPackets(_ q: PacketQuery) async throws -> [StoredPacket] {
        let node = q.node?.description
        let cT = q.after?.timeUs, cI = q.after?.id
        let query: PostgresQuery = q.ascending
            ? """
            SELECT id, node, gateway, dongle, host_time_us, rssi, channel, payload, decoder, seq, error FROM packets
            WHERE (\(node)::text IS NULL OR node = \(node))
              AND (\(q.fromUs)::int8 IS NULL OR host_time_us >= \(q.fromUs)) AND (\(q.toUs)::int8 IS NULL OR host_time_us < \(q.toUs))
              AND (\(cT)::int8 IS NULL OR (host_time_us, id) > (\(cT), \(cI)))
            ORDER BY host_time_us ASC, id ASC LIMIT \(Int64(q.limit))
            """
            : """
            SELECT id, node, gateway, dongle, host_time_us, rssi, channel, payload, decoder, seq, error FROM packets
            WHERE (\(node)::text IS NULL OR node = \(node))
              AND (\(q.fromUs)::int8 IS NULL OR host_time_us >= \(q.fromUs)) AND (\(q.toUs)::int8 IS NULL OR host_time_us < \(q.toUs))
              AND (\(cT)::int8 IS NULL OR (host_time_us, id) < (\(cT), \(cI)))
            ORDER BY host_time_us DESC, id DESC LIMIT \(Int64(q.limit))
            """
        return try await reader.run { c, logger in
            var out: [StoredPacket] = []
            for try await r in try await c.query(query, logger: logger)
                .decode((Int64, String, String, String, Int64, Int64, Int64, ByteBuffer, String, Int64?, String?).self) {
                guard let mac = MACAddress(r.1) else { continue }
                out.append(StoredPacket(id: r.0, node: mac, gateway: r.2, dongle: r.3, hostTimeUs: r.4, rssi: Int(r.5), channel: Int(r.6),
                                        payload: Array(r.7.readableBytesView), decoder: r.8, seq: r.9, error: r.10))
            }
            return out
        }
    }

    public func latestReadings(node: MACAddress, scan: Int) async throws -> [ReadingRow] {
        try await readingRows("""
            SELECT id, packet_id, node, time_us, field, value, text, unit FROM readings WHERE node = \(node.description)
            ORDER BY time_us DESC, id DESC LIMIT \(Int64(scan))
            """)
    }

    public func downlinks(node: MACAddress, limit: Int) async throws -> [Downlink] {
        try await reader.run { c, logger in
            var out: [Downlink] = []
            for try await r in try await c.query("""
                SELECT id, node, payload, state, attempts, max_attempts, created_us, updated_us, last_error FROM downlinks
                WHERE node = \(node.description) ORDER BY id DESC LIMIT \(Int64(limit))
                """, logger: logger).decode((Int64, String, ByteBuffer, String, Int64, Int64, Int64, Int64, String?).self) {
                guard let mac = MACAddress(r.1), let s = DownlinkState(rawValue: r.3) else { continue }
                out.append(Downlink(id: r.0, node: mac, payload: Array(r.2.readableBytesView), state: s, attempts: Int(r.4),
                                    maxAttempts: Int(r.5), createdUs: r.6, updatedUs: r.7, lastError: r.8))
            }
            return out
        }
    }

    public func nodesWithLMK() async throws -> Set<MACAddress> {
        try await reader.run { c, logger in
            var out = Set<MACAddress>()
            for try await m in try await c.query("SELECT mac FROM nodes WHERE lmk IS NOT NULL", logger: logger).decode(String.self) {
                if let mac = MACAddress(m) { out.insert(mac) }
            }
            return out
        }
    }

    public func dropsByNode() async throws -> [MACAddress: Int64] {
        try await reader.run { c, logger in
            var out: [MACAddress: Int64] = [:]
            for try await (d, n) in try await c.query(
                "SELECT detail, sum(count)::int8 FROM drops WHERE detail IS NOT NULL GROUP BY detail", logger: logger
            ).decode((String, Int64).self) {
                if let m = MACAddress(d) { out[m, default: 0] += n }
            }
            return out
        }
    }

    public func ping() async throws {
        try await reader.run { c, logger in
            for try await _ in try await c.query("SELECT count(*) FROM (SELECT 1 FROM nodes LIMIT 1) AS n", logger: logger).decode(Int64.self) {}
        }
    }
}
