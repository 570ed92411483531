/// Command codes (section 6); requests and their responses carry them. ``name`` is the spec's name.
public enum CommandCode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case hello = 0x01
    case ping = 0x02
    case reset = 0x03
    case stats = 0x04
    case setBaud = 0x05
    case setRxbuf = 0x06
    case espnowInit = 0x10
    case espnowDeinit = 0x11
    case espnowGetVersion = 0x12
    case espnowSend = 0x13
    case espnowAddPeer = 0x14
    case espnowDelPeer = 0x15
    case espnowModPeer = 0x16
    case espnowGetPeer = 0x17
    case espnowFetchPeer = 0x18
    case espnowIsPeerExist = 0x19
    case espnowGetPeerNum = 0x1A
    case espnowSetPMK = 0x1B
    case espnowSetWakeWindow = 0x1C
    case espnowSetPeerRateConfig = 0x1D
    case wifiSetMode = 0x30
    case wifiGetMode = 0x31
    case wifiStart = 0x32
    case wifiStop = 0x33
    case wifiSetChannel = 0x34
    case wifiGetChannel = 0x35
    case wifiGetMAC = 0x36
    case wifiSetMAC = 0x37
    case wifiSetPS = 0x38
    case wifiGetPS = 0x39
    case wifiSetProtocol = 0x3A
    case wifiGetProtocol = 0x3B
    case wifiSetMaxTxPower = 0x3C
    case wifiGetMaxTxPower = 0x3D
    case wifiSetIfActive = 0x3E
    case wifiGetIfActive = 0x3F
    case wifiStaConnect = 0x40
    case wifiStaDisconnect = 0x41
    case wifiStaStatus = 0x42
    case wifiAPConfig = 0x43
    case wifiConfigESPNowRate = 0x44
    case wifiSetCountryCode = 0x45
    case wifiGetCountryCode = 0x46

    /// The spec's name, e.g. `ESPNOW_SEND`.
    public var name: String {
        switch self {
        case .hello: "HELLO"
        case .ping: "PING"
        case .reset: "RESET"
        case .stats: "STATS"
        case .setBaud: "SET_BAUD"
        case .setRxbuf: "SET_RXBUF"
        case .espnowInit: "ESPNOW_INIT"
        case .espnowDeinit: "ESPNOW_DEINIT"
        case .espnowGetVersion: "ESPNOW_GET_VERSION"
        case .espnowSend: "ESPNOW_SEND"
        case .espnowAddPeer: "ESPNOW_ADD_PEER"
        case .espnowDelPeer: "ESPNOW_DEL_PEER"
        case .espnowModPeer: "ESPNOW_MOD_PEER"
        case .espnowGetPeer: "ESPNOW_GET_PEER"
        case .espnowFetchPeer: "ESPNOW_FETCH_PEER"
        case .espnowIsPeerExist: "ESPNOW_IS_PEER_EXIST"
        case .espnowGetPeerNum: "ESPNOW_GET_PEER_NUM"
        case .espnowSetPMK: "ESPNOW_SET_PMK"
        case .espnowSetWakeWindow: "ESPNOW_SET_WAKE_WINDOW"
        case .espnowSetPeerRateConfig: "ESPNOW_SET_PEER_RATE_CONFIG"
        case .wifiSetMode: "WIFI_SET_MODE"
        case .wifiGetMode: "WIFI_GET_MODE"
        case .wifiStart: "WIFI_START"
        case .wifiStop: "WIFI_STOP"
        case .wifiSetChannel: "WIFI_SET_CHANNEL"
        case .wifiGetChannel: "WIFI_GET_CHANNEL"
        case .wifiGetMAC: "WIFI_GET_MAC"
        case .wifiSetMAC: "WIFI_SET_MAC"
        case .wifiSetPS: "WIFI_SET_PS"
        case .wifiGetPS: "WIFI_GET_PS"
        case .wifiSetProtocol: "WIFI_SET_PROTOCOL"
        case .wifiGetProtocol: "WIFI_GET_PROTOCOL"
        case .wifiSetMaxTxPower: "WIFI_SET_MAX_TX_POWER"
        case .wifiGetMaxTxPower: "WIFI_GET_MAX_TX_POWER"
        case .wifiSetIfActive: "WIFI_SET_IF_ACTIVE"
        case .wifiGetIfActive: "WIFI_GET_IF_ACTIVE"
        case .wifiStaConnect: "WIFI_STA_CONNECT"
        case .wifiStaDisconnect: "WIFI_STA_DISCONNECT"
        case .wifiStaStatus: "WIFI_STA_STATUS"
        case .wifiAPConfig: "WIFI_AP_CONFIG"
        case .wifiConfigESPNowRate: "WIFI_CONFIG_ESPNOW_RATE"
        case .wifiSetCountryCode: "WIFI_SET_COUNTRY_CODE"
        case .wifiGetCountryCode: "WIFI_GET_COUNTRY_CODE"
        }
    }

    /// Looks a command up by its spec name.
    public init?(name: String) {
        guard let c = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = c
    }

    public var description: String { name }
}

/// Event codes (section 7). ``name`` is the spec's name.
public enum EventCode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case hello = 0x80
    case recv = 0x81
    case sendStatus = 0x82
    case log = 0x83
    case dropped = 0x84
    case wifiEvent = 0x85

    /// The spec's name, e.g. `SEND_STATUS`.
    public var name: String {
        switch self {
        case .hello: "HELLO"
        case .recv: "RECV"
        case .sendStatus: "SEND_STATUS"
        case .log: "LOG"
        case .dropped: "DROPPED"
        case .wifiEvent: "WIFI_EVENT"
        }
    }

    /// Looks an event up by its spec name.
    public init?(name: String) {
        guard let c = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = c
    }

    public var description: String { name }
}

/// RECV `dst` (bits 7..6 of `dst_rate`).
public enum RecvDestination: UInt8, Sendable, Hashable, CaseIterable {
    /// Our STA MAC.
    case station = 0
    /// Our AP MAC.
    case accessPoint = 1
    /// `ff:ff:ff:ff:ff:ff`.
    case broadcast = 2
    /// Another address, carried in `dst_addr`.
    case other = 3
}

/// An `esp_err_t` value as carried in a response's `err` (section 5). Unknown values
/// are kept and shown numerically.
public struct ESPError: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let ok = ESPError(rawValue: 0)
    public static let fail = ESPError(rawValue: -1)
    public static let invalidSize = ESPError(rawValue: 0x104)
    public static let notSupported = ESPError(rawValue: 0x106)
    public static let bridgeBusy = ESPError(rawValue: 0xB001)
    public static let bridgeStale = ESPError(rawValue: 0xB002)
    public static let espnowNoMem = ESPError(rawValue: 0x3067)
    public static let espnowArg = ESPError(rawValue: 0x3066)

    /// Every value listed in section 5 and its ESP-IDF / bridge name.
    public static let names: [Int32: String] = [
        0: "ESP_OK",
        -1: "ESP_FAIL",
        0x101: "ESP_ERR_NO_MEM",
        0x102: "ESP_ERR_INVALID_ARG",
        0x103: "ESP_ERR_INVALID_STATE",
        0x104: "ESP_ERR_INVALID_SIZE",
        0x105: "ESP_ERR_NOT_FOUND",
        0x106: "ESP_ERR_NOT_SUPPORTED",
        0x107: "ESP_ERR_TIMEOUT",
        0x3001: "ESP_ERR_WIFI_NOT_INIT",
        0x3002: "ESP_ERR_WIFI_NOT_STARTED",
        0x3003: "ESP_ERR_WIFI_NOT_STOPPED",
        0x3004: "ESP_ERR_WIFI_IF",
        0x3005: "ESP_ERR_WIFI_MODE",
        0x3006: "ESP_ERR_WIFI_STATE",
        0x3007: "ESP_ERR_WIFI_CONN",
        0x3008: "ESP_ERR_WIFI_NVS",
        0x3009: "ESP_ERR_WIFI_MAC",
        0x300A: "ESP_ERR_WIFI_SSID",
        0x300B: "ESP_ERR_WIFI_PASSWORD",
        0x300C: "ESP_ERR_WIFI_TIMEOUT",
        0x300F: "ESP_ERR_WIFI_NOT_CONNECT",
        0x3065: "ESP_ERR_ESPNOW_NOT_INIT",
        0x3066: "ESP_ERR_ESPNOW_ARG",
        0x3067: "ESP_ERR_ESPNOW_NO_MEM",
        0x3068: "ESP_ERR_ESPNOW_FULL",
        0x3069: "ESP_ERR_ESPNOW_NOT_FOUND",
        0x306A: "ESP_ERR_ESPNOW_INTERNAL",
        0x306B: "ESP_ERR_ESPNOW_EXIST",
        0x306C: "ESP_ERR_ESPNOW_IF",
        0x306D: "ESP_ERR_ESPNOW_CHAN",
        0xB001: "ESP_ERR_BRIDGE_BUSY",
        0xB002: "ESP_ERR_BRIDGE_STALE",
        // Answered by a broker (PROTOCOL.md section 12).
        0xB003: "ESP_ERR_BRIDGE_REFUSED",
        0xB004: "ESP_ERR_BRIDGE_NO_DEVICE",
    ]

    /// The name, or `nil` for a value not in section 5.
    public var name: String? { Self.names[rawValue] }

    /// Looks a value up by name.
    public init?(name: String) {
        guard let v = Self.names.first(where: { $0.value == name })?.key else { return nil }
        rawValue = v
    }

    /// `ESP_ERR_ESPNOW_NOT_FOUND (0x3069)`, or `0x1234` / `-5` for unknown values.
    public var description: String {
        let num = rawValue < 0 ? String(rawValue) : "0x" + String(rawValue, radix: 16, uppercase: true)
        guard let n = name else { return num }
        return "\(n) (\(num))"
    }
}
