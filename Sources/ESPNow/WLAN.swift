import ESPNowDevice
import ESPNowWire
import NIOConcurrencyHelpers

/// The `network.WLAN` calls the seed uses, on the dongle's interfaces.
public final class WLAN: Sendable {
    public static let STA_IF = 0
    public static let AP_IF = 1
    public static let WIFI_PS_NONE = 0
    public static let WIFI_PS_MIN_MODEM = 1
    public static let WIFI_PS_MAX_MODEM = 2
    public static let STAT_GOT_IP = 1010

    public enum Interface: Sendable { case sta, ap }

    public let device: ESPNowDevice
    public let interface: Interface
    var iface: WiFiInterface { interface == .sta ? .sta : .ap }

    struct APConfig {
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
        if let ap { try await apply(ap) }
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

    /// `config(channel=, ps_mode=, hidden=, essid=, password=)`.
    public func config(channel: Int? = nil, psMode: Int? = nil, hidden: Bool? = nil, essid: String? = nil,
                       password: String? = nil) async throws {
        let ch = try channel.map { try Check.channel($0) }
        if let p = psMode {
            guard let v = UInt8(exactly: p), let ps = WiFiPowerSave(rawValue: v) else { throw ValueError("ps_mode must be 0...2, got \(p)") }
            try await espCall { try await device.wifiSetPS(ps) }
        }
        let isActive = try await active()
        if interface == .ap && (hidden != nil || essid != nil || password != nil || ch != nil) {
            let apMAC = device.info.apMAC
            let a = state.withLockedValue { s -> APConfig in
                var a = s.ap ?? APConfig(ssid: Array("ESP_\(Hex.encode(apMAC.bytes.suffix(3)).uppercased())".utf8))
                if let h = hidden { a.hidden = h }
                if let e = essid { a.ssid = Array(e.utf8) }
                if let p = password { a.password = Array(p.utf8); a.authmode = p.isEmpty ? 0 : 3 }
                if let c = ch { a.channel = c }
                s.ap = a
                return a
            }
            guard a.ssid.count <= 32, a.password.count <= 64 else { throw ValueError("essid ≤ 32 and password ≤ 64 bytes") }
            if isActive { try await apply(a) }
        } else if let c = ch {
            if isActive {
                try await espCall { try await device.wifiSetChannel(primary: c) }
            } else {
                state.withLockedValue { $0.pendingChannel = c }
            }
        }
    }

    /// `config('mac')` (bytes) or `config('channel')`.
    public func config(_ param: String) async throws -> [UInt8] {
        switch param {
        case "mac": return try await espCall { try await device.wifiGetMAC(iface) }.bytes
        case "channel": return [try await espCall { try await device.wifiGetChannel().primary }]
        default: throw ValueError("unknown config param '\(param)'")
        }
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
