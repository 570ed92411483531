import ESPNowWire
import NIOCore

/// One method per protocol command, named after the ESP-IDF function it calls.
extension ESPNowDevice {
    private func u(_ r: Response, _ n: String, _ c: CommandCode) throws -> UInt64 {
        guard let v = r.fields[n]?.uintValue else { throw ESPNowError.badResponse(command: c, detail: "missing \(n)") }
        return v
    }

    private static func key(_ k: [UInt8], _ what: String) throws {
        guard k.count == 16 else { throw ESPNowError.invalidArgument("\(what) must be 16 bytes, got \(k.count)") }
    }

    /// What `esp_now_add_peer`/`esp_now_mod_peer` would refuse with ESP_ERR_ESPNOW_ARG.
    private static func checkPeer(_ p: PeerInfo) throws {
        try key(p.lmk, "lmk")
        guard p.peerAddr != .zero else { throw ESPNowError.invalidArgument("00:00:00:00:00:00 is not a peer address") }
        guard p.channel <= 14 else { throw ESPNowError.invalidArgument("peer channel must be 0...14, got \(p.channel)") }
        guard !(p.encrypt && p.peerAddr[0] & 1 != 0) else {
            throw ESPNowError.invalidArgument("broadcast and multicast peers cannot be encrypted")
        }
    }

    // MARK: Housekeeping

    /// HELLO: the device's identity and limits.
    public func hello() async throws -> DeviceInfo {
        let r = try await call(.hello, [:], record: false)
        return try DeviceInfo(fields: r.fields)
    }

    /// PING: round trip with up to 64 bytes; returns the device uptime and the echoed data.
    public func ping(_ data: [UInt8] = []) async throws -> (uptimeUs: UInt64, data: [UInt8]) {
        guard data.count <= 64 else { throw ESPNowError.invalidArgument("ping data is limited to 64 bytes") }
        let r = try await call(.ping, ["data": .bytes(data)], record: false)
        return (try u(r, "uptime_us", .ping), r.fields["data"]?.byteValue ?? [])
    }

    /// RESET (`esp_restart`): answered, then the dongle reboots; the client restores its state.
    /// Sent once, never retransmitted: a copy reaching the restarted dongle would restart
    /// it again. If the answer is lost, the reboot itself (its HELLO) completes the call.
    public func reset() async throws {
        do {
            _ = try await call(.reset, [:], record: false, attempts: 1)
        } catch ESPNowError.deviceRebooted(command: .reset) {
            return
        }
    }

    /// STATS: the 19 device counters; `clear` zeroes them after reading.
    public func stats(clear: Bool = false) async throws -> DeviceStats {
        let r = try await call(.stats, ["clear": .uint(clear ? 1 : 0)], record: false)
        return DeviceStats(values: statsCounterNames.map { UInt32(truncatingIfNeeded: r.fields[$0]?.uintValue ?? 0) })
    }

    /// SET_BAUD (UART transports); switches the host side after the response.
    public func setBaud(_ baud: Int) async throws {
        guard let b = UInt32(exactly: baud), b > 0 else { throw ESPNowError.invalidArgument("baud \(baud)") }
        _ = try await call(.setBaud, ["baud": .uint(UInt64(b))], record: false)
        if let l = state.withLockedValue({ $0.link }) { try l.setBaudRate(baud) }
        state.withLockedValue { s in
            if s.line.bytesPerSecond != nil { s.line = LinePace(bytesPerSecond: baud / 10) }  // retry timing follows
        }
        _ = try await ping()
    }

    /// SET_RXBUF: the device receive buffer (bytes, at least 64); returns the size in force
    /// (the device caps it at its build's maximum).
    @discardableResult
    public func setRxbuf(_ size: Int) async throws -> Int {
        guard size >= 64, let s = UInt32(exactly: size) else {
            throw ESPNowError.invalidArgument("rxbuf must be 64...\(UInt32.max) bytes, got \(size)")
        }
        let r = try await call(.setRxbuf, ["size": .uint(UInt64(s))])
        return Int(try u(r, "size", .setRxbuf))
    }

    // MARK: esp_now_*

    public func espNowInit() async throws { _ = try await call(.espnowInit, [:]) }
    public func espNowDeinit() async throws { _ = try await call(.espnowDeinit, [:]) }

    public func espNowGetVersion() async throws -> UInt32 {
        UInt32(truncatingIfNeeded: try u(try await call(.espnowGetVersion, [:]), "version", .espnowGetVersion))
    }

    /// `esp_now_send`: `peer` nil sends to every unicast peer (the protocol's every-peer
    /// flag). The all-zero MAC is no station's address and is refused here, before the
    /// wire. A sync send returns after every destination's status, with them in
    /// ``SendResult/peerStatuses``.
    public func espNowSend(peer: MACAddress?, data: [UInt8], sync: Bool) async throws -> SendResult {
        let maxLen = info.maxPayload
        guard !data.isEmpty, data.count <= maxLen else {
            throw ESPNowError.invalidArgument("message is \(data.count) bytes, the dongle allows 1...\(maxLen)")
        }
        if peer == .zero {
            throw ESPNowError.invalidArgument("00:00:00:00:00:00 is not a peer address (pass nil to send to every peer)")
        }
        var flags: UInt8 = sync ? WireProtocol.sendFlagSync : 0
        if peer == nil { flags |= WireProtocol.sendFlagAllPeers }
        let r = try await call(.espnowSend, ["peer_addr": .mac(peer ?? .zero), "flags": .uint(UInt64(flags)),
                                             "data": .bytes(data)], record: false)
        return SendResult(statuses: Int(try u(r, "statuses", .espnowSend)), failures: Int(try u(r, "failures", .espnowSend)),
                          requestID: r.statuses.first?.requestID ?? 0, peerStatuses: r.statuses)
    }

    public func espNowAddPeer(_ peer: PeerInfo) async throws {
        try Self.checkPeer(peer)
        _ = try await call(.espnowAddPeer, peer.fields)
    }

    public func espNowDelPeer(_ mac: MACAddress) async throws { _ = try await call(.espnowDelPeer, ["peer_addr": .mac(mac)]) }

    public func espNowModPeer(_ peer: PeerInfo) async throws {
        try Self.checkPeer(peer)
        _ = try await call(.espnowModPeer, peer.fields)
    }

    public func espNowGetPeer(_ mac: MACAddress) async throws -> PeerInfo {
        try PeerInfo(fields: try await call(.espnowGetPeer, ["peer_addr": .mac(mac)], record: false).fields,
                     command: .espnowGetPeer)
    }

    /// `esp_now_fetch_peer`: iterate the peer list (throws ESP_ERR_ESPNOW_NOT_FOUND at the end).
    public func espNowFetchPeer(fromHead: Bool) async throws -> PeerInfo {
        try PeerInfo(fields: try await call(.espnowFetchPeer, ["from_head": .uint(fromHead ? 1 : 0)], record: false).fields,
                     command: .espnowFetchPeer)
    }

    public func espNowIsPeerExist(_ mac: MACAddress) async throws -> Bool {
        try u(try await call(.espnowIsPeerExist, ["peer_addr": .mac(mac)], record: false), "exists", .espnowIsPeerExist) != 0
    }

    public func espNowGetPeerNum() async throws -> (total: Int, encrypted: Int) {
        let r = try await call(.espnowGetPeerNum, [:], record: false)
        return (Int(try u(r, "total_num", .espnowGetPeerNum)), Int(try u(r, "encrypt_num", .espnowGetPeerNum)))
    }

    public func espNowSetPMK(_ pmk: [UInt8]) async throws {
        try Self.key(pmk, "pmk")
        _ = try await call(.espnowSetPMK, ["pmk": .bytes(pmk)])
    }

    public func espNowSetWakeWindow(_ ms: UInt16) async throws {
        _ = try await call(.espnowSetWakeWindow, ["window_ms": .uint(UInt64(ms))])
    }

    /// `esp_now_set_peer_rate_config` (`wifi_phy_mode_t`, `wifi_phy_rate_t`).
    public func espNowSetPeerRateConfig(peer: MACAddress, phymode: UInt8, rate: UInt8, ersu: Bool = false,
                                        dcm: Bool = false) async throws {
        _ = try await call(.espnowSetPeerRateConfig, ["peer_addr": .mac(peer), "phymode": .uint(UInt64(phymode)),
                                                      "rate": .uint(UInt64(rate)), "ersu": .uint(ersu ? 1 : 0),
                                                      "dcm": .uint(dcm ? 1 : 0)])
    }

    // MARK: esp_wifi_*

    public func wifiSetMode(_ mode: WiFiMode) async throws { _ = try await call(.wifiSetMode, ["mode": .uint(UInt64(mode.rawValue))]) }

    public func wifiGetMode() async throws -> WiFiMode {
        WiFiMode(rawValue: UInt8(truncatingIfNeeded: try u(try await call(.wifiGetMode, [:], record: false), "mode", .wifiGetMode))) ?? .null
    }

    public func wifiStart() async throws { _ = try await call(.wifiStart, [:]) }
    public func wifiStop() async throws { _ = try await call(.wifiStop, [:]) }

    /// `esp_wifi_set_channel`; `primary` 1...14, `second` 0 none, 1 above, 2 below.
    public func wifiSetChannel(primary: UInt8, second: UInt8 = 0) async throws {
        guard (1...14).contains(primary) else { throw ESPNowError.invalidArgument("channel must be 1...14, got \(primary)") }
        guard second <= 2 else { throw ESPNowError.invalidArgument("second channel must be 0 (none), 1 (above) or 2 (below), got \(second)") }
        _ = try await call(.wifiSetChannel, ["primary": .uint(UInt64(primary)), "second": .uint(UInt64(second))])
    }

    public func wifiGetChannel() async throws -> (primary: UInt8, second: UInt8) {
        let r = try await call(.wifiGetChannel, [:], record: false)
        return (UInt8(truncatingIfNeeded: try u(r, "primary", .wifiGetChannel)), UInt8(truncatingIfNeeded: try u(r, "second", .wifiGetChannel)))
    }

    public func wifiGetMAC(_ iface: WiFiInterface) async throws -> MACAddress {
        let r = try await call(.wifiGetMAC, ["ifidx": .uint(UInt64(iface.rawValue))], record: false)
        guard case .mac(let m)? = r.fields["mac"] else { throw ESPNowError.badResponse(command: .wifiGetMAC, detail: "mac") }
        return m
    }

    public func wifiSetMAC(_ iface: WiFiInterface, _ mac: MACAddress) async throws {
        _ = try await call(.wifiSetMAC, ["ifidx": .uint(UInt64(iface.rawValue)), "mac": .mac(mac)])
    }

    public func wifiSetPS(_ ps: WiFiPowerSave) async throws { _ = try await call(.wifiSetPS, ["type": .uint(UInt64(ps.rawValue))]) }

    public func wifiGetPS() async throws -> WiFiPowerSave {
        WiFiPowerSave(rawValue: UInt8(truncatingIfNeeded: try u(try await call(.wifiGetPS, [:], record: false), "type", .wifiGetPS))) ?? .none
    }

    public func wifiSetProtocol(_ iface: WiFiInterface, bitmap: UInt8) async throws {
        _ = try await call(.wifiSetProtocol, ["ifidx": .uint(UInt64(iface.rawValue)), "bitmap": .uint(UInt64(bitmap))])
    }

    public func wifiGetProtocol(_ iface: WiFiInterface) async throws -> UInt8 {
        UInt8(truncatingIfNeeded: try u(try await call(.wifiGetProtocol, ["ifidx": .uint(UInt64(iface.rawValue))], record: false),
                                        "bitmap", .wifiGetProtocol))
    }

    /// Units of 0.25 dBm, 8...84 (2...21 dBm) as `esp_wifi_set_max_tx_power` accepts.
    public func wifiSetMaxTxPower(_ power: Int8) async throws {
        guard (8...84).contains(power) else { throw ESPNowError.invalidArgument("tx power must be 8...84 (0.25 dBm units), got \(power)") }
        _ = try await call(.wifiSetMaxTxPower, ["power": .int(Int64(power))])
    }

    public func wifiGetMaxTxPower() async throws -> Int8 {
        let r = try await call(.wifiGetMaxTxPower, [:], record: false)
        return Int8(truncatingIfNeeded: r.fields["power"]?.intValue ?? 0)
    }

    /// MicroPython's `WLAN(if).active(bool)`.
    public func wifiSetIfActive(_ iface: WiFiInterface, _ active: Bool) async throws {
        _ = try await call(.wifiSetIfActive, ["ifidx": .uint(UInt64(iface.rawValue)), "active": .uint(active ? 1 : 0)])
    }

    public func wifiGetIfActive(_ iface: WiFiInterface) async throws -> Bool {
        try u(try await call(.wifiGetIfActive, ["ifidx": .uint(UInt64(iface.rawValue))], record: false), "active", .wifiGetIfActive) != 0
    }

    public func wifiStaConnect(ssid: [UInt8], password: [UInt8], bssid: MACAddress = .zero) async throws {
        guard ssid.count <= 32 else { throw ESPNowError.invalidArgument("ssid is limited to 32 bytes") }
        guard password.count <= 64 else { throw ESPNowError.invalidArgument("password is limited to 64 bytes") }
        _ = try await call(.wifiStaConnect, ["ssid": .bytes(ssid), "password": .bytes(password), "bssid": .mac(bssid)])
    }

    public func wifiStaDisconnect() async throws { _ = try await call(.wifiStaDisconnect, [:]) }

    public func wifiStaStatus() async throws -> StationStatus {
        let r = try await call(.wifiStaStatus, [:], record: false)
        guard case .mac(let b)? = r.fields["bssid"] else { throw ESPNowError.badResponse(command: .wifiStaStatus, detail: "bssid") }
        return StationStatus(status: UInt16(truncatingIfNeeded: try u(r, "status", .wifiStaStatus)),
                             channel: UInt8(truncatingIfNeeded: try u(r, "channel", .wifiStaStatus)), bssid: b,
                             rssi: Int8(truncatingIfNeeded: r.fields["rssi"]?.intValue ?? 0))
    }

    public func wifiAPConfig(ssid: [UInt8], password: [UInt8], channel: UInt8, authmode: UInt8, hidden: Bool,
                             maxConnection: UInt8) async throws {
        guard ssid.count <= 32 else { throw ESPNowError.invalidArgument("ssid must be at most 32 bytes, got \(ssid.count)") }
        guard password.count <= 64 else { throw ESPNowError.invalidArgument("password must be at most 64 bytes, got \(password.count)") }
        guard (1...14).contains(channel) else { throw ESPNowError.invalidArgument("AP channel must be 1...14, got \(channel)") }
        _ = try await call(.wifiAPConfig, ["ssid": .bytes(ssid), "password": .bytes(password), "channel": .uint(UInt64(channel)),
                                           "authmode": .uint(UInt64(authmode)), "hidden": .uint(hidden ? 1 : 0),
                                           "max_connection": .uint(UInt64(maxConnection))])
    }

    /// `esp_wifi_set_country_code`: a 2-character code such as "01" (world safe), "US",
    /// "DE", "JP"; it decides which channels `wifiSetChannel` accepts.
    public func wifiSetCountryCode(_ code: String, ieee80211d: Bool = false) async throws {
        let b = Array(code.utf8)
        guard b.count == 2, b.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) }) else {
            throw ESPNowError.invalidArgument("country code must be 2 characters: two capital letters (\"US\", \"JP\") or \"01\", got \"\(code)\"")
        }
        _ = try await call(.wifiSetCountryCode, ["country": .bytes(b), "ieee80211d": .uint(ieee80211d ? 1 : 0)])
    }

    /// `esp_wifi_get_country_code`.
    public func wifiGetCountryCode() async throws -> String {
        let r = try await call(.wifiGetCountryCode, [:], record: false)
        guard let b = r.fields["country"]?.byteValue else {
            throw ESPNowError.badResponse(command: .wifiGetCountryCode, detail: "country")
        }
        return String(decoding: b, as: UTF8.self)
    }

    /// `esp_wifi_config_espnow_rate` (`wifi_phy_rate_t`).
    public func wifiConfigESPNowRate(_ iface: WiFiInterface, rate: UInt8) async throws {
        _ = try await call(.wifiConfigESPNowRate, ["ifidx": .uint(UInt64(iface.rawValue)), "rate": .uint(UInt64(rate))])
    }
}
