/// The schema, one definition for both databases (docs/GATEWAY.md describes each column).
/// Times are microseconds since the Unix epoch (BIGINT) in both, so queries and exports
/// are the same; `readings.packet_id` has no foreign key because raw packets are usually
/// kept for a shorter time than readings.
enum Schema {
    enum Dialect { case sqlite, postgres }

    static func v1(_ d: Dialect) -> [String] {
        let id = d == .sqlite ? "INTEGER PRIMARY KEY" : "BIGSERIAL PRIMARY KEY"
        let blob = d == .sqlite ? "BLOB" : "BYTEA"
        let real = d == .sqlite ? "REAL" : "DOUBLE PRECISION"
        let int = d == .sqlite ? "INTEGER" : "BIGINT"
        return [
            """
            CREATE TABLE nodes (
              mac TEXT PRIMARY KEY, name TEXT, decoder TEXT, lmk \(blob),
              first_seen_us \(int), last_seen_us \(int),
              packets \(int) NOT NULL DEFAULT 0, duplicates \(int) NOT NULL DEFAULT 0, decode_errors \(int) NOT NULL DEFAULT 0,
              last_rssi \(int), last_channel \(int), last_gateway TEXT)
            """,
            """
            CREATE TABLE packets (
              id \(id), node TEXT NOT NULL, gateway TEXT NOT NULL, dongle TEXT NOT NULL,
              host_time_us \(int) NOT NULL, device_time_us \(int) NOT NULL,
              rssi \(int) NOT NULL, channel \(int) NOT NULL, rate \(int) NOT NULL,
              payload \(blob) NOT NULL, decoder TEXT NOT NULL, seq \(int), error TEXT)
            """,
            "CREATE INDEX packets_node_time ON packets (node, host_time_us)",
            "CREATE INDEX packets_time ON packets (host_time_us)",
            """
            CREATE TABLE readings (
              id \(id), packet_id \(int) NOT NULL, node TEXT NOT NULL, time_us \(int) NOT NULL,
              field TEXT NOT NULL, value \(real), text TEXT, unit TEXT)
            """,
            "CREATE INDEX readings_node_field_time ON readings (node, field, time_us)",
            "CREATE INDEX readings_time ON readings (time_us)",
            """
            CREATE TABLE dedup (
              node TEXT NOT NULL, key TEXT NOT NULL, seen_us \(int) NOT NULL, window_us \(int) NOT NULL,
              PRIMARY KEY (node, key))
            """,
            "CREATE INDEX dedup_seen ON dedup (seen_us)",
            """
            CREATE TABLE downlinks (
              id \(id), node TEXT NOT NULL, payload \(blob) NOT NULL, state TEXT NOT NULL,
              attempts \(int) NOT NULL DEFAULT 0, max_attempts \(int) NOT NULL,
              created_us \(int) NOT NULL, updated_us \(int) NOT NULL, gateway TEXT, last_error TEXT)
            """,
            "CREATE INDEX downlinks_state ON downlinks (state, node)",
            """
            CREATE TABLE drops (
              id \(id), time_us \(int) NOT NULL, gateway TEXT NOT NULL, cause TEXT NOT NULL,
              count \(int) NOT NULL, detail TEXT)
            """,
        ]
    }

    /// Keyset pages of one node's readings (all fields, by time) for the HTTP API.
    static func v2(_ d: Dialect) -> [String] {
        // SQLite index entries end with the rowid (= id) already.
        [d == .sqlite ? "CREATE INDEX readings_node_time ON readings (node, time_us)"
                      : "CREATE INDEX readings_node_time ON readings (node, time_us, id)"]
    }
}
