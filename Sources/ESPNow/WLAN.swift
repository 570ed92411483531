import ESPNowDevice
import ESPNowWire
import NIOConcurrencyHelpers

/// The `network.WLAN` calls the seed and today's MicroPython espnow documentation use, on
/// the dongle's interfaces.
public final class WLAN: Sendable {
    /// `network.STA_IF` / `network.AP_IF` (the seed) and `WLAN.IF_STA` / `WLAN.IF_AP`
    /// (today): `wifi_interface_t` values.
    public static let STA_IF = 0
    public static let AP_IF = 1
    public static let IF_STA = 0
    public static let IF_AP = 1
    /// `network.WIFI_PS_*` (the seed's `ps_mode`) and `WLAN.PM_*` (today's `pm`): `wifi_ps_type_t`.
    public static let WIFI_PS_NONE = 0
    public static let WIFI_PS_MIN_MODEM = 1
    public static let WIFI_PS_MAX_MODEM = 2
    public static let PM_NONE = 0
    public static let PM_PERFORMANCE = 1
    public static let PM_POWERSAVE = 2
    /// `WLAN.PROTOCOL_*`: `WIFI_PROTOCOL_*` bitmaps for `config(protocol:)`. The default is
    /// 802.11b/g/n (Wi-Fi 6 chips' default also has 802.11ax, `0x40` here).
    public static let PROTOCOL_DEFAULT = 0x7
    public static let PROTOCOL_LR = 0x8
    public static let STAT_GOT_IP = 1010

    public enum Interface: Sendable { case sta, ap }

    /// A value read with `config('param')`: prints like MicroPython's (`3`, `b'\x02...'`).
    public enum ConfigValue: Sendable, Hashable, CustomStringConvertible, ExpressibleByIntegerLiteral {
        case int(Int)
        case bytes([UInt8])

        public init(integerLiteral value: Int) { self = .int(value) }

        public var intValue: Int? { if case .int(let v) = self { v } else { nil } }
        public var bytesValue: [UInt8]? { if case .bytes(let b) = self { b } else { nil } }

        public var description: String {
            switch self {
            case .int(let v): return "\(v)"
            case .bytes(let b):
                let digits = Array("0123456789abcdef")
                return "b'" + b.map { "\\x" + String(digits[Int($0 >> 4)]) + String(digits[Int($0 & 15)]) }.joined() + "'"
            }
        }
    }

    public let device: ESPNowDevice
    public let interface: Interface
    var iface: WiFiInterface { interface == .sta ? .sta : .ap }

    struct APConfig: Equatable {
        var ssid: [UInt8]
        var password: [UInt8] = []
        var channel: UInt8 = 0
        var authmode: UInt8 = 0
        var hidden = false
        var maxConnection: UInt8 = 4
    }

    struct State {
        var pendingChannel: UInt8?
        var ap: APConfig?
    }
    let state = NIOLockedValueBox(State())

    public init(_ interface: Interface, device: ESPNowDevice) {
        self.interface = interface
        self.device = device
    }

    public convenience init(_ interface: Interface, _ e: ESPNow) { self.init(interface, device: e.device) }

    /// `WLAN(STA_IF)` / `WLAN(WLAN.IF_AP)`: the interface by MicroPython's integer constant;
    /// any other value raises ValueError as MicroPython does.
    public convenience init(_ id: Int, device: ESPNowDevice) throws {
        switch id {
        case WLAN.IF_STA: self.init(.sta, device: device)
        case WLAN.IF_AP: self.init(.ap, device: device)
        default: throw ValueError("invalid WLAN interface identifier \(id)")
        }
    }

    public convenience init(_ id: Int, _ e: ESPNow) throws { try self.init(id, device: e.device) }

    /// `active()`.
    public func active() async throws -> Bool { try await espCall { try await device.wifiGetIfActive(iface) } }

    /// `active(flag)`; settings given while inactive are applied once active.
    public func active(_ flag: Bool) async throws {
        try await espCall { try await device.wifiSetIfActive(iface, flag) }
        guard flag else { return }
        let (ch, ap) = state.withLockedValue { s in
            let r = (s.pendingChannel, s.ap)
            s.pendingChannel = nil
            return r
        }
        if let ap {
            do {
                try await apply(ap)
            } catch {
                // Refused by the dongle: not kept, so the host's view is the dongle's.
                state.withLockedValue { if $0.ap == ap { $0.ap = nil } }
                throw error
            }
        }
        if let ch { try await espCall { try await device.wifiSetChannel(primary: ch) } }
    }

    private func apply(_ a: APConfig) async throws {
        var ch = a.channel
        if ch == 0 { ch = try await espCall { try await device.wifiGetChannel().primary } }
        try await espCall {
            try await device.wifiAPConfig(ssid: a.ssid, password: a.password, channel: ch, authmode: a.authmode,
                                          hidden: a.hidden, maxConnection: a.maxConnection)
        }
    }

    private static func powerSave(_ p: Int, _ name: String) throws -> WiFiPowerSave {
        guard let v = UInt8(exactly: p), let ps = WiFiPowerSave(rawValue: v) else { throw ValueError("\(name) must be 0...2, got \(p)") }
        return ps
    }

    /// `config(channel=, ps_mode=|pm=, protocol=, hidden=, essid=, password=)`. Every
    /// argument is checked before anything is sent (channel 1...14, essid ≤ 32 and password
    /// ≤ 64 bytes, ps_mode/pm 0...2, protocol a `u8` bitmap); an AP setting the dongle
    /// refuses is not kept. `protocol` (`PROTOCOL_*`) is `esp_wifi_set_protocol` on this
    /// interface.
    public func config(channel: Int? = nil, psMode: Int? = nil, pm: Int? = nil, protocol proto: Int? = nil,
                       hidden: Bool? = nil, essid: String? = nil, password: String? = nil) async throws {
        let ch = try channel.map { try Check.wifiChannel($0) }
        let ps = try psMode.map { try Self.powerSave($0, "ps_mode") }
        let pmode = try pm.map { try Self.powerSave($0, "pm") }
        if let a = ps, let b = pmode, a != b { throw ValueError("ps_mode and pm name the same setting; got \(psMode!) and \(pm!)") }
        let bitmap = try proto.map { p -> UInt8 in
            guard let v = UInt8(exactly: p) else { throw ValueError("protocol must be a WIFI_PROTOCOL_* bitmap (0...255), got \(p)") }
            return v
        }
        let ssid = essid.map { Array($0.utf8) }
        let pass = password.map { Array($0.utf8) }
        if let s = ssid, s.count > 32 { throw ValueError("essid must be at most 32 bytes, got \(s.count)") }
        if let p = pass, p.count > 64 { throw ValueError("password must be at most 64 bytes, got \(p.count)") }
        let apChange = hidden != nil || ssid != nil || pass != nil
        if apChange && interface != .ap { throw ValueError("essid, password and hidden are AP_IF settings") }

        if let p = ps ?? pmode { try await espCall { try await device.wifiSetPS(p) } }
        if let b = bitmap { try await espCall { try await device.wifiSetProtocol(iface, bitmap: b) } }
        guard apChange || ch != nil else { return }
        let isActive = try await active()
        if interface == .ap {
            let apMAC = device.info.apMAC
            var a = state.withLockedValue { $0.ap } ?? APConfig(ssid: Array("ESP_\(Hex.encode(apMAC.bytes.suffix(3)).uppercased())".utf8))
            if let h = hidden { a.hidden = h }
            if let s = ssid { a.ssid = s }
            if let p = pass { a.password = p; a.authmode = p.isEmpty ? 0 : 3 }
            if let c = ch { a.channel = c }
            // Kept only once the dongle took it (or, inactive, to apply at active(True)).
            if isActive { try await apply(a) }
            state.withLockedValue { $0.ap = a }
        } else if let c = ch {
            if isActive {
                try await espCall { try await device.wifiSetChannel(primary: c) }
            } else {
                state.withLockedValue { $0.pendingChannel = c }
            }
        }
    }

    /// `config('param')`: `"mac"` (bytes), `"channel"`, `"protocol"`, `"pm"`/`"ps_mode"`
    /// (integers), as MicroPython returns them.
    public func config(_ param: String) async throws -> ConfigValue {
        switch param {
        case "mac": return .bytes(try await espCall { try await device.wifiGetMAC(iface) }.bytes)
        case "channel": return .int(Int(try await espCall { try await device.wifiGetChannel().primary }))
        case "protocol": return .int(Int(try await espCall { try await device.wifiGetProtocol(iface) }))
        case "pm", "ps_mode": return .int(Int(try await espCall { try await device.wifiGetPS() }.rawValue))
        default: throw ValueError("unknown config param '\(param)'")
        }
    }

    /// `config('mac')` where bytes are expected.
    @_disfavoredOverload
    public func config(_ param: String) async throws -> [UInt8] {
        let v: ConfigValue = try await config(param)
        guard let b = v.bytesValue else { throw ValueError("config('\(param)') is an integer, not bytes") }
        return b
    }

    /// `config('channel')` (or another integer parameter) where an integer is expected.
    @_disfavoredOverload
    public func config(_ param: String) async throws -> Int {
        let v: ConfigValue = try await config(param)
        guard let i = v.intValue else { throw ValueError("config('\(param)') is bytes, not an integer") }
        return i
    }

    /// `connect(ssid, password)` (STA).
    public func connect(_ ssid: String, _ password: String = "") async throws {
        guard interface == .sta else { throw ValueError("connect() is for STA_IF") }
        try await espCall { try await device.wifiStaConnect(ssid: Array(ssid.utf8), password: Array(password.utf8)) }
    }

    /// `isconnected()`.
    public func isconnected() async throws -> Bool {
        guard interface == .sta else { return false }
        return try await espCall { try await device.wifiStaStatus() }.status == UInt16(WLAN.STAT_GOT_IP)
    }

    /// `disconnect()`.
    public func disconnect() async throws { try await espCall { try await device.wifiStaDisconnect() } }
}
