import ESPNowWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// PostgreSQL for fleets: several gateways write into one database; de-duplication is one
/// atomic `INSERT … ON CONFLICT` per batch, so a packet heard by two gateways is stored
/// once whichever commits first. Batches travel as arrays (`unnest`), a few statements per
/// batch whatever its size. Two connections: one for the writer, one for everything else
/// (downlinks, queries), each reopened on the next call after a failure.
public final class PostgresStore: GatewayStore {
    public let kind = "postgres"
    public let isRemote = true
    let configuration: PostgresConnection.Configuration
    let writer: PGLink
    let other: PGLink
    /// Read-only queries of the HTTP API (``GatewayQueries``): never inside another caller's
    /// transaction (statements sent on one connection while a transaction is open join it).
    let reader: PGLink
    public let url: String

    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or a Unix socket with
    /// `postgres://USER@/DB?host=/run/postgresql` (the directory, as libpq writes it).
    public init(url: String, logger: Logger = Logger(label: "espnow.gateway.postgres")) throws {
        self.url = url
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw StoreError("\(url) is not a postgres:// URL")
        }
        let user = c.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        let password = c.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        let db = String(c.path.drop { $0 == "/" })
        let port = c.port ?? 5432
        var cfg: PostgresConnection.Configuration
        if let dir = c.queryItems?.first(where: { $0.name == "host" })?.value, dir.hasPrefix("/") {
            cfg = .init(unixSocketPath: "\(dir)/.s.PGSQL.\(port)", username: user, password: password, database: db.isEmpty ? nil : db)
        } else if let host = c.host, !host.isEmpty {
            cfg = .init(host: host, port: port, username: user, password: password, database: db.isEmpty ? nil : db, tls: .disable)
        } else {
            throw StoreError("\(url): name a host (postgres://user@host/db) or a socket directory (?host=/run/postgresql)")
        }
        cfg.options.connectTimeout = .seconds(3)
        configuration = cfg
        writer = PGLink(configuration: cfg, logger: logger)
        other = PGLink(configuration: cfg, logger: logger)
        reader = PGLink(configuration: cfg, logger: logger)
    }

    public func migrate() async throws {
        try await other.transaction { c, logger in
            // One gateway at a time creates the schema.
            try await c.query("SELECT pg_advisory_xact_lock(7171717)", logger: logger)
            try await c.query("CREATE TABLE IF NOT EXISTS gateway_schema (version INT PRIMARY KEY, applied_us BIGINT NOT NULL)", logger: logger)
            var have = Set<Int>()
            for try await v in try await c.query("SELECT version FROM gateway_schema", logger: logger).decode(Int.self) { have.insert(v) }
            if !have.contains(1) {
                for sql in Schema.v1(.postgres) { try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                try await c.query("INSERT INTO gateway_schema (version, applied_us) VALUES (1, \(nowUs()))", logger: logger)
            }
            if !have.contains(2) {
                for sql in Schema.v2(.postgres) { try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                try await c.query("INSERT INTO gateway_schema (version, applied_us) VALUES (2, \(nowUs()))", logger: logger)
            }
        }
    }

    public func write(_ batch: [Ingest], drops: [DropRecord], dedup: DedupPolicy) async throws -> WriteOutcome {
        let (keep, inBatchDups) = dedup.withinBatch(batch)
        return try await writer.transaction { c, logger in
            var outcome = WriteOutcome()
            var dups = inBatchDups
            // 1. De-duplication keys, sorted so that two gateways lock rows in the same order.
            let keyed = keep.enumerated().compactMap { i, e in e.1.map { (i, e.0.uplink.node.description, $0.key, e.0.uplink.hostTimeUs, $0.windowUs) } }
                .sorted { ($0.1, $0.2) < ($1.1, $1.2) }
            var fresh = Set<String>()
            if !keyed.isEmpty {
                let rows = try await c.query("""
                    INSERT INTO dedup (node, key, seen_us, window_us)
                    SELECT * FROM unnest(\(keyed.map(\.1))::text[], \(keyed.map(\.2))::text[], \(keyed.map(\.3))::int8[], \(keyed.map(\.4))::int8[])
                    ON CONFLICT (node, key) DO UPDATE SET seen_us = EXCLUDED.seen_us, window_us = EXCLUDED.window_us
                    WHERE abs(EXCLUDED.seen_us - dedup.seen_us) > EXCLUDED.window_us
                    RETURNING node, key
                    """, logger: logger)
                for try await (n, k) in rows.decode((String, String).self) { fresh.insert("\(n)|\(k)") }
            }
            var stored: [Ingest] = []
            for (i, key) in keep {
                if let key, !fresh.contains("\(i.uplink.node.description)|\(key.key)") { dups.append(i) } else { stored.append(i) }
            }
            // 2. Packets (ids drawn first so that readings can name them) and readings.
            if !stored.isEmpty {
                var ids: [Int64] = []
                for try await id in try await c.query("SELECT nextval('packets_id_seq') FROM generate_series(1, \(stored.count))",
                                                      logger: logger).decode(Int64.self) { ids.append(id) }
                let u = stored.map(\.uplink)
                let d = stored.map(\.decoded)
                try await c.query("""
                    INSERT INTO packets (id, node, gateway, dongle, host_time_us, device_time_us, rssi, channel, rate, payload, decoder, seq, error)
                    SELECT id, node, gw, dongle, t, dt, rssi, ch, rate, payload, decoder, CASE WHEN has_seq THEN seq END, NULLIF(err, '')
                    FROM unnest(\(ids)::int8[], \(u.map { $0.node.description })::text[], \(stored.map(\.gateway))::text[],
                                \(u.map(\.dongle))::text[], \(u.map(\.hostTimeUs))::int8[], \(u.map { Int64($0.deviceTimeUs) })::int8[],
                                \(u.map { Int64($0.rssi) })::int8[], \(u.map { Int64($0.channel) })::int8[], \(u.map { Int64($0.rate) })::int8[],
                                \(u.map { ByteBuffer(bytes: $0.payload) })::bytea[], \(d.map(\.decoder))::text[],
                                \(d.map { $0.seq != nil })::bool[], \(d.map { Int64(bitPattern: $0.seq ?? 0) })::int8[],
                                \(d.map { $0.error ?? "" })::text[])
                      AS x(id, node, gw, dongle, t, dt, rssi, ch, rate, payload, decoder, has_seq, seq, err)
                    """, logger: logger)
                var pid: [Int64] = [], node: [String] = [], time: [Int64] = [], field: [String] = []
                var hasValue: [Bool] = [], value: [Double] = [], text: [String] = [], unit: [String] = []
                for (k, i) in stored.enumerated() {
                    for r in i.decoded.readings {
                        pid.append(ids[k]); node.append(i.uplink.node.description); time.append(i.uplink.hostTimeUs)
                        field.append(r.field); hasValue.append(r.value != nil); value.append(r.value ?? 0)
                        text.append(r.text ?? ""); unit.append(r.unit ?? "")
                    }
                }
                if !pid.isEmpty {
                    try await c.query("""
                        INSERT INTO readings (packet_id, node, time_us, field, value, text, unit)
                        SELECT pid, node, t, field, CASE WHEN hv THEN v END, CASE WHEN hv THEN NULL ELSE tx END, NULLIF(u, '')
                        FROM unnest(\(pid)::int8[], \(node)::text[], \(time)::int8[], \(field)::text[], \(hasValue)::bool[],
                                    \(value)::float8[], \(text)::text[], \(unit)::text[]) AS x(pid, node, t, field, hv, v, tx, u)
                        """, logger: logger)
                }
                outcome.readings = pid.count
            }
            // 3. Node counters, one statement per node of the batch.
            for (mac, t) in NodeTally.tally(stored: stored, duplicates: dups).sorted(by: { $0.key < $1.key }) {
                try await c.query("""
                    INSERT INTO nodes (mac, first_seen_us, last_seen_us, packets, duplicates, decode_errors, last_rssi, last_channel, last_gateway)
                    VALUES (\(mac.description), \(t.firstUs), \(t.lastUs), \(t.packets), \(t.duplicates), \(t.errors), \(Int64(t.rssi)), \(Int64(t.channel)), \(t.gateway))
                    ON CONFLICT (mac) DO UPDATE SET
                      first_seen_us = LEAST(coalesce(nodes.first_seen_us, EXCLUDED.first_seen_us), EXCLUDED.first_seen_us),
                      packets = nodes.packets + EXCLUDED.packets,
                      duplicates = nodes.duplicates + EXCLUDED.duplicates,
                      decode_errors = nodes.decode_errors + EXCLUDED.decode_errors,
                      last_rssi = CASE WHEN EXCLUDED.last_seen_us >= coalesce(nodes.last_seen_us, 0) THEN EXCLUDED.last_rssi ELSE nodes.last_rssi END,
                      last_channel = CASE WHEN EXCLUDED.last_seen_us >= coalesce(nodes.last_seen_us, 0) THEN EXCLUDED.last_channel ELSE nodes.last_channel END,
                      last_gateway = CASE WHEN EXCLUDED.last_seen_us >= coalesce(nodes.last_seen_us, 0) THEN EXCLUDED.last_gateway ELSE nodes.last_gateway END,
                      last_seen_us = GREATEST(coalesce(nodes.last_seen_us, 0), EXCLUDED.last_seen_us)
                    """, logger: logger)
            }
            for d in drops {
                try await c.query("""
                    INSERT INTO drops (time_us, gateway, cause, count, detail) VALUES (\(d.timeUs), \(d.gateway), \(d.cause.rawValue), \(d.count), \(d.detail))
                    """, logger: logger)
            }
            outcome.stored = stored.count
            outcome.duplicates = dups.count
            return outcome
        }
    }

    public func configureNode(_ mac: MACAddress, name: String?, decoder: String?, lmk: [UInt8]?) async throws {
        let lmkBuffer = lmk.map { ByteBuffer(bytes: $0) }
        try await other.run { c, logger in
            _ = try await c.query("""
                INSERT INTO nodes (mac, name, decoder, lmk) VALUES (\(mac.description), \(name), \(decoder), \(lmkBuffer))
                ON CONFLICT (mac) DO UPDATE SET name = coalesce(EXCLUDED.name, nodes.name),
                  decoder = coalesce(EXCLUDED.decoder, nodes.decoder), lmk = coalesce(EXCLUDED.lmk, nodes.lmk)
                """, logger: logger)
        }
    }

    public func nodeLMKs() async throws -> [MACAddress: [UInt8]] {
        try await other.run { c, logger in
            var out: [MACAddress: [UInt8]] = [:]
            let rows = try await c.query("SELECT mac, lmk FROM nodes WHERE lmk IS NOT NULL", logger: logger)
            for try await (m, key) in rows.decode((String, ByteBuffer).self) {
                if let mac = MACAddress(m) { out[mac] = Array(key.readableBytesView) }
            }
            return out
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await other.run { c, logger in
            var out: [NodeRecord] = []
            let rows = try await c.query("""
                SELECT mac, name, decoder, first_seen_us, last_seen_us, packets, duplicates, decode_errors, last_rssi, last_channel, last_gateway
                FROM nodes ORDER BY mac
                """, logger: logger)
            for try await r in rows.decode((String, String?, String?, Int64?, Int64?, Int64, Int64, Int64, Int64?, Int64?, String?).self) {
                guard let mac = MACAddress(r.0) else { continue }
                out.append(NodeRecord(mac: mac, name: r.1, decoder: r.2, firstSeenUs: r.3, lastSeenUs: r.4, packets: r.5,
                                      duplicates: r.6, decodeErrors: r.7, lastRSSI: r.8.map(Int.init), lastChannel: r.9.map(Int.init),
                                      lastGateway: r.10))
            }
            return out
        }
    }

    public func queueDownlink(node: MACAddress, payload: [UInt8], maxAttempts: Int, nowUs: Int64) async throws -> Int64 {
        let buf = ByteBuffer(bytes: payload)
        return try await other.run { c, logger in
            let rows = try await c.query("""
                INSERT INTO downlinks (node, payload, state, attempts, max_attempts, created_us, updated_us)
                VALUES (\(node.description), \(buf), 'pending', 0, \(Int64(maxAttempts)), \(nowUs), \(nowUs)) RETURNING id
                """, logger: logger)
            for try await id in rows.decode(Int64.self) { return id }
            throw StoreError("INSERT … RETURNING gave no id")
        }
    }

    private static func downlinks(_ rows: PostgresRowSequence) async throws -> [Downlink] {
        var out: [Downlink] = []
        for try await r in rows.decode((Int64, String, ByteBuffer, String, Int64, Int64, Int64, Int64, String?).self) {
            guard let mac = MACAddress(r.1), let s = DownlinkState(rawValue: r.3) else { continue }
            out.append(Downlink(id: r.0, node: mac, payload: Array(r.2.readableBytesView), state: s, attempts: Int(r.4),
                                maxAttempts: Int(r.5), createdUs: r.6, updatedUs: r.7, lastError: r.8))
        }
        return out
    }

    public func pendingDownlinks() async throws -> [Downlink] {
        try await other.run { c, logger in
            try await Self.downlinks(try await c.query("""
                SELECT id, node, payload, state, attempts, max_attempts, created_us, updated_us, last_error
                FROM downlinks WHERE state = 'pending' ORDER BY id
                """, logger: logger))
        }
    }

    public func claimDownlink(id: Int64, gateway: String, nowUs: Int64) async throws -> Bool {
        try await other.run { c, logger in
            let rows = try await c.query("""
                UPDATE downlinks SET state = 'sending', gateway = \(gateway), updated_us = \(nowUs)
                WHERE id = \(id) AND state = 'pending' RETURNING id
                """, logger: logger)
            for try await _ in rows.decode(Int64.self) { return true }
            return false
        }
    }

    public func finishDownlink(id: Int64, delivered: Bool, error: String?, nowUs: Int64) async throws -> DownlinkState {
        try await other.run { c, logger in
            let rows = try await c.query("""
                UPDATE downlinks SET attempts = attempts + 1, updated_us = \(nowUs), last_error = \(error),
                  state = CASE WHEN \(delivered) THEN 'delivered' WHEN attempts + 1 >= max_attempts THEN 'failed' ELSE 'pending' END
                WHERE id = \(id) RETURNING state
                """, logger: logger)
            for try await s in rows.decode(String.self) { return DownlinkState(rawValue: s) ?? .failed }
            throw StoreError("no downlink \(id)")
        }
    }

    public func downlink(id: Int64) async throws -> Downlink? {
        try await other.run { c, logger in
            try await Self.downlinks(try await c.query("""
                SELECT id, node, payload, state, attempts, max_attempts, created_us, updated_us, last_error FROM downlinks WHERE id = \(id)
                """, logger: logger)).first
        }
    }

    public func releaseClaims(gateway: String, nowUs: Int64) async throws -> Int {
        try await other.run { c, logger in
            var n = 0
            for try await _ in try await c.query("""
                UPDATE downlinks SET state = 'pending', updated_us = \(nowUs) WHERE state = 'sending' AND gateway = \(gateway) RETURNING id
                """, logger: logger).decode(Int64.self) { n += 1 }
            return n
        }
    }

    public func readings(node: MACAddress?, field: String?, sinceUs: Int64?, limit: Int) async throws -> [StoredReading] {
        try await other.run { c, logger in
            let rows = try await c.query("""
                SELECT packet_id, node, time_us, field, value, text, unit FROM readings
                WHERE (\(node?.description)::text IS NULL OR node = \(node?.description))
                  AND (\(field)::text IS NULL OR field = \(field))
                  AND (\(sinceUs)::int8 IS NULL OR time_us >= \(sinceUs))
                ORDER BY time_us DESC, id DESC LIMIT \(Int64(limit))
                """, logger: logger)
            var out: [StoredReading] = []
            for try await r in rows.decode((Int64, String, Int64, String, Double?, String?, String?).self) {
                guard let mac = MACAddress(r.1) else { continue }
                let reading = r.4.map { Reading(r.3, $0, unit: r.6) } ?? Reading(r.3, text: r.5 ?? "", unit: r.6)
                out.append(StoredReading(packetID: r.0, node: mac, timeUs: r.2, reading: reading))
            }
            return out
        }
    }

    public func packets(node: MACAddress?, limit: Int) async throws -> [StoredPacket] {
        try await other.run { c, logger in
            let rows = try await c.query("""
                SELECT id, node, gateway, dongle, host_time_us, rssi, channel, payload, decoder, seq, error FROM packets
                WHERE (\(node?.description)::text IS NULL OR node = \(node?.description)) ORDER BY id LIMIT \(Int64(limit))
                """, logger: logger)
            var out: [StoredPacket] = []
            for try await r in rows.decode((Int64, String, String, String, Int64, Int64, Int64, ByteBuffer, String, Int64?, String?).self) {
                guard let mac = MACAddress(r.1) else { continue }
                out.append(StoredPacket(id: r.0, node: mac, gateway: r.2, dongle: r.3, hostTimeUs: r.4, rssi: Int(r.5), channel: Int(r.6),
                                        payload: Array(r.7.readableBytesView), decoder: r.8, seq: r.9, error: r.10))
            }
            return out
        }
    }

    public func dropTotals() async throws -> [String: Int64] {
        try await other.run { c, logger in
            var out: [String: Int64] = [:]
            for try await (cause, n) in try await c.query("SELECT cause, sum(count)::int8 FROM drops GROUP BY cause", logger: logger)
                .decode((String, Int64).self) { out[cause] = n }
            return out
        }
    }

    public func prune(rawBeforeUs: Int64?, readingsBeforeUs: Int64?, dedupBeforeUs: Int64) async throws -> (Int, Int) {
        try await other.run { c, logger in
            var p = 0, r = 0
            if let t = rawBeforeUs {
                for try await n in try await c.query("WITH d AS (DELETE FROM packets WHERE host_time_us < \(t) RETURNING 1) SELECT count(*)::int8 FROM d",
                                                     logger: logger).decode(Int64.self) { p = Int(n) }
            }
            if let t = readingsBeforeUs {
                for try await n in try await c.query("WITH d AS (DELETE FROM readings WHERE time_us < \(t) RETURNING 1) SELECT count(*)::int8 FROM d",
                                                     logger: logger).decode(Int64.self) { r = Int(n) }
            }
            try await c.query("DELETE FROM dedup WHERE seen_us < \(dedupBeforeUs)", logger: logger)
            return (p, r)
        }
    }

    public func close() async {
        await writer.close()
        await other.close()
        await reader.close()
    }
}

/// One connection, opened on demand and dropped after any error (the next call reconnects).
/// Callers that arrive while it connects share the attempt.
final class PGLink: Sendable {
    let configuration: PostgresConnection.Configuration
    let logger: Logger
    private let current = NIOLockedValueBox<Task<PostgresConnection, any Error>?>(nil)
    private let ids = NIOLockedValueBox(0)

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    private func connection() async throws -> PostgresConnection {
        let (cfg, logger) = (configuration, self.logger)
        let id = ids.withLockedValue { n -> Int in
            n += 1
            return n
        }
        let task = current.withLockedValue { cur -> Task<PostgresConnection, any Error> in
            if let t = cur { return t }
            let t = Task { try await PostgresConnection.connect(configuration: cfg, id: id, logger: logger) }
            cur = t
            return t
        }
        do {
            let c = try await task.value
            if c.isClosed {
                forget(task)
                throw StoreError("the PostgreSQL connection closed")
            }
            return c
        } catch {
            forget(task)
            throw error
        }
    }

    private func forget(_ t: Task<PostgresConnection, any Error>) {
        current.withLockedValue { if $0 == t { $0 = nil } }
    }

    func run<T: Sendable>(_ body: (PostgresConnection, Logger) async throws -> T) async throws -> T {
        let c = try await connection()
        do {
            return try await body(c, logger)
        } catch {
            // Any failure: start afresh next time (a broken link must not linger).
            let t = current.withLockedValue { cur -> Task<PostgresConnection, any Error>? in
                defer { cur = nil }
                return cur
            }
            if let t, let old = try? await t.value { try? await old.close() }
            throw error
        }
    }

    func transaction<T: Sendable>(_ body: (PostgresConnection, Logger) async throws -> T) async throws -> T {
        try await run { c, logger in
            try await c.withTransaction(logger: logger) { c in try await body(c, logger) }
        }
    }

    func close() async {
        let t = current.withLockedValue { cur -> Task<PostgresConnection, any Error>? in
            defer { cur = nil }
            return cur
        }
        if let t, let c = try? await t.value { try? await c.close() }
    }
}

/// A database error in one line: PostgreSQL's own message when there is one (PSQLError's
/// description hides it on purpose).
func describe(_ e: any Error) -> String {
    if let p = e as? PSQLError {
        if let m = p.serverInfo?[.message] { return "PostgreSQL: \(m)" }
        return "PostgreSQL: \(p.code)"
    }
    return "\(e)"
}
