import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation

/// `--country CC` for the commands that set a channel: the Wi-Fi country goes first, since
/// it decides which channels the dongle accepts.
struct CountryOption: ParsableArguments {
    @Option(help: ArgumentHelp("Set the dongle's Wi-Fi country first (esp_wifi_set_country_code): 01 (world safe, channels 1-11, the default), US, DE (1-13), JP (1-14), ...", valueName: "CC"))
    var country: String?

    func validate() throws {
        if let c = country { _ = try CountryCode.parse(c) }
    }

    /// Sets the country given on the command line, else the config file's.
    func apply(_ d: ESPNowDevice) async throws {
        if let c = try country.map(CountryCode.parse) ?? ConfigFile.current.country {
            try await d.wifiSetCountryCode(c)
        }
    }
}

enum CountryCode {
    /// Two capital letters, or "01"; lower case is accepted.
    static func parse(_ s: String) throws -> String {
        let c = s.uppercased()
        guard c.utf8.count == 2, c.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) }) else {
            throw ValidationError("a country is 2 characters: 01 (world safe) or an ISO 3166 code such as US, DE, JP; got '\(s)'")
        }
        return c
    }
}

struct Country: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or set the dongle's Wi-Fi country (which channels it may use).",
        discussion: """
            The country decides the channels `espnow channel` accepts: 01 (world safe, the ESP-IDF default) and US allow 1-11, most of Europe 1-13, JP 1-14. A dongle on a channel outside the new country's range moves to channel 1. The setting lasts until the dongle restarts.
            """)
    @Argument(help: ArgumentHelp("The new country; omit to show the current one.", valueName: "CC"))
    var code: String?
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let c = code { _ = try CountryCode.parse(c) }
    }

    func run() async throws {
        let (new, json) = (try code.map(CountryCode.parse), connection.json)
        try await Session.run(connection) { s in
            if let c = new { try await s.device.wifiSetCountryCode(c) }
            let cc = try await s.device.wifiGetCountryCode()
            let ch = try await s.device.wifiGetChannel()
            if json {
                Out.json(.object([("country", .string(cc)), ("channel", .int(ch.primary))]))
            } else {
                Out.line(new == nil ? "country \(cc) (channel \(ch.primary))" : "country set to \(cc) (channel \(ch.primary))")
            }
        }
    }
}

/// A `wifi_phy_rate_t` by name (`54M`, `1M`, `MCS7`, `LR250K`) or number, with the PHY
/// mode `esp_now_set_peer_rate_config` needs for it.
struct PhyRate: ExpressibleByArgument, Sendable {
    let rate: UInt8
    let phymode: UInt8

    static let names: [(String, UInt8)] = [
        ("1M", 0x00), ("2M", 0x01), ("5.5M", 0x02), ("11M", 0x03), ("2M-S", 0x05), ("5.5M-S", 0x06), ("11M-S", 0x07),
        ("48M", 0x08), ("24M", 0x09), ("12M", 0x0A), ("6M", 0x0B), ("54M", 0x0C), ("36M", 0x0D), ("18M", 0x0E), ("9M", 0x0F),
        ("MCS0", 0x10), ("MCS1", 0x11), ("MCS2", 0x12), ("MCS3", 0x13), ("MCS4", 0x14), ("MCS5", 0x15), ("MCS6", 0x16),
        ("MCS7", 0x17), ("LR250K", 0x29), ("LR500K", 0x2A),
    ]
    static let lr250k = PhyRate(rate: 0x29)

    /// PHY modes (`wifi_phy_mode_t`): LR 0, 11B 1, 11G 2, HT20 4.
    init(rate: UInt8) {
        self.rate = rate
        switch rate {
        case 0x00...0x07: phymode = 1
        case 0x08...0x0F: phymode = 2
        case 0x29, 0x2A: phymode = 0
        default: phymode = 4
        }
    }

    init?(argument: String) {
        let a = argument.uppercased()
        if let n = Self.names.first(where: { $0.0 == a || $0.0 + "BPS" == a }) {
            self.init(rate: n.1)
        } else if let v = UInt8(argument) ?? (argument.lowercased().hasPrefix("0x") ? UInt8(argument.dropFirst(2), radix: 16) : nil),
                  v <= 0x1F || v == 0x29 || v == 0x2A, v != 0x04 {
            self.init(rate: v)
        } else {
            return nil
        }
    }

    var isLongRange: Bool { phymode == 0 }
    var name: String { Self.names.first { $0.1 == rate }?.0 ?? String(format: "0x%02x", rate) }
    static var help: String { names.map(\.0).joined(separator: ", ") }
}

/// Long range: the interface's protocol gets WIFI_PROTOCOL_LR (needed to send and to
/// receive LR frames); the other protocols stay.
func enableLongRange(_ d: ESPNowDevice, _ iface: WiFiInterface) async throws {
    let p = try await d.wifiGetProtocol(iface)
    if p & 0x08 == 0 { try await d.wifiSetProtocol(iface, bitmap: p | 0x08) }
}

struct WiFi: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wifi",
        abstract: "The dongle's Wi-Fi: status, STA connect/disconnect, AP interface on/off.",
        subcommands: [Status.self, Connect.self, Disconnect.self, AP.self],
        defaultSubcommand: Status.self)

    /// MicroPython's `network.STAT_*` names for WIFI_STA_STATUS.
    static func statusName(_ s: UInt16) -> String {
        switch s {
        case 1000: "idle"
        case 1001: "connecting"
        case 1010: "connected"
        case 200: "beacon timeout"
        case 201: "no AP found"
        case 202: "wrong password"
        case 203: "association failed"
        case 204: "handshake timeout"
        default: "status \(s)"
        }
    }

    static func protocols(_ b: UInt8) -> String {
        let names = [(1, "11b"), (2, "11g"), (4, "11n"), (8, "LR"), (16, "11ax")].filter { b & UInt8($0.0) != 0 }.map(\.1)
        return names.isEmpty ? "none" : names.joined(separator: "/")
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mode, active interfaces, protocols, STA connection, country and channel.")
        @OptionGroup var connection: ConnectionOptions
        func run() async throws {
            let json = connection.json
            try await Session.run(connection) { s in
                let d = s.device
                let sta = try await d.wifiGetIfActive(.sta)
                let ap = try await d.wifiGetIfActive(.ap)
                // An interface outside the Wi-Fi mode has no protocol to report (ESP_ERR_WIFI_IF).
                let ps = sta ? try await d.wifiGetProtocol(.sta) : nil
                let pa = ap ? try await d.wifiGetProtocol(.ap) : nil
                let st = try await d.wifiStaStatus()
                let cc = try await d.wifiGetCountryCode()
                let ch = try await d.wifiGetChannel()
                if json {
                    Out.json(.object([
                        ("sta_active", .bool(sta)), ("ap_active", .bool(ap)),
                        ("sta_protocol", ps.map { .int($0) } ?? .null), ("ap_protocol", pa.map { .int($0) } ?? .null),
                        ("sta_status", .int(st.status)), ("sta_status_name", .string(WiFi.statusName(st.status))),
                        ("bssid", st.status == 1010 ? .string(st.bssid.description) : .null),
                        ("rssi", st.status == 1010 ? .int(st.rssi) : .null),
                        ("country", .string(cc)), ("channel", .int(ch.primary)),
                    ]))
                    return
                }
                var rows = [
                    ["STA", sta ? "active, \(WiFi.protocols(ps ?? 0))" : "inactive"],
                    ["AP", ap ? "active, \(WiFi.protocols(pa ?? 0))" : "inactive"],
                    ["connection", WiFi.statusName(st.status)],
                ]
                if st.status == 1010 { rows.append(["access point", "\(st.bssid), \(st.rssi) dBm, channel \(st.channel)"]) }
                rows.append(["country", cc])
                rows.append(["channel", "\(ch.primary)"])
                for l in table(rows) { Out.line(l) }
            }
        }
    }

    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect the STA interface to an access point (esp_wifi_connect) and wait for the outcome.",
            discussion: "ESP-NOW then runs on the access point's channel. Exit 0 when connected, 3 when the connection failed (wrong password, no AP found, ...), 4 when --timeout seconds pass first.")
        @Argument(help: "The access point's SSID (up to 32 bytes).")
        var ssid: String
        @Option(help: ArgumentHelp("The password (up to 64 bytes; omit for an open network).", valueName: "PASSWORD"))
        var password: String = ""
        @Option(help: ArgumentHelp("Only this access point.", valueName: "MAC"))
        var bssid: MACArg?
        @Option(help: ArgumentHelp("Give up after this many seconds (decimals accepted).", valueName: "SECONDS"))
        var timeout: Double = 15
        @Flag(name: .customLong("no-wait"), help: "Start connecting and return at once.")
        var noWait = false
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            if ssid.utf8.count > 32 || ssid.isEmpty { throw ValidationError("the SSID must be 1...32 bytes") }
            if password.utf8.count > 64 { throw ValidationError("--password must be at most 64 bytes") }
            if !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        }

        func run() async throws {
            let (ssid, password, bssid, timeout, noWait, json) = (ssid, password, bssid?.mac ?? .zero, timeout, noWait, connection.json)
            try await Session.run(connection) { s in
                let d = s.device
                try await d.wifiStaConnect(ssid: Array(ssid.utf8), password: Array(password.utf8), bssid: bssid)
                if noWait {
                    if json { Out.json(.object([("ssid", .string(ssid)), ("status", .string("connecting"))])) } else { Out.line("connecting to \(ssid)") }
                    return
                }
                // A user-facing wait for a Wi-Fi association, not a data path: polling the
                // status a few times a second is what `iw`/`nmcli` do too.
                let end = now() + timeout
                var st = try await d.wifiStaStatus()
                while st.status == 1001 || st.status == 1000, now() < end {
                    try await Task.sleep(for: .milliseconds(100))
                    st = try await d.wifiStaStatus()
                }
                let name = WiFi.statusName(st.status)
                if json {
                    Out.json(.object([("ssid", .string(ssid)), ("status", .string(name)), ("status_code", .int(st.status)),
                                      ("channel", .int(st.channel)), ("bssid", .string(st.bssid.description)), ("rssi", .int(st.rssi))]))
                } else if st.status == 1010 {
                    Out.line("connected to \(ssid) (\(st.bssid), channel \(st.channel), \(st.rssi) dBm)")
                }
                if st.status == 1010 { return }
                if st.status == 1001 || st.status == 1000 {
                    throw CLIError(.timeout, "not connected to \(ssid) within \(timeout) s (still \(name))")
                }
                throw CLIError(.espnow, "could not connect to \(ssid): \(name)")
            }
        }
    }

    struct Disconnect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disconnect the STA interface from its access point (esp_wifi_disconnect).")
        @OptionGroup var connection: ConnectionOptions
        func run() async throws {
            let json = connection.json
            try await Session.run(connection) { s in
                try await s.device.wifiStaDisconnect()
                if json { Out.json(.object([("disconnected", .bool(true))])) } else { Out.line("disconnected") }
            }
        }
    }

    struct AP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ap",
            abstract: "Turn the AP interface on or off (MicroPython's WLAN(AP_IF).active()); peers with --ifidx ap send through it.",
            discussion: "The setting lasts until the dongle restarts.")
        @Argument(help: ArgumentHelp("on or off; omit to show.", valueName: "on|off"))
        var state: String?
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            if let s = state, s != "on" && s != "off" { throw ValidationError("say on or off, not '\(s)'") }
        }

        func run() async throws {
            let (state, json) = (state, connection.json)
            try await Session.run(connection) { s in
                if let st = state { try await s.device.wifiSetIfActive(.ap, st == "on") }
                let on = try await s.device.wifiGetIfActive(.ap)
                if json { Out.json(.object([("ap_active", .bool(on))])) } else { Out.line("AP interface \(on ? "active" : "inactive")") }
            }
        }
    }
}

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or set ESP-NOW settings (MicroPython's ESPNow.config): rxbuf and the send rate.",
        discussion: "With no option it shows them. The settings last until the dongle restarts.")

    @Option(help: ArgumentHelp("The receive buffer in bytes (64 or more; the dongle caps it at its build's maximum).", valueName: "BYTES"))
    var rxbuf: Int?

    @Option(help: ArgumentHelp("The PHY rate of every packet the STA interface sends (esp_wifi_config_espnow_rate): \(PhyRate.help), or a wifi_phy_rate_t number.", valueName: "RATE"))
    var rate: PhyRate?

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let r = rxbuf, !(64...Int(UInt32.max)).contains(r) { throw ValidationError("--rxbuf must be 64 bytes or more") }
    }

    func run() async throws {
        let (rxbuf, rate, json) = (rxbuf, rate, connection.json)
        try await Session.run(connection) { s in
            let d = s.device
            var size = Int(d.info.rxbuf)
            if let r = rxbuf {
                size = try await d.setRxbuf(r)
                if size != r { Out.err("espnow: the dongle's receive buffer is \(size) bytes (asked for \(r))") }
            }
            if let r = rate {
                if r.isLongRange { try await enableLongRange(d, .sta) }
                try await d.wifiConfigESPNowRate(.sta, rate: r.rate)
            }
            if json {
                var o: [(String, JSON)] = [("rxbuf", .int(size)), ("window", .int(d.info.window)), ("max_payload", .int(d.info.maxPayload))]
                if let r = rate { o.append(("rate", .int(r.rate))) }
                Out.json(.object(o))
            } else {
                var rows = [["rxbuf", "\(size) bytes"], ["window", "\(d.info.window) requests"], ["max payload", "\(d.info.maxPayload) bytes"]]
                if let r = rate { rows.append(["rate", "\(r.name) (wifi_phy_rate_t \(r.rate))"]) }
                for l in table(rows) { Out.line(l) }
            }
        }
    }
}
