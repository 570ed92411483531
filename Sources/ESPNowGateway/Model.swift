import ESPNowWire

/// One packet as a gateway heard it: the unit that flows from a dongle to the database.
public struct Uplink: Sendable, Hashable {
    public var node: MACAddress
    public var payload: [UInt8]
    /// Wall-clock time the host received it, microseconds since the Unix epoch.
    public var hostTimeUs: Int64
    /// The dongle's own microsecond clock (wraps; for ordering within one dongle).
    public var deviceTimeUs: UInt32
    public var rssi: Int8
    public var channel: UInt8
    /// `wifi_phy_rate_t` of the frame (63: unknown).
    public var rate: UInt8
    /// Which dongle heard it (its port, or its MAC when known).
    public var dongle: String
    /// Monotonic nanoseconds when the RECV event reached the gateway (latency figures only;
    /// not stored).
    public var receivedNs: UInt64

    public init(node: MACAddress, payload: [UInt8], hostTimeUs: Int64, deviceTimeUs: UInt32 = 0, rssi: Int8 = 0,
                channel: UInt8 = 0, rate: UInt8 = 63, dongle: String = "", receivedNs: UInt64 = 0) {
        self.node = node
        self.payload = payload
        self.hostTimeUs = hostTimeUs
        self.deviceTimeUs = deviceTimeUs
        self.rssi = rssi
        self.channel = channel
        self.rate = rate
        self.dongle = dongle
        self.receivedNs = receivedNs
    }
}

/// One decoded value: a number (`value`) or, for fields that are not numbers, `text`.
public struct Reading: Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var value: Double?
    public var text: String?
    public var unit: String?

    public init(_ field: String, _ value: Double, unit: String? = nil) {
        self.field = field
        self.value = value
        self.text = nil
        self.unit = unit
    }

    public init(_ field: String, text: String, unit: String? = nil) {
        self.field = field
        self.value = nil
        self.text = text
        self.unit = unit
    }

    public var description: String {
        let v = value.map { Self.format($0) } ?? "\"\(text ?? "")\""
        return "\(field)=\(v)\(unit.map { " \($0)" } ?? "")"
    }

    static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }
}

/// What a decoder made of a payload. A failure keeps the packet (stored raw with `error`).
public struct Decoded: Sendable, Hashable {
    /// The decoder that produced this (`raw`, `text`, `json`, `cayenne`, `fdrs`, `layout:NAME`).
    public var decoder: String
    public var readings: [Reading]
    /// The sender's sequence number, when the format carries one (used for de-duplication).
    public var seq: UInt64?
    public var error: String?

    public init(decoder: String, readings: [Reading] = [], seq: UInt64? = nil, error: String? = nil) {
        self.decoder = decoder
        self.readings = readings
        self.seq = seq
        self.error = error
    }

    static func failure(_ decoder: String, _ error: String) -> Decoded { Decoded(decoder: decoder, error: error) }
}

/// A decoded uplink, ready to be written.
public struct Ingest: Sendable, Hashable {
    public var uplink: Uplink
    public var decoded: Decoded
    /// The gateway that heard it (several gateways may share one database).
    public var gateway: String

    public init(uplink: Uplink, decoded: Decoded, gateway: String) {
        self.uplink = uplink
        self.decoded = decoded
        self.gateway = gateway
    }
}

/// Why something was dropped (a row of the `drops` table).
public enum DropCause: String, Sendable, CaseIterable {
    /// The dongle's receive buffer overflowed (reported by the device).
    case dongleRxbuf = "dongle_rxbuf"
    /// The device client's packet queue was full.
    case hostRxQueue = "host_rx_queue"
    /// The gateway's queue between radio and database was full.
    case gatewayQueue = "gateway_queue"
    /// The spool file reached its limit while the database was away.
    case spoolFull = "spool_full"
    /// A sender not on the allow-list.
    case notAllowed = "not_allowed"
}

/// A downlink message's life: `pending` until delivered (acknowledged by the node's radio)
/// or `failed` after the configured number of attempts.
public enum DownlinkState: String, Sendable, Hashable {
    case pending, sending, delivered, failed
}

public struct Downlink: Sendable, Hashable {
    public var id: Int64
    public var node: MACAddress
    public var payload: [UInt8]
    public var state: DownlinkState
    public var attempts: Int
    public var maxAttempts: Int
    public var createdUs: Int64
    public var updatedUs: Int64
    public var lastError: String?

    public init(id: Int64, node: MACAddress, payload: [UInt8], state: DownlinkState, attempts: Int, maxAttempts: Int,
                createdUs: Int64, updatedUs: Int64, lastError: String?) {
        self.id = id
        self.node = node
        self.payload = payload
        self.state = state
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.createdUs = createdUs
        self.updatedUs = updatedUs
        self.lastError = lastError
    }
}

/// A row of the node registry.
public struct NodeRecord: Sendable, Hashable {
    public var mac: MACAddress
    public var name: String?
    public var decoder: String?
    public var firstSeenUs: Int64?
    public var lastSeenUs: Int64?
    public var packets: Int64
    public var duplicates: Int64
    public var decodeErrors: Int64
    public var lastRSSI: Int?
    public var lastChannel: Int?
    public var lastGateway: String?

    public init(mac: MACAddress, name: String? = nil, decoder: String? = nil, firstSeenUs: Int64? = nil,
                lastSeenUs: Int64? = nil, packets: Int64 = 0, duplicates: Int64 = 0, decodeErrors: Int64 = 0,
                lastRSSI: Int? = nil, lastChannel: Int? = nil, lastGateway: String? = nil) {
        self.mac = mac
        self.name = name
        self.decoder = decoder
        self.firstSeenUs = firstSeenUs
        self.lastSeenUs = lastSeenUs
        self.packets = packets
        self.duplicates = duplicates
        self.decodeErrors = decodeErrors
        self.lastRSSI = lastRSSI
        self.lastChannel = lastChannel
        self.lastGateway = lastGateway
    }
}

/// Which part of a write was new: packets stored and packets recognised as duplicates.
public struct WriteOutcome: Sendable, Hashable {
    public var stored: Int = 0
    public var duplicates: Int = 0
    public var readings: Int = 0
    public init() {}
}
