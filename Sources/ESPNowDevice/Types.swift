import ESPNowWire
import NIOCore

/// The HELLO body (section 7.1).
public struct DeviceInfo: Sendable, Hashable {
    public var protoVersion: UInt8
    public var firmware: (major: UInt8, minor: UInt8, patch: UInt8) { (fwMajor, fwMinor, fwPatch) }
    public var fwMajor: UInt8, fwMinor: UInt8, fwPatch: UInt8
    public var chipModel: UInt16
    public var chipRevision: UInt16
    public var espnowVersion: UInt32
    public var maxPayload: Int
    public var staMAC: MACAddress
    public var apMAC: MACAddress
    public var caps: UInt32
    public var resetReason: UInt8
    public var bootCount: UInt32
    public var window: Int
    public var rxbuf: Int
    public var maxFrame: Int
    public var transport: UInt8
    public var baud: UInt32
    public var idfVersion: String
    /// Encrypted peers the dongle's driver allows (CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM).
    public var maxEncryptedPeers: Int
    /// Received packets the radio acknowledged that were still in the dongle when it last
    /// restarted without losing power (0 after power-on).
    public var lostAtReset: UInt32

    public var supportsV2: Bool { caps & 1 != 0 || espnowVersion >= 2 }
    public var isSimulated: Bool { caps & (1 << 3) != 0 }
    /// The HELLO came from a broker sharing the dongle (PROTOCOL.md, "Multiplexing").
    public var isBrokered: Bool { caps & BrokerWire.brokeredCap != 0 }

    init(fields f: [String: FieldValue]) throws(ESPNowError) {
        func u(_ n: String) throws(ESPNowError) -> UInt64 {
            guard let v = f[n]?.uintValue else { throw .badResponse(command: .hello, detail: "missing \(n)") }
            return v
        }
        func m(_ n: String) throws(ESPNowError) -> MACAddress {
            guard case .mac(let v)? = f[n] else { throw .badResponse(command: .hello, detail: "missing \(n)") }
            return v
        }
        protoVersion = UInt8(truncatingIfNeeded: try u("proto_version"))
        fwMajor = UInt8(truncatingIfNeeded: try u("fw_major"))
        fwMinor = UInt8(truncatingIfNeeded: try u("fw_minor"))
        fwPatch = UInt8(truncatingIfNeeded: try u("fw_patch"))
        chipModel = UInt16(truncatingIfNeeded: try u("chip_model"))
        chipRevision = UInt16(truncatingIfNeeded: try u("chip_revision"))
        espnowVersion = UInt32(truncatingIfNeeded: try u("espnow_version"))
        maxPayload = Int(try u("max_payload"))
        staMAC = try m("sta_mac")
        apMAC = try m("ap_mac")
        caps = UInt32(truncatingIfNeeded: try u("caps"))
        resetReason = UInt8(truncatingIfNeeded: try u("reset_reason"))
        bootCount = UInt32(truncatingIfNeeded: try u("boot_count"))
        window = max(1, Int(try u("window")))
        rxbuf = Int(try u("rxbuf"))
        maxFrame = Int(try u("max_frame"))
        transport = UInt8(truncatingIfNeeded: try u("transport"))
        baud = UInt32(truncatingIfNeeded: try u("baud"))
        maxEncryptedPeers = Int(try u("max_encrypt"))
        lostAtReset = UInt32(truncatingIfNeeded: try u("lost_at_reset"))
        switch f["idf_version"] {
        case .string(let s)?: idfVersion = s
        case .bytes(let b)?: idfVersion = Hex.encode(b)
        default: idfVersion = ""
        }
    }

    public static func == (a: DeviceInfo, b: DeviceInfo) -> Bool {
        a.bootCount == b.bootCount && a.staMAC == b.staMAC && a.apMAC == b.apMAC && a.protoVersion == b.protoVersion
    }
    public func hash(into h: inout Hasher) { h.combine(bootCount); h.combine(staMAC) }
}

/// `wifi_interface_t`.
public enum WiFiInterface: UInt8, Sendable, Hashable, CaseIterable {
    case sta = 0
    case ap = 1
}

/// `wifi_mode_t`.
public enum WiFiMode: UInt8, Sendable, Hashable {
    case null = 0, sta = 1, ap = 2, apsta = 3
}

/// `wifi_ps_type_t`.
public enum WiFiPowerSave: UInt8, Sendable, Hashable {
    case none = 0, minModem = 1, maxModem = 2
}

/// `esp_now_peer_info_t`.
public struct PeerInfo: Sendable, Hashable {
    public var peerAddr: MACAddress
    /// 16 bytes (all zero when unused).
    public var lmk: [UInt8]
    public var channel: UInt8
    public var ifidx: WiFiInterface
    public var encrypt: Bool

    public init(peerAddr: MACAddress, lmk: [UInt8] = Array(repeating: 0, count: 16), channel: UInt8 = 0,
                ifidx: WiFiInterface = .sta, encrypt: Bool = false) {
        self.peerAddr = peerAddr
        self.lmk = lmk
        self.channel = channel
        self.ifidx = ifidx
        self.encrypt = encrypt
    }

    var fields: [String: FieldValue] {
        ["peer_addr": .mac(peerAddr), "lmk": .bytes(lmk), "channel": .uint(UInt64(channel)),
         "ifidx": .uint(UInt64(ifidx.rawValue)), "encrypt": .uint(encrypt ? 1 : 0)]
    }

    init(fields f: [String: FieldValue], command: CommandCode) throws(ESPNowError) {
        guard case .mac(let m)? = f["peer_addr"], let lmk = f["lmk"]?.byteValue, let ch = f["channel"]?.uintValue,
              let i = f["ifidx"]?.uintValue, let e = f["encrypt"]?.uintValue else {
            throw .badResponse(command: command, detail: "peer_info")
        }
        peerAddr = m
        self.lmk = lmk
        channel = UInt8(truncatingIfNeeded: ch)
        ifidx = WiFiInterface(rawValue: UInt8(truncatingIfNeeded: i)) ?? .sta
        encrypt = e != 0
    }
}

/// The outputs of `ESPNOW_SEND` and, for sync sends, the statuses it waited for.
public struct SendResult: Sendable, Hashable {
    /// Destinations the radio reported on (1, or the unicast peer count for a NULL send).
    public var statuses: Int
    /// How many reported `ESP_NOW_SEND_FAIL` (sync sends; 0 for async).
    public var failures: Int
    /// The request id (SEND_STATUS events of async sends carry it).
    public var requestID: UInt16
    /// Per-destination statuses (sync sends).
    public var peerStatuses: [SendStatus]
}

/// A SEND_STATUS event.
public struct SendStatus: Sendable, Hashable {
    public var requestID: UInt16
    public var peer: MACAddress
    public var success: Bool
    /// The dongle stopped waiting for the radio (ESP-NOW deinit, Wi-Fi stop, RESET): the
    /// packet may or may not have gone out. `success` is false.
    public var abandoned: Bool = false
}

/// A received ESP-NOW packet (RECV event). `data` is a slice of the frame's buffer (no copy).
public struct ReceivedPacket: Sendable {
    public var src: MACAddress
    public var dst: RecvDestination
    /// `dst_addr` when `dst == .other` (multicast).
    public var dstAddr: MACAddress?
    /// `wifi_phy_rate_t` (63: unknown).
    public var rate: UInt8
    public var rssi: Int8
    public var channel: UInt8
    /// Device microseconds (wraps).
    public var timestampUs: UInt32
    public var data: ByteBuffer

    /// The payload as a new array.
    public var bytes: [UInt8] { Array(data.readableBytesView) }
}

/// A LOG event.
public struct DeviceLog: Sendable, Hashable {
    public enum Level: UInt8, Sendable { case error = 1, warn, info, debug, verbose }
    public var level: Level
    public var text: String
    public var truncated: Bool
}

/// Connection-level events.
public enum DeviceEvent: Sendable {
    /// A HELLO (the handshake's, or a boot HELLO event).
    case hello(DeviceInfo)
    /// Unexpected HELLO: the dongle rebooted; `failedCalls` in-flight calls were failed.
    case rebooted(DeviceInfo, failedCalls: Int)
    /// The link ended; in-flight calls were failed.
    case unplugged(path: String, failedCalls: Int)
    /// The same port came back and the handshake succeeded.
    case replugged(DeviceInfo)
    /// The state the client had set was restored (`failed` lists the steps that failed).
    case restored(steps: Int, failed: [String])
    /// A DROPPED event from the device.
    case dropped(what: UInt8, count: UInt32, total: UInt32)
    /// A WIFI_EVENT (1 connected, 2 disconnected, 3 home channel changed).
    case wifi(event: UInt8, channel: UInt8, reason: UInt16)
}

/// Counters kept on the host: link-level drops (section 10) and everything a bounded
/// buffer had to drop, so that nothing is lost silently.
public struct HostCounters: Sendable, Hashable {
    public var link = LinkCounters()
    /// Request frames written to the link (first transmissions and retransmissions).
    public var framesSent: UInt64 = 0
    public var packetsReceived: UInt64 = 0
    /// Packets dropped because the host receive queue was full.
    public var packetsDropped: UInt64 = 0
    public var sendStatusesDropped: UInt64 = 0
    public var logsDropped: UInt64 = 0
    public var eventsDropped: UInt64 = 0
    /// DROPPED events' totals by `what` (1 packets, 2 events, 3 logs), as reported by the device.
    public var deviceDropped: [UInt8: UInt64] = [:]
    public var unknownEvents: UInt64 = 0
    /// Responses that matched no call (replays of answers already received, or late ones).
    public var unmatchedResponses: UInt64 = 0
    public var retransmissions: UInt64 = 0
    /// Attempt timers that found the dongle still sending on a slow link and waited on
    /// (the response was likely queued behind those frames) instead of retransmitting.
    public var extendedAttempts: UInt64 = 0
    /// BUSY answers to retransmissions of a request still in progress (ignored: the first
    /// copy's own answer follows).
    public var busyRetransmissions: UInt64 = 0
    public var reboots: UInt64 = 0
    public var reconnects: UInt64 = 0
}

/// STATS outputs (section 10), in table order.
public struct DeviceStats: Sendable, Hashable {
    public var values: [UInt32]
    public subscript(name: String) -> UInt32 {
        guard let i = statsCounterNames.firstIndex(of: name), i < values.count else { return 0 }
        return values[i]
    }
    public var txPackets: UInt32 { self["tx_packets"] }
    public var txResponses: UInt32 { self["tx_responses"] }
    public var txFailures: UInt32 { self["tx_failures"] }
    public var rxPackets: UInt32 { self["rx_packets"] }
    public var rxDropped: UInt32 { self["rx_dropped"] }
}

/// STA status (WIFI_STA_STATUS).
public struct StationStatus: Sendable, Hashable {
    /// MicroPython `network.STAT_*` (1010 GOT_IP).
    public var status: UInt16
    public var channel: UInt8
    public var bssid: MACAddress
    public var rssi: Int8
}
