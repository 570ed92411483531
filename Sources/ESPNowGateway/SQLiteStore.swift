import ESPNowWire
import Foundation
import GRDB

/// The default store: one SQLite file (WAL, so readers never block the writer), written in
/// batched transactions with cached prepared statements.
public final class SQLiteStore: GatewayStore {
    public let kind = "sqlite"
    public let isRemote = false
    public let path: String
    let pool: DatabasePool

    public init(path: String) throws {
        self.path = path
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // WAL with NORMAL sync: a commit survives a crash of the gateway; a power cut can
            // lose the last transactions but never corrupts the file.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw StoreError("cannot open the SQLite database \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            for sql in Schema.v1(.sqlite) { try db.execute(sql: sql) }
        }
        m.registerMigration("v2") { db in
            for sql in Schema.v2(.sqlite) { try db.execute(sql: sql) }
        }
        return m
    }

    public func migrate() async throws {
        try Self.migrator.migrate(pool)
    }

    public func write(_ batch: [Ingest], drops: [DropRecord], dedup: DedupPolicy) async throws -> WriteOutcome {
        let (keep, inBatchDups) = dedup.withinBatch(batch)
        return try await pool.write { db in
            var outcome = WriteOutcome()
            var stored: [Ingest] = []
            var dups = inBatchDups
            let dedupStmt = try db.cachedStatement(sql: """
                INSERT INTO dedup (node, key, seen_us, window_us) VALUES (?, ?, ?, ?)
                ON CONFLICT (node, key) DO UPDATE SET seen_us = excluded.seen_us, window_us = excluded.window_us
                WHERE abs(excluded.seen_us - dedup.seen_us) > excluded.window_us
                RETURNING 1
                """)
            let packetStmt = try db.cachedStatement(sql: """
                INSERT INTO packets (node, gateway, dongle, host_time_us, device_time_us, rssi, channel, rate, payload, decoder, seq, error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let readingStmt = try db.cachedStatement(sql: """
                INSERT INTO readings (packet_id, node, time_us, field, value, text, unit) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for (i, key) in keep {
                let node = i.uplink.node.description
                if let key {
                    let fresh = try Row.fetchOne(dedupStmt, arguments: [node, key.key, i.uplink.hostTimeUs, key.windowUs]) != nil
                    if !fresh {
                        dups.append(i)
                        continue
                    }
                }
                let u = i.uplink
                try packetStmt.execute(arguments: [
                    node, i.gateway, u.dongle, u.hostTimeUs, Int64(u.deviceTimeUs), Int(u.rssi), Int(u.channel), Int(u.rate),
                    Data(u.payload), i.decoded.decoder, i.decoded.seq.map { Int64(bitPattern: $0) }, i.decoded.error,
                ])
                let packetID = db.lastInsertedRowID
                for r in i.decoded.readings {
                    try readingStmt.execute(arguments: [packetID, node, u.hostTimeUs, r.field, r.value, r.text, r.unit])
                }
                outcome.readings += i.decoded.readings.count
                stored.append(i)
            }
            let nodeStmt = try db.cachedStatement(sql: """
                INSERT INTO nodes (mac, first_seen_us, last_seen_us, packets, duplicates, decode_errors, last_rssi, last_channel, last_gateway)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (mac) DO UPDATE SET
                  first_seen_us = coalesce(min(nodes.first_seen_us, excluded.first_seen_us), excluded.first_seen_us),
                  packets = nodes.packets + excluded.packets,
                  duplicates = nodes.duplicates + excluded.duplicates,
                  decode_errors = nodes.decode_errors + excluded.decode_errors,
                  last_rssi = CASE WHEN excluded.last_seen_us >= coalesce(nodes.last_seen_us, 0) THEN excluded.last_rssi ELSE nodes.last_rssi END,
                  last_channel = CASE WHEN excluded.last_seen_us >= coalesce(nodes.last_seen_us, 0) THEN excluded.last_channel ELSE nodes.last_channel END,
                  last_gateway = CASE WHEN excluded.last_seen_us >= coalesce(nodes.last_seen_us, 0) THEN excluded.last_gateway ELSE nodes.last_gateway END,
                  last_seen_us = max(coalesce(nodes.last_seen_us, 0), excluded.last_seen_us)
                """)
            for (mac, t) in NodeTally.tally(stored: stored, duplicates: dups) {
                try nodeStmt.execute(arguments: [mac.description, t.firstUs, t.lastUs, t.packets, t.duplicates, t.errors,
                                                 t.rssi, t.channel, t.gateway])
            }
            for d in drops {
                try db.execute(sql: "INSERT INTO drops (time_us, gateway, cause, count, detail) VALUES (?, ?, ?, ?, ?)",
                               arguments: [d.timeUs, d.gateway, d.cause.rawValue, d.count, d.detail])
            }
            outcome.stored = stored.count
            outcome.duplicates = dups.count
            return outcome
        }
    }

    public func configureNode(_ mac: MACAddress, name: String?, decoder: String?, lmk: [UInt8]?) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO nodes (mac, name, decoder, lmk) VALUES (?, ?, ?, ?)
                ON CONFLICT (mac) DO UPDATE SET name = coalesce(excluded.name, nodes.name),
                  decoder = coalesce(excluded.decoder, nodes.decoder), lmk = coalesce(excluded.lmk, nodes.lmk)
                """, arguments: [mac.description, name, decoder, lmk.map { Data($0) }])
        }
    }

    public func nodeLMKs() async throws -> [MACAddress: [UInt8]] {
        try await pool.read { db in
            var out: [MACAddress: [UInt8]] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT mac, lmk FROM nodes WHERE lmk IS NOT NULL") {
                if let mac = MACAddress(r["mac"] as String), let key = r["lmk"] as Data? { out[mac] = Array(key) }
            }
            return out
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT mac, name, decoder, first_seen_us, last_seen_us, packets, duplicates, decode_errors, last_rssi,
                       last_channel, last_gateway FROM nodes ORDER BY mac
                """).compactMap { r in
                guard let mac = MACAddress(r["mac"] as String) else { return nil }
                return NodeRecord(mac: mac, name: r["name"], decoder: r["decoder"], firstSeenUs: r["first_seen_us"],
                                  lastSeenUs: r["last_seen_us"], packets: r["packets"], duplicates: r["duplicates"],
                                  decodeErrors: r["decode_errors"], lastRSSI: r["last_rssi"], lastChannel: r["last_channel"],
                                  lastGateway: r["last_gateway"])
            }
        }
    }

    public func queueDownlink(node: MACAddress, payload: [UInt8], maxAttempts: Int, nowUs: Int64) async throws -> Int64 {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO downlinks (node, payload, state, attempts, max_attempts, created_us, updated_us)
                VALUES (?, ?, 'pending', 0, ?, ?, ?)
                """, arguments: [node.description, Data(payload), maxAttempts, nowUs, nowUs])
            return db.lastInsertedRowID
        }
    }

    static let downlinkColumns = "id, node, payload, state, attempts, max_attempts, created_us, updated_us, last_error"

    static func downlink(_ r: Row) -> Downlink? {
        guard let mac = MACAddress(r["node"] as String), let state = DownlinkState(rawValue: r["state"]) else { return nil }
        return Downlink(id: r["id"], node: mac, payload: [UInt8](r["payload"] as Data), state: state, attempts: r["attempts"],
                        maxAttempts: r["max_attempts"], createdUs: r["created_us"], updatedUs: r["updated_us"],
                        lastError: r["last_error"])
    }

    public func pendingDownlinks() async throws -> [Downlink] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.downlinkColumns) FROM downlinks WHERE state = 'pending' ORDER BY id")
                .compactMap(Self.downlink)
        }
    }

    public func claimDownlink(id: Int64, gateway: String, nowUs: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE downlinks SET state = 'sending', gateway = ?, updated_us = ? WHERE id = ? AND state = 'pending'",
                           arguments: [gateway, nowUs, id])
            return db.changesCount == 1
        }
    }

    public func finishDownlink(id: Int64, delivered: Bool, error: String?, nowUs: Int64) async throws -> DownlinkState {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE downlinks SET attempts = attempts + 1, updated_us = ?, last_error = ?,
                  state = CASE WHEN ? THEN 'delivered' WHEN attempts + 1 >= max_attempts THEN 'failed' ELSE 'pending' END
                WHERE id = ?
                """, arguments: [nowUs, error, delivered, id])
            let s = try String.fetchOne(db, sql: "SELECT state FROM downlinks WHERE id = ?", arguments: [id])
            return s.flatMap(DownlinkState.init(rawValue:)) ?? .failed
        }
    }

    public func downlink(id: Int64) async throws -> Downlink? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.downlinkColumns) FROM downlinks WHERE id = ?", arguments: [id]).flatMap(Self.downlink)
        }
    }

    public func releaseClaims(gateway: String, nowUs: Int64) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE downlinks SET state = 'pending', updated_us = ? WHERE state = 'sending' AND gateway = ?",
                           arguments: [nowUs, gateway])
            return db.changesCount
        }
    }

    public func readings(node: MACAddress?, field: String?, sinceUs: Int64?, limit: Int) async throws -> [StoredReading] {
        try await pool.read { db in
            var sql = "SELECT packet_id, node, time_us, field, value, text, unit FROM readings WHERE 1 = 1"
            var args: StatementArguments = []
            if let node { sql += " AND node = ?"; args += [node.description] }
            if let field { sql += " AND field = ?"; args += [field] }
            if let sinceUs { sql += " AND time_us >= ?"; args += [sinceUs] }
            sql += " ORDER BY time_us DESC, id DESC LIMIT ?"
            args += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: args).compactMap { r in
                guard let mac = MACAddress(r["node"] as String) else { return nil }
                let value: Double? = r["value"]
                let reading = value.map { Reading(r["field"], $0, unit: r["unit"]) } ?? Reading(r["field"], text: r["text"] ?? "", unit: r["unit"])
                return StoredReading(packetID: r["packet_id"], node: mac, timeUs: r["time_us"], reading: reading)
            }
        }
    }

    public func packets(node: MACAddress?, limit: Int) async throws -> [StoredPacket] {
        try await pool.read { db in
            var sql = "SELECT id, node, gateway, dongle, host_time_us, rssi, channel, payload, decoder, seq, error FROM packets"
            var args: StatementArguments = []
            if let node { sql += " WHERE node = ?"; args += [node.description] }
            sql += " ORDER BY id LIMIT ?"
            args += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: args).compactMap { r in
                guard let mac = MACAddress(r["node"] as String) else { return nil }
                return StoredPacket(id: r["id"], node: mac, gateway: r["gateway"], dongle: r["dongle"], hostTimeUs: r["host_time_us"],
                                    rssi: r["rssi"], channel: r["channel"], payload: [UInt8](r["payload"] as Data),
                                    decoder: r["decoder"], seq: r["seq"], error: r["error"])
            }
        }
    }

    public func dropTotals() async throws -> [String: Int64] {
        try await pool.read { db in
            var out: [String: Int64] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT cause, sum(count) AS n FROM drops GROUP BY cause") { out[r["cause"]] = r["n"] }
            return out
        }
    }

    /// Rows retention deletes per write transaction: SQLite has one writer, so a large
    /// delete in one transaction would hold up the ingest batches behind it.
    public static let pruneChunk = 5_000

    public func prune(rawBeforeUs: Int64?, readingsBeforeUs: Int64?, dedupBeforeUs: Int64) async throws -> (Int, Int) {
        try await prune(rawBeforeUs: rawBeforeUs, readingsBeforeUs: readingsBeforeUs, dedupBeforeUs: dedupBeforeUs,
                        chunk: Self.pruneChunk)
    }

    /// Deletes in chunks of `chunk` rows, one transaction each, so ingest writes interleave.
    public func prune(rawBeforeUs: Int64?, readingsBeforeUs: Int64?, dedupBeforeUs: Int64, chunk: Int) async throws -> (Int, Int) {
        precondition(chunk > 0)
        func deleteAll(_ table: String, _ column: String, before t: Int64) async throws -> Int {
            var total = 0
            while true {
                let n = try await pool.write { db -> Int in
                    try db.execute(sql: "DELETE FROM \(table) WHERE rowid IN (SELECT rowid FROM \(table) WHERE \(column) < ? LIMIT ?)",
                                   arguments: [t, chunk])
                    return db.changesCount
                }
                total += n
                if n < chunk { return total }
            }
        }
        var p = 0, r = 0
        if let t = rawBeforeUs { p = try await deleteAll("packets", "host_time_us", before: t) }
        if let t = readingsBeforeUs { r = try await deleteAll("readings", "time_us", before: t) }
        _ = try await deleteAll("dedup", "seen_us", before: dedupBeforeUs)
        return (p, r)
    }

    public func close() async {
        try? pool.close()
    }
}
