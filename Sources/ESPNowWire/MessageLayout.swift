/// Wire type of one body field (section 4, "Body field types", plus RECV's packed fields).
public enum FieldType: Sendable, Hashable {
    case u8, i8, u16, u32, i32, u64
    /// One byte, 0 or 1; any other value is a bad body.
    case bool
    /// 6-byte MAC address.
    case mac
    /// 16 key bytes (PMK or LMK).
    case key
    /// u8 length + UTF-8 bytes, length ≤ `max`.
    case str(max: Int)
    /// The rest of the body, length ≤ `max`; last field only.
    case bytes(max: Int)
    /// RECV `dst`: bits 7..6 of the `dst_rate` byte (0...3); does not advance.
    case dst2
    /// RECV `rate`: bits 5..0 of the same byte; must follow `dst2`.
    case rate6
    /// RECV `dst_addr`: a MAC present only when the preceding `dst2` field is 3.
    case dstAddr

    /// Bytes on the wire for fixed-size types; `nil` for `str` / `bytes`; 0 for `dst2`.
    public var fixedSize: Int? {
        switch self {
        case .u8, .i8, .bool, .rate6: 1
        case .u16: 2
        case .u32, .i32: 4
        case .u64: 8
        case .mac, .dstAddr: 6
        case .key: 16
        case .dst2: 0
        case .str, .bytes: nil
        }
    }
}

/// One named field of a body layout.
public struct FieldLayout: Sendable, Hashable, CustomStringConvertible {
    /// The field name as in PROTOCOL.md and the vectors (e.g. `peer_addr`).
    public let name: String
    public let type: FieldType
    public init(_ name: String, _ type: FieldType) {
        self.name = name
        self.type = type
    }
    public var description: String { "\(name): \(type)" }
}

/// The body layout of one message (a command's request or response, or an event).
/// The table ``all`` drives both ``decodeFields(_:)`` and ``encodeBody(_:)``.
public struct MessageLayout: Sendable, Hashable, CustomStringConvertible {
    public let kind: FrameKind
    public let code: UInt8
    /// Spec name, e.g. `ESPNOW_SEND`, `RECV`.
    public let name: String
    /// The fields in wire order. For responses the first field is `err: i32` and the
    /// others are present only when `err == 0`.
    public let fields: [FieldLayout]

    public init(kind: FrameKind, code: UInt8, name: String, fields: [FieldLayout]) {
        self.kind = kind
        self.code = code
        self.name = name
        self.fields = fields
    }

    public var description: String { "\(name) \(kind)" }

    /// Every layout: each command's request and response, then every event.
    public static let all: [MessageLayout] = _buildLayouts()

    /// The layout for a kind and code, or `nil` for an unknown code. O(1), no allocation.
    @inlinable
    public static func find(kind: FrameKind, code: UInt8) -> MessageLayout? {
        let i = Int(_layoutIndex[Int(kind.rawValue - 1) &* 256 &+ Int(code)])
        return i < 0 ? nil : all[i]
    }

    /// The layout for a kind and spec name (e.g. `.event`, `"RECV"`).
    public static func find(kind: FrameKind, name: String) -> MessageLayout? {
        all.first { $0.kind == kind && $0.name == name }
    }

    /// The field named `name`, if any.
    public func field(named name: String) -> FieldLayout? { fields.first { $0.name == name } }
}

/// kind-1 * 256 + code -> index in MessageLayout.all, or -1.
@usableFromInline
let _layoutIndex: [Int16] = {
    var t = [Int16](repeating: -1, count: 3 * 256)
    for (i, l) in MessageLayout.all.enumerated() { t[Int(l.kind.rawValue - 1) * 256 + Int(l.code)] = Int16(i) }
    return t
}()

private func f(_ name: String, _ type: FieldType) -> FieldLayout { FieldLayout(name, type) }

/// `esp_now_peer_info_t` on the wire (section 6.2), flattened.
private let peerInfo: [FieldLayout] = [
    f("peer_addr", .mac), f("lmk", .key), f("channel", .u8), f("ifidx", .u8), f("encrypt", .bool),
]

/// The HELLO body (section 7.1).
private let helloBody: [FieldLayout] = [
    f("proto_version", .u8), f("fw_major", .u8), f("fw_minor", .u8), f("fw_patch", .u8),
    f("chip_model", .u16), f("chip_revision", .u16), f("espnow_version", .u32), f("max_payload", .u16),
    f("sta_mac", .mac), f("ap_mac", .mac), f("caps", .u32), f("reset_reason", .u8), f("boot_count", .u32),
    f("window", .u8), f("rxbuf", .u32), f("max_frame", .u16), f("transport", .u8), f("baud", .u32),
    f("idf_version", .str(max: 31)), f("max_encrypt", .u8), f("lost_at_reset", .u32),
]

/// The STATS counters (section 10), each u32, in table order (22 in v2).
public let statsCounterNames: [String] = [
    "tx_packets", "tx_responses", "tx_failures", "rx_packets", "rx_dropped", "link_rx_frames",
    "link_rx_bad_crc", "link_rx_bad_cobs", "link_rx_oversize", "link_rx_truncated", "link_rx_bad_version",
    "link_rx_bad_kind", "req_replayed", "req_busy", "link_tx_frames", "events_dropped", "log_dropped", "uptime_s",
    "req_rejected", "req_stale", "tx_abandoned", "resp_unsent",
]

private func _buildLayouts() -> [MessageLayout] {
    let maxPayload = WireProtocol.maxESPNowPayload
    // (command, request body, response outputs)
    let commands: [(CommandCode, [FieldLayout], [FieldLayout])] = [
        (.hello, [], helloBody),
        (.ping, [f("data", .bytes(max: 64))], [f("uptime_us", .u64), f("data", .bytes(max: 64))]),
        (.reset, [], []),
        (.stats, [f("clear", .bool)], statsCounterNames.map { f($0, .u32) }),
        (.setBaud, [f("baud", .u32)], []),
        (.setRxbuf, [f("size", .u32)], [f("size", .u32)]),
        (.espnowInit, [], []),
        (.espnowDeinit, [], []),
        (.espnowGetVersion, [], [f("version", .u32)]),
        (.espnowSend, [f("peer_addr", .mac), f("flags", .u8), f("data", .bytes(max: maxPayload))],
         [f("statuses", .u8), f("failures", .u8)]),
        (.espnowAddPeer, peerInfo, []),
        (.espnowDelPeer, [f("peer_addr", .mac)], []),
        (.espnowModPeer, peerInfo, []),
        (.espnowGetPeer, [f("peer_addr", .mac)], peerInfo),
        (.espnowFetchPeer, [f("from_head", .bool)], peerInfo),
        (.espnowIsPeerExist, [f("peer_addr", .mac)], [f("exists", .bool)]),
        (.espnowGetPeerNum, [], [f("total_num", .u8), f("encrypt_num", .u8)]),
        (.espnowSetPMK, [f("pmk", .key)], []),
        (.espnowSetWakeWindow, [f("window_ms", .u16)], []),
        (.espnowSetPeerRateConfig,
         [f("peer_addr", .mac), f("phymode", .u8), f("rate", .u8), f("ersu", .bool), f("dcm", .bool)], []),
        (.wifiSetMode, [f("mode", .u8)], []),
        (.wifiGetMode, [], [f("mode", .u8)]),
        (.wifiStart, [], []),
        (.wifiStop, [], []),
        (.wifiSetChannel, [f("primary", .u8), f("second", .u8)], []),
        (.wifiGetChannel, [], [f("primary", .u8), f("second", .u8)]),
        (.wifiGetMAC, [f("ifidx", .u8)], [f("mac", .mac)]),
        (.wifiSetMAC, [f("ifidx", .u8), f("mac", .mac)], []),
        (.wifiSetPS, [f("type", .u8)], []),
        (.wifiGetPS, [], [f("type", .u8)]),
        (.wifiSetProtocol, [f("ifidx", .u8), f("bitmap", .u8)], []),
        (.wifiGetProtocol, [f("ifidx", .u8)], [f("bitmap", .u8)]),
        (.wifiSetMaxTxPower, [f("power", .i8)], []),
        (.wifiGetMaxTxPower, [], [f("power", .i8)]),
        (.wifiSetIfActive, [f("ifidx", .u8), f("active", .bool)], []),
        (.wifiGetIfActive, [f("ifidx", .u8)], [f("active", .bool)]),
        (.wifiStaConnect, [f("ssid", .str(max: 32)), f("password", .str(max: 64)), f("bssid", .mac)], []),
        (.wifiStaDisconnect, [], []),
        (.wifiStaStatus, [], [f("status", .u16), f("channel", .u8), f("bssid", .mac), f("rssi", .i8)]),
        (.wifiAPConfig,
         [f("ssid", .str(max: 32)), f("password", .str(max: 64)), f("channel", .u8), f("authmode", .u8),
          f("hidden", .bool), f("max_connection", .u8)], []),
        (.wifiConfigESPNowRate, [f("ifidx", .u8), f("rate", .u8)], []),
        (.wifiSetCountryCode, [f("country", .str(max: 2)), f("ieee80211d", .bool)], []),
        (.wifiGetCountryCode, [], [f("country", .str(max: 2))]),
    ]
    let events: [(EventCode, [FieldLayout])] = [
        (.hello, helloBody),
        (.recv, [f("src_addr", .mac), f("dst", .dst2), f("rate", .rate6), f("rssi", .i8), f("channel", .u8),
                 f("timestamp_us", .u32), f("dst_addr", .dstAddr), f("data", .bytes(max: maxPayload))]),
        (.sendStatus, [f("req_id", .u16), f("peer_addr", .mac), f("status", .u8)]),
        (.log, [f("level", .u8), f("flags", .u8), f("text", .bytes(max: 200))]),
        (.dropped, [f("what", .u8), f("count", .u32), f("total", .u32)]),
        (.wifiEvent, [f("event", .u8), f("channel", .u8), f("reason", .u16)]),
    ]
    var all: [MessageLayout] = []
    for (cmd, req, out) in commands {
        all.append(MessageLayout(kind: .request, code: cmd.rawValue, name: cmd.name, fields: req))
        all.append(MessageLayout(kind: .response, code: cmd.rawValue, name: cmd.name, fields: [f("err", .i32)] + out))
    }
    for (evt, body) in events {
        all.append(MessageLayout(kind: .event, code: evt.rawValue, name: evt.name, fields: body))
    }
    return all
}
