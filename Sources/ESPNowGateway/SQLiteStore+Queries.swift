import ESPNowWire
import Foundation
import GRDB

extension SQLiteStore: GatewayQueries {
    /// `(time, id) > cursor` or `<`, with the order that goes with it. SQLite's row values use
    /// the (node, field, time_us) and (node, time_us) indexes, whose entries end with the rowid.
    static func keyset(time: String, after: PageCursor?, ascending: Bool, sql: inout String, args: inout StatementArguments) {
        if let c = after {
            sql += " AND (\(time), id) \(ascending ? ">" : "<") (?, ?)"
            args += [c.timeUs, c.id]
        }
        let dir = ascending ? "ASC" : "DESC"
        sql += " ORDER BY \(time) \(dir), id \(dir) LIMIT ?"
    }

    static func readingRow(_ r: Row) -> ReadingRow? {
        guard let mac = MACAddress(r["node"] as String) else { return nil }
        let value: Double? = r["value"]
        let reading = value.map { Reading(r["field"], $0, unit: r["unit"]) } ?? Reading(r["field"], text: r["text"] ?? "", unit: r["unit"])
        return ReadingRow(id: r["id"], packetID: r["packet_id"], node: mac, timeUs: r["time_us"], reading: reading)
    }

    public func queryReadings(_ q: ReadingQuery) async throws -> [ReadingRow] {
        try await pool.read { db in
            var sql = "SELECT id, packet_id, node, time_us, field, value, text, unit FROM readings WHERE 1 = 1"
            var args: StatementArguments = []
            if let n = q.node { sql += " AND node = ?"; args += [n.description] }
            if let f = q.field { sql += " AND field = ?"; args += [f] }
            if let t = q.fromUs { sql += " AND time_us >= ?"; args += [t] }
            if let t = q.toUs { sql += " AND time_us < ?"; args += [t] }
            Self.keyset(time: "time_us", after: q.after, ascending: q.ascending, sql: &sql, args: &args)
            args += [q.limit]
            return try Row.fetchAll(db, sql: sql, arguments: args).compactMap(Self.readingRow)
        }
    }

    public func queryPackets(_ q: PacketQuery) async throws -> [StoredPacket] {
        try await pool.read { db in
            var sql = "SELECT id, node, gateway, dongle, host_time_us, rssi, channel, payload, decoder, seq, error FROM packets WHERE 1 = 1"
            var args: StatementArguments = []
            if let n = q.node { sql += " AND node = ?"; args += [n.description] }
            if let t = q.fromUs { sql += " AND host_time_us >= ?"; args += [t] }
            if let t = q.toUs { sql += " AND host_time_us < ?"; args += [t] }
            Self.keyset(time: "host_time_us", after: q.after, ascending: q.ascending, sql: &sql, args: &args)
            args += [q.limit]
            return try Row.fetchAll(db, sql: sql, arguments: args).compactMap { r in
                guard let mac = MACAddress(r["node"] as String) else { return nil }
                return StoredPacket(id: r["id"], node: mac, gateway: r["gateway"], dongle: r["dongle"], hostTimeUs: r["host_time_us"],
                                    rssi: r["rssi"], channel: r["channel"], payload: [UInt8](r["payload"] as Data),
                                    decoder: r["decoder"], seq: r["seq"], error: r["error"])
            }
        }
    }

    public func latestReadings(node: MACAddress, scan: Int) async throws -> [ReadingRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, packet_id, node, time_us, field, value, text, unit FROM readings WHERE node = ?
                ORDER BY time_us DESC, id DESC LIMIT ?
                """, arguments: [node.description, scan]).compactMap(Self.readingRow)
        }
    }

    public func downlinks(node: MACAddress, limit: Int) async throws -> [Downlink] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.downlinkColumns) FROM downlinks WHERE node = ? ORDER BY id DESC LIMIT ?",
                             arguments: [node.description, limit]).compactMap(Self.downlink)
        }
    }

    public func nodesWithLMK() async throws -> Set<MACAddress> {
        try await pool.read { db in
            Set(try String.fetchAll(db, sql: "SELECT mac FROM nodes WHERE lmk IS NOT NULL").compactMap { MACAddress($0) })
        }
    }

    public func dropsByNode() async throws -> [MACAddress: Int64] {
        try await pool.read { db in
            var out: [MACAddress: Int64] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT detail, sum(count) AS n FROM drops WHERE detail IS NOT NULL GROUP BY detail") {
                if let m = MACAddress(r["detail"] as String) { out[m, default: 0] += r["n"] }
            }
            return out
        }
    }

    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT 1 FROM nodes LIMIT 1)") }
    }
}
