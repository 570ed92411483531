import ESPNowWire
import Foundation
import GRDB

/// A local SQLite file that holds received packets, in arrival order, while the database
/// is unreachable; they are replayed (decoded again, de-duplicated as usual) when it
/// returns. It survives a restart: a gateway that stops with a full spool replays it next
/// time. Bounded: past `limit` rows new packets are dropped and counted.
final class Spool: Sendable {
    let path: String
    let limit: Int
    private let queue: DatabaseQueue

    init(path: String, limit: Int) throws {
        self.path = path
        self.limit = max(1, limit)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = Configuration()
        config.busyMode = .timeout(10)
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS spool (
                      id INTEGER PRIMARY KEY, node TEXT NOT NULL, gateway TEXT NOT NULL, dongle TEXT NOT NULL,
                      host_time_us INTEGER NOT NULL, device_time_us INTEGER NOT NULL, rssi INTEGER NOT NULL,
                      channel INTEGER NOT NULL, rate INTEGER NOT NULL, payload BLOB NOT NULL)
                    """)
            }
        } catch {
            throw StoreError("cannot open the spool \(path): \(error)")
        }
    }

    var count: Int { (try? queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM spool") ?? 0 }) ?? 0 }

    /// Appends in order; returns how many did not fit (dropped, to be counted).
    func append(_ items: [Uplink], gateway: String) throws -> Int {
        try queue.write { db in
            let have = try Int.fetchOne(db, sql: "SELECT count(*) FROM spool") ?? 0
            let room = max(0, limit - have)
            let stmt = try db.cachedStatement(sql: """
                INSERT INTO spool (node, gateway, dongle, host_time_us, device_time_us, rssi, channel, rate, payload)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for u in items.prefix(room) {
                try stmt.execute(arguments: [u.node.description, gateway, u.dongle, u.hostTimeUs, Int64(u.deviceTimeUs),
                                             Int(u.rssi), Int(u.channel), Int(u.rate), Data(u.payload)])
            }
            return items.count - min(room, items.count)
        }
    }

    /// The oldest `max` rows (id, uplink, gateway).
    func peek(max: Int) throws -> [(id: Int64, uplink: Uplink, gateway: String)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, node, gateway, dongle, host_time_us, device_time_us, rssi, channel, rate, payload
                FROM spool ORDER BY id LIMIT ?
                """, arguments: [max]).compactMap { r in
                guard let mac = MACAddress(r["node"] as String) else { return nil }
                let u = Uplink(node: mac, payload: [UInt8](r["payload"] as Data), hostTimeUs: r["host_time_us"],
                               deviceTimeUs: UInt32(truncatingIfNeeded: r["device_time_us"] as Int64),
                               rssi: Int8(truncatingIfNeeded: r["rssi"] as Int), channel: UInt8(truncatingIfNeeded: r["channel"] as Int),
                               rate: UInt8(truncatingIfNeeded: r["rate"] as Int), dongle: r["dongle"])
                return (r["id"], u, r["gateway"])
            }
        }
    }

    /// Removes rows up to and including `id` (after they were committed to the database).
    func remove(through id: Int64) throws {
        try queue.write { db in try db.execute(sql: "DELETE FROM spool WHERE id <= ?", arguments: [id]) }
    }
}
