import ESPNowWire

/// Where a page of results ended: the last row's time and id. The next page starts strictly
/// after it (keyset pagination: every page costs one index range scan, however deep).
public struct PageCursor: Sendable, Hashable, CustomStringConvertible {
    public var timeUs: Int64
    public var id: Int64

    public init(timeUs: Int64, id: Int64) {
        self.timeUs = timeUs
        self.id = id
    }

    /// `TIMEUS_ID`, e.g. `1700000000000000_42`.
    public init?(_ text: String) {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, let t = Int64(parts[0]), let i = Int64(parts[1]), t >= 0, i >= 0 else { return nil }
        timeUs = t
        id = i
    }

    public var description: String { "\(timeUs)_\(id)" }
}

/// A filtered, ordered page of readings. `fromUs` is inclusive, `toUs` exclusive.
public struct ReadingQuery: Sendable, Hashable {
    public var node: MACAddress?
    public var field: String?
    public var fromUs: Int64?
    public var toUs: Int64?
    public var limit: Int
    public var after: PageCursor?
    /// Oldest first; newest first when false.
    public var ascending: Bool

    public init(node: MACAddress? = nil, field: String? = nil, fromUs: Int64? = nil, toUs: Int64? = nil, limit: Int = 100,
                after: PageCursor? = nil, ascending: Bool = false) {
        self.node = node
        self.field = field
        self.fromUs = fromUs
        self.toUs = toUs
        self.limit = limit
        self.after = after
        self.ascending = ascending
    }
}

/// A filtered, ordered page of raw packets (time is the host's receive time).
public struct PacketQuery: Sendable, Hashable {
    public var node: MACAddress?
    public var fromUs: Int64?
    public var toUs: Int64?
    public var limit: Int
    public var after: PageCursor?
    public var ascending: Bool

    public init(node: MACAddress? = nil, fromUs: Int64? = nil, toUs: Int64? = nil, limit: Int = 100, after: PageCursor? = nil,
                ascending: Bool = false) {
        self.node = node
        self.fromUs = fromUs
        self.toUs = toUs
        self.limit = limit
        self.after = after
        self.ascending = ascending
    }
}

/// A stored reading with its own row id (the cursor's tie-breaker).
public struct ReadingRow: Sendable, Hashable {
    public var id: Int64
    public var packetID: Int64
    public var node: MACAddress
    public var timeUs: Int64
    public var reading: Reading

    public init(id: Int64, packetID: Int64, node: MACAddress, timeUs: Int64, reading: Reading) {
        self.id = id
        self.packetID = packetID
        self.node = node
        self.timeUs = timeUs
        self.reading = reading
    }

    public var cursor: PageCursor { PageCursor(timeUs: timeUs, id: id) }
}

/// The read side an API needs beyond the gateway's own: pages by cursor, the newest values
/// of a node, its downlinks, which nodes have a key (never the key itself), a liveness probe.
public protocol GatewayQueries: GatewayStore {
    func queryReadings(_ q: ReadingQuery) async throws -> [ReadingRow]
    func queryPackets(_ q: PacketQuery) async throws -> [StoredPacket]
    /// The newest `scan` readings of a node, newest first (callers keep the first per field).
    func latestReadings(node: MACAddress, scan: Int) async throws -> [ReadingRow]
    /// A node's downlinks, newest first.
    func downlinks(node: MACAddress, limit: Int) async throws -> [Downlink]
    /// Nodes with a stored LMK.
    func nodesWithLMK() async throws -> Set<MACAddress>
    /// Drops the gateway attributed to one sender (the drops table's `detail`), by MAC.
    func dropsByNode() async throws -> [MACAddress: Int64]
    /// Throws when the database cannot be reached or has no schema yet.
    func ping() async throws
}

extension Array where Element == ReadingRow {
    /// The first (newest, given newest-first rows) reading of each field.
    public func newestPerField() -> [ReadingRow] {
        var seen = Set<String>()
        return filter { seen.insert($0.reading.field).inserted }
    }
}
