// The readings query figure: a database holding N readings (generated in SQL: 100 nodes,
// 4 fields, one packet per node every 10 s, so 10 M readings span ~2.9 days), then the
// store's `readings(node:field:sinceUs:limit:)` for 1,000 rows, p50/p99 over 200 queries of
// each shape, and the plan the database chose for each. The indexes are the schema's
// (readings_node_field_time, readings_time, and readings_node_time for one node's readings).

import ESPNowGateway
import ESPNowWire
import Foundation
import Histogram

let fields = ["temperature", "humidity", "pressure", "battery"]
let baseUs: Int64 = 1_700_000_000_000_000

func sh(_ exe: String, _ args: [String], input: String? = nil) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    let inp = Pipe()
    if input != nil { p.standardInput = inp }
    try p.run()
    if let input {
        inp.fileHandleForWriting.write(Data(input.utf8))
        try inp.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw StoreError("\(exe) \(args.joined(separator: " ")) failed: \(text)") }
    return text
}

struct QueryShape {
    var name: String
    var node: Bool
    var field: Bool
    var since: Bool
}

let shapes = [
    QueryShape(name: "node+field, newest 1000", node: true, field: true, since: false),
    QueryShape(name: "node+field since T, 1000", node: true, field: true, since: true),
    QueryShape(name: "node, newest 1000", node: true, field: false, since: false),
    QueryShape(name: "all nodes, newest 1000", node: false, field: false, since: false),
]

func nodeMAC(_ k: Int) -> MACAddress { MACAddress(0x02, 0, 0, 0, 0, UInt8(k)) }

func sqlFor(_ shape: QueryShape, node: String, field: String, since: Int64) -> String {
    var w = ["1 = 1"]
    if shape.node { w.append("node = '\(node)'") }
    if shape.field { w.append("field = '\(field)'") }
    if shape.since { w.append("time_us >= \(since)") }
    return "SELECT packet_id, node, time_us, field, value, text, unit FROM readings WHERE \(w.joined(separator: " AND ")) ORDER BY time_us DESC, id DESC LIMIT 1000"
}

func timeQueries(_ store: any GatewayStore, rows: Int, kind: String, plan: (String) throws -> String) async throws {
    let packets = rows / 4
    let spanUs = Int64(packets / 100) * 10_000_000
    for shape in shapes {
        var h = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var returned = 0
        for i in 0..<200 {
            let n = nodeMAC(i % 100)
            let f = fields[i % 4]
            // 1,000 rows of one series cover 10,000 s: start that far before the end, or earlier.
            let since = baseUs + max(0, spanUs - 10_000_000_000 - Int64(i) * 3_600_000_000)
            let t0 = monoNs()
            let r = try await store.readings(node: shape.node ? n : nil, field: shape.field ? f : nil, sinceUs: shape.since ? since : nil, limit: 1000)
            _ = h.record((monoNs() - t0) / 1000)
            returned += r.count
        }
        print(String(format: "%-9@ %-28@ p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms  rows/query %6.0f", kind as NSString, shape.name as NSString,
                     Double(h.valueAtPercentile(50)) / 1000, Double(h.valueAtPercentile(99)) / 1000, Double(h.max) / 1000, Double(returned) / 200))
        let p = try plan(sqlFor(shape, node: nodeMAC(7).description, field: "humidity", since: baseUs + spanUs - 10_000_000_000))
        for line in p.split(separator: "\n") { print("            plan: \(line)") }
        fflush(nil)
    }
}

func queryBench(rows: Int, only: String?) async throws {
    print("gateway-bench query: \(rows) readings (100 nodes × 4 fields, a packet per node every 10 s), 200 queries per shape through the store's readings(...)")
    let mac0 = nodeMAC(10).description
    // The generator writes MACs as the store does (lowercase, colon-separated); checked here.
    precondition(mac0 == "02:00:00:00:00:0a", "MAC text differs from the generator's: \(mac0)")
    if only == nil || only == "sqlite" {
        let dir = "/tmp/espnow-gwbench-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/query.sqlite"
        let s0 = try SQLiteStore(path: path)
        try await s0.migrate()
        await s0.close()
        let t0 = monoNs()
        _ = try sh("/usr/bin/sqlite3", [path], input: """
            PRAGMA synchronous = OFF;
            DROP INDEX readings_node_field_time; DROP INDEX readings_time; DROP INDEX IF EXISTS readings_node_time;
            BEGIN;
            WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < \(rows - 1))
            INSERT INTO readings (packet_id, node, time_us, field, value, unit)
            SELECT i / 4, printf('02:00:00:00:00:%02x', (i / 4) % 100), \(baseUs) + ((i / 4) / 100) * 10000000 + ((i / 4) % 100) * 1000,
                   CASE i % 4 WHEN 0 THEN 'temperature' WHEN 1 THEN 'humidity' WHEN 2 THEN 'pressure' ELSE 'battery' END,
                   (i % 997) / 10.0, CASE i % 4 WHEN 0 THEN '°C' WHEN 1 THEN '%' WHEN 2 THEN 'hPa' ELSE 'V' END FROM c;
            COMMIT;
            CREATE INDEX readings_node_field_time ON readings (node, field, time_us);
            CREATE INDEX readings_time ON readings (time_us);
            CREATE INDEX readings_node_time ON readings (node, time_us);
            ANALYZE;
            """)
        print(String(format: "sqlite: generated %d readings in %.1f s (%@)", rows, Double(monoNs() - t0) / 1e9,
                     (try sh("/usr/bin/du", ["-h", path]).split(separator: "\t").first.map(String.init) ?? "?") as NSString))
        let store = try SQLiteStore(path: path)
        try await timeQueries(store, rows: rows, kind: "sqlite") { sql in try sh("/usr/bin/sqlite3", [path, "EXPLAIN QUERY PLAN " + sql]) }
        await store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
    if only == nil || only == "postgres" {
        let store = try makeStore("postgres") as! PostgresStore
        try await store.migrate()
        let c = URLComponents(string: store.url)!
        let db = String(c.path.dropFirst())
        let host = c.queryItems!.first { $0.name == "host" }!.value!
        let user = c.user ?? "postgres"
        let psql = { (sql: String) throws -> String in try sh("/usr/bin/psql", ["-X", "-q", "-h", host, "-U", user, "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql]) }
        let t0 = monoNs()
        _ = try psql("""
            DROP INDEX readings_node_field_time; DROP INDEX readings_time; DROP INDEX IF EXISTS readings_node_time;
            INSERT INTO readings (packet_id, node, time_us, field, value, unit)
            SELECT i / 4, '02:00:00:00:00:' || lpad(to_hex(((i / 4) % 100)::int), 2, '0'), \(baseUs) + ((i / 4) / 100) * 10000000 + ((i / 4) % 100) * 1000,
                   (ARRAY['temperature','humidity','pressure','battery'])[i % 4 + 1], (i % 997) / 10.0, (ARRAY['°C','%','hPa','V'])[i % 4 + 1]
            FROM generate_series(0::bigint, \(rows - 1)) AS i;
            CREATE INDEX readings_node_field_time ON readings (node, field, time_us);
            CREATE INDEX readings_time ON readings (time_us);
            CREATE INDEX readings_node_time ON readings (node, time_us, id);
            """)
        _ = try psql("VACUUM ANALYZE readings")
        print(String(format: "postgres: generated %d readings in %.1f s (%@)", rows, Double(monoNs() - t0) / 1e9,
                     (try psql("SELECT pg_size_pretty(pg_total_relation_size('readings'))").split(separator: "\n").dropFirst(2).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?") as NSString))
        try await timeQueries(store, rows: rows, kind: "postgres") { sql in
            try psql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql).split(separator: "\n").dropFirst(2).dropLast().joined(separator: "\n")
        }
        await store.close()
    }
}
