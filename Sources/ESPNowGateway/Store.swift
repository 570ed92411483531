import ESPNowWire

/// Where readings go: SQLite (``SQLiteStore``) or PostgreSQL (``PostgresStore``), with the
/// same schema (docs/GATEWAY.md). Every value reaches SQL as a bound parameter.
public protocol GatewayStore: Sendable {
    /// `sqlite` or `postgres`.
    var kind: String { get }
    /// Whether the store is on another machine (then a local spool covers its outages).
    var isRemote: Bool { get }
    /// Creates or upgrades the schema (idempotent; safe with several gateways starting).
    func migrate() async throws
    /// Writes a batch in one transaction: de-duplicated packets, their readings, node
    /// counters, and `drops` (counted losses since the last write).
    func write(_ batch: [Ingest], drops: [DropRecord], dedup: DedupPolicy) async throws -> WriteOutcome
    /// Sets a node's configured properties (nil leaves one unchanged).
    func configureNode(_ mac: MACAddress, name: String?, decoder: String?, lmk: [UInt8]?) async throws
    func nodes() async throws -> [NodeRecord]
    /// Every node's LMK that the registry holds (from the config file or set while running).
    func nodeLMKs() async throws -> [MACAddress: [UInt8]]
    func queueDownlink(node: MACAddress, payload: [UInt8], maxAttempts: Int, nowUs: Int64) async throws -> Int64
    /// Messages waiting for delivery (state `pending`), oldest first.
    func pendingDownlinks() async throws -> [Downlink]
    /// Takes a pending message for delivery (pending → sending); false if another gateway
    /// already took it or it is no longer pending.
    func claimDownlink(id: Int64, gateway: String, nowUs: Int64) async throws -> Bool
    /// Ends an attempt: delivered, or back to pending (failed after `max_attempts`).
    func finishDownlink(id: Int64, delivered: Bool, error: String?, nowUs: Int64) async throws -> DownlinkState
    func downlink(id: Int64) async throws -> Downlink?
    /// Puts this gateway's unfinished attempts (`sending`, left by a crash) back to `pending`.
    func releaseClaims(gateway: String, nowUs: Int64) async throws -> Int
    /// Stored readings, newest first (`limit` rows at most).
    func readings(node: MACAddress?, field: String?, sinceUs: Int64?, limit: Int) async throws -> [StoredReading]
    /// Stored packets, oldest first.
    func packets(node: MACAddress?, limit: Int) async throws -> [StoredPacket]
    /// Totals of the drops table by cause.
    func dropTotals() async throws -> [String: Int64]
    /// Deletes raw packets older than `rawBeforeUs`, readings older than `readingsBeforeUs`,
    /// and de-duplication keys older than `dedupBeforeUs`; returns (packets, readings) deleted.
    func prune(rawBeforeUs: Int64?, readingsBeforeUs: Int64?, dedupBeforeUs: Int64) async throws -> (Int, Int)
    func close() async
}

public struct DropRecord: Sendable, Hashable {
    public var cause: DropCause
    public var count: Int64
    public var timeUs: Int64
    public var detail: String?
    public var gateway: String

    public init(cause: DropCause, count: Int64, timeUs: Int64, detail: String?, gateway: String) {
        self.cause = cause
        self.count = count
        self.timeUs = timeUs
        self.detail = detail
        self.gateway = gateway
    }
}

public struct StoredReading: Sendable, Hashable {
    public var packetID: Int64
    public var node: MACAddress
    public var timeUs: Int64
    public var reading: Reading
}

public struct StoredPacket: Sendable, Hashable {
    public var id: Int64
    public var node: MACAddress
    public var gateway: String
    public var dongle: String
    public var hostTimeUs: Int64
    public var rssi: Int
    public var channel: Int
    public var payload: [UInt8]
    public var decoder: String
    public var seq: Int64?
    public var error: String?
}

/// When two receptions are the same packet (heard by two dongles or two gateways, or
/// replayed from the spool): same node and same key within the window. The key is the
/// decoder's `seq` when it has one, else a hash of the payload. A `seq` is unambiguous, so
/// its window is long (a node that reboots and restarts its count within it would see those
/// packets dropped as duplicates — keep it shorter than a reboot cycle); a payload hash is
/// not (a sensor may send the same bytes twice on purpose), so its window is short.
public struct DedupPolicy: Sendable, Hashable {
    public var seqWindowUs: Int64
    public var hashWindowUs: Int64

    public init(seqWindowUs: Int64 = 60_000_000, hashWindowUs: Int64 = 2_000_000) {
        self.seqWindowUs = seqWindowUs
        self.hashWindowUs = hashWindowUs
    }

    public static let disabled = DedupPolicy(seqWindowUs: -1, hashWindowUs: -1)

    /// The key and window of `i`, or nil when de-duplication is off for it.
    public func key(_ i: Ingest) -> (key: String, windowUs: Int64)? {
        if let s = i.decoded.seq {
            return seqWindowUs < 0 ? nil : ("s:\(s)", seqWindowUs)
        }
        return hashWindowUs < 0 ? nil : ("h:\(Self.hash(i.uplink.payload))", hashWindowUs)
    }

    /// FNV-1a 64 over the payload, and its length.
    static func hash(_ p: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in p {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return String(h, radix: 16) + "/\(p.count)"
    }

    /// Drops repeats inside one batch (the database only sees the first), returning the
    /// survivors with their keys, and the repeats.
    func withinBatch(_ batch: [Ingest]) -> (keep: [(Ingest, (key: String, windowUs: Int64)?)], dups: [Ingest]) {
        var seen: [String: Int64] = [:]
        var keep: [(Ingest, (key: String, windowUs: Int64)?)] = []
        var dups: [Ingest] = []
        for i in batch {
            guard let k = key(i) else { keep.append((i, nil)); continue }
            let id = "\(i.uplink.node.rawValue)|\(k.key)"
            if let t = seen[id], abs(i.uplink.hostTimeUs - t) <= k.windowUs {
                dups.append(i)
                continue
            }
            seen[id] = i.uplink.hostTimeUs
            keep.append((i, k))
        }
        return (keep, dups)
    }
}

/// Per-node counters of one batch, applied with one statement per node.
struct NodeTally {
    var firstUs: Int64
    var lastUs: Int64
    var packets: Int64 = 0
    var duplicates: Int64 = 0
    var errors: Int64 = 0
    var rssi: Int = 0
    var channel: Int = 0
    var gateway: String = ""

    static func tally(stored: [Ingest], duplicates: [Ingest]) -> [MACAddress: NodeTally] {
        var t: [MACAddress: NodeTally] = [:]
        func touch(_ i: Ingest) -> NodeTally {
            var n = t[i.uplink.node] ?? NodeTally(firstUs: i.uplink.hostTimeUs, lastUs: i.uplink.hostTimeUs)
            n.firstUs = min(n.firstUs, i.uplink.hostTimeUs)
            if i.uplink.hostTimeUs >= n.lastUs {
                n.lastUs = i.uplink.hostTimeUs
                n.rssi = Int(i.uplink.rssi)
                n.channel = Int(i.uplink.channel)
                n.gateway = i.gateway
            }
            return n
        }
        for i in stored {
            var n = touch(i)
            n.packets += 1
            if i.decoded.error != nil { n.errors += 1 }
            t[i.uplink.node] = n
        }
        for i in duplicates {
            var n = touch(i)
            n.duplicates += 1
            t[i.uplink.node] = n
        }
        return t
    }
}

public struct StoreError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
