import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation

struct Peers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add, delete or modify ESP-NOW peers.",
        subcommands: [List.self, Add.self, Del.self, Mod.self, Clear.self],
        defaultSubcommand: List.self)

    static func json(_ p: PeerInfo, _ radio: PeerRadioOptions? = nil) -> JSON {
        var o: [(String, JSON)] = [("mac", .string(p.peerAddr.description)), ("channel", .int(p.channel)),
                                   ("ifidx", .string(p.ifidx == .sta ? "sta" : "ap")), ("encrypt", .bool(p.encrypt))]
        if let r = radio?.effectiveRate { o.append(("rate", .int(r.rate))) }
        return .object(o)
    }

    /// `peers add/mod --rate/--lr`: the peer's PHY rate (esp_now_set_peer_rate_config).
    struct PeerRadioOptions: ParsableArguments {
        @Option(help: ArgumentHelp("PHY rate of packets to this peer (esp_now_set_peer_rate_config): \(PhyRate.help), or a wifi_phy_rate_t number. Lasts until the peer is deleted or the dongle restarts.", valueName: "RATE"))
        var rate: PhyRate?
        @Flag(help: "Long range: adds LR to the peer's interface protocols (esp_wifi_set_protocol) and sends to it at LR250K (or the LR --rate given). The receiver needs LR too (`espnow listen --lr`).")
        var lr = false

        func check() throws {
            if lr, let r = rate, !r.isLongRange { throw ValidationError("--lr goes with an LR rate (LR250K or LR500K), not \(r.name)") }
        }

        var effectiveRate: PhyRate? { rate ?? (lr ? .lr250k : nil) }
        var note: String { effectiveRate.map { " (rate \($0.name))" } ?? "" }

        func apply(_ d: ESPNowDevice, _ info: PeerInfo) async throws {
            guard let r = effectiveRate else { return }
            if r.isLongRange { try await enableLongRange(d, info.ifidx) }
            try await d.espNowSetPeerRateConfig(peer: info.peerAddr, phymode: r.phymode, rate: r.rate)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered peers.", aliases: ["ls"])
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let json = connection.json
            try await Session.run(connection) { s in
                var peers: [PeerInfo] = []
                var head = true
                while peers.count < 64 {
                    do {
                        peers.append(try await s.device.espNowFetchPeer(fromHead: head))
                        head = false
                    } catch let e as ESPNowError where e.espError?.rawValue == 0x3069 {
                        break  // ESP_ERR_ESPNOW_NOT_FOUND: end of the list
                    }
                }
                if json {
                    for p in peers { Out.json(Peers.json(p)) }
                    return
                }
                if peers.isEmpty {
                    Out.line("no peers registered on \(s.port)")
                    return
                }
                var rows = [["MAC", "CHANNEL", "IF", "ENCRYPT"]]
                for p in peers {
                    rows.append([p.peerAddr.description, p.channel == 0 ? "current" : "\(p.channel)",
                                 p.ifidx == .sta ? "sta" : "ap", p.encrypt ? "yes" : "no"])
                }
                for l in table(rows) { Out.line(l) }
                Out.line("\(peers.count) peer\(peers.count == 1 ? "" : "s") (\(peers.filter(\.encrypt).count) encrypted)")
            }
        }
    }

    struct PeerOptions: ParsableArguments {
        @Argument(help: ArgumentHelp("Peer MAC.", valueName: "MAC"))
        var mac: MACArg
        @Option(help: ArgumentHelp("Channel (0: the dongle's current channel).", valueName: "N"))
        var channel: UInt8 = 0
        @Option(help: ArgumentHelp("Interface: sta or ap.", valueName: "IF"))
        var ifidx: String = "sta"
        @Flag(help: "Encrypt traffic with this peer (needs --lmk).")
        var encrypt = false
        @Option(help: ArgumentHelp("Local master key: 32 hex digits, or 16 ASCII characters (prefix hex: or ascii: to force one).", valueName: "KEY"))
        var lmk: String?
        @OptionGroup var radio: PeerRadioOptions

        func validate() throws {
            try radio.check()
            guard ifidx == "sta" || ifidx == "ap" else { throw ValidationError("--ifidx must be sta or ap") }
            guard channel <= 14 else { throw ValidationError("--channel must be 0...14") }
            if encrypt && lmk == nil { throw ValidationError("--encrypt needs --lmk KEY (32 hex digits or 16 ASCII characters)") }
        }

        func info() throws -> PeerInfo {
            let key = try lmk.map { try parseKey($0, what: "--lmk") } ?? [UInt8](repeating: 0, count: 16)
            return PeerInfo(peerAddr: mac.mac, lmk: key, channel: channel, ifidx: ifidx == "ap" ? .ap : .sta, encrypt: encrypt)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a peer (esp_now_add_peer).")
        @OptionGroup var peer: PeerOptions
        @OptionGroup var country: CountryOption
        @OptionGroup var connection: ConnectionOptions
        func run() async throws {
            let info = try peer.info()
            let (json, radio, country) = (connection.json, peer.radio, country)
            try await Session.run(connection, keepPeers: true) { s in
                if info.channel != 0 { try await country.apply(s.device) }
                try await s.device.espNowAddPeer(info)
                try await radio.apply(s.device, info)
                if json { Out.json(.object([("added", Peers.json(info, radio))])) } else { Out.line("added peer \(info.peerAddr)\(radio.note)") }
            }
        }
    }

    struct Mod: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a registered peer (esp_now_mod_peer): only the fields given change.")
        @Argument(help: ArgumentHelp("Peer MAC.", valueName: "MAC"))
        var mac: MACArg
        @Option(help: ArgumentHelp("Channel (0: the dongle's current channel).", valueName: "N"))
        var channel: UInt8?
        @Option(help: ArgumentHelp("Interface: sta or ap.", valueName: "IF"))
        var ifidx: String?
        @Flag(inversion: .prefixedNo, help: "Encrypt traffic with this peer (needs a key: --lmk, or the one it has).")
        var encrypt: Bool?
        @Option(help: ArgumentHelp("Local master key: 32 hex digits, or 16 ASCII characters (prefix hex: or ascii: to force one).", valueName: "KEY"))
        var lmk: String?
        @OptionGroup var radio: PeerRadioOptions
        @OptionGroup var country: CountryOption
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            try radio.check()
            if let i = ifidx, i != "sta" && i != "ap" { throw ValidationError("--ifidx must be sta or ap") }
            if let c = channel, c > 14 { throw ValidationError("--channel must be 0...14") }
            if channel == nil && ifidx == nil && encrypt == nil && lmk == nil && radio.rate == nil && !radio.lr {
                throw ValidationError("nothing to change: give --channel, --ifidx, --encrypt/--no-encrypt, --lmk, --rate or --lr")
            }
        }

        func run() async throws {
            let key = try lmk.map { try parseKey($0, what: "--lmk") }
            let (mac, channel, ifidx, encrypt, json, radio, country) = (mac.mac, channel, ifidx, encrypt, connection.json, radio, country)
            try await Session.run(connection, keepPeers: true) { s in
                var info = try await s.device.espNowGetPeer(mac)
                if let c = channel { info.channel = c }
                if let i = ifidx { info.ifidx = i == "ap" ? .ap : .sta }
                if let k = key { info.lmk = k }
                if let e = encrypt { info.encrypt = e }
                if (channel ?? 0) != 0 { try await country.apply(s.device) }
                try await s.device.espNowModPeer(info)
                try await radio.apply(s.device, info)
                if json { Out.json(.object([("modified", Peers.json(info, radio))])) } else { Out.line("modified peer \(info.peerAddr)\(radio.note)") }
            }
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every registered unicast peer.")
        @OptionGroup var connection: ConnectionOptions
        func run() async throws {
            let json = connection.json
            try await Session.run(connection) { s in
                var macs: [MACAddress] = []
                var head = true
                while macs.count < 64 {
                    do {
                        macs.append(try await s.device.espNowFetchPeer(fromHead: head).peerAddr)
                        head = false
                    } catch let e as ESPNowError where e.espError?.rawValue == 0x3069 {
                        break
                    }
                }
                for m in macs { try await s.device.espNowDelPeer(m) }
                if json {
                    Out.json(.object([("deleted", .array(macs.map { .string($0.description) }))]))
                } else {
                    Out.line("deleted \(macs.count) peer\(macs.count == 1 ? "" : "s")")
                }
            }
        }
    }

    struct Del: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a peer (esp_now_del_peer).", aliases: ["rm"])
        @Argument(help: ArgumentHelp("Peer MAC.", valueName: "MAC"))
        var mac: MACArg
        @OptionGroup var connection: ConnectionOptions
        func run() async throws {
            let mac = mac.mac
            let json = connection.json
            try await Session.run(connection) { s in
                try await s.device.espNowDelPeer(mac)
                if json { Out.json(.object([("deleted", .string(mac.description))])) } else { Out.line("deleted peer \(mac)") }
            }
        }
    }
}

struct PMK: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set the primary master key (esp_now_set_pmk): 32 hex digits or 16 ASCII characters.",
        discussion: "The PMK encrypts the LMKs of encrypted peers; both ends need the same one. It cannot be read back. Exactly 32 hex digits are read as hex, exactly 16 characters as their ASCII bytes (as MicroPython's set_pmk(b'...')); prefix hex: or ascii: to say which.")
    @Argument(help: ArgumentHelp("The key: 32 hex digits, or 16 ASCII characters.", valueName: "KEY"))
    var key: String
    @OptionGroup var connection: ConnectionOptions
    func run() async throws {
        let k = try parseKey(key, what: "the PMK")
        let json = connection.json
        try await Session.run(connection) { s in
            try await s.device.espNowSetPMK(k)
            if json { Out.json(.object([("pmk_set", .bool(true))])) } else { Out.line("PMK set on \(s.port)") }
        }
    }
}

struct Channel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show or set the dongle's Wi-Fi channel (1-14).")
    @Argument(help: "The new channel; omit to show the current one.")
    var channel: UInt8?
    @OptionGroup var country: CountryOption
    @OptionGroup var connection: ConnectionOptions
    func validate() throws {
        if let c = channel, !(1...14).contains(c) { throw ValidationError("channel must be 1...14") }
    }
    func run() async throws {
        let (new, json, country) = (channel, connection.json, country)
        try await Session.run(connection) { s in
            if country.country != nil { try await country.apply(s.device) }
            if let c = new { try await s.device.wifiSetChannel(primary: c) }
            let ch = try await s.device.wifiGetChannel()
            if json {
                Out.json(.object([("channel", .int(ch.primary)), ("second", .int(ch.second))]))
            } else {
                Out.line(new == nil ? "channel \(ch.primary)" : "channel set to \(ch.primary)")
            }
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Device counters (STATS) and this connection's host counters.",
        discussion: "The device counters count since the dongle booted (or since --clear). The host counters count this command's own connection: frames read and written, link errors, retransmissions; they show that the link to the dongle is clean.")
    @Flag(help: "Zero the device counters after reading them.")
    var clear = false
    @OptionGroup var connection: ConnectionOptions
    func run() async throws {
        let (clear, json) = (clear, connection.json)
        try await Session.run(connection, prepare: false) { s in
            let st = try await s.device.stats(clear: clear)
            let host = Stats.host(s.device.hostCounters)
            if json {
                var o = zip(statsCounterNames, st.values).map { ($0, JSON.int($1)) }
                o.append(("host", .object(host.map { ($0, .int($1)) })))
                Out.json(.object(o))
                return
            }
            Out.line("device (since boot):")
            for l in table(zip(statsCounterNames, st.values).map { ["  " + $0, "\($1)"] }, rightAligned: [1]) { Out.line(l) }
            Out.line("host (this connection):")
            for l in table(host.map { ["  " + $0, "\($1)"] }, rightAligned: [1]) { Out.line(l) }
            if clear { Out.err("counters cleared") }
        }
    }
}

extension Stats {
    /// The host counters by name, in a fixed order.
    static func host(_ c: HostCounters) -> [(String, UInt64)] {
        [("frames_received", c.link.frames), ("frames_sent", c.framesSent), ("link_errors", c.link.dropped),
         ("bad_crc", c.link.badCRC), ("bad_cobs", c.link.badCOBS), ("bad_body", c.link.badBody),
         ("retransmissions", c.retransmissions), ("unmatched_responses", c.unmatchedResponses),
         ("packets_received", c.packetsReceived), ("packets_dropped", c.packetsDropped),
         ("events_dropped", c.eventsDropped), ("logs_dropped", c.logsDropped),
         ("device_dropped", c.deviceDropped.values.reduce(0, +)), ("reboots", c.reboots), ("reconnects", c.reconnects)]
    }
}

struct Reset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restart the dongle (RESET) and wait for it to come back.",
        discussion: "All state (peers, PMK, channel) is lost; the bridge firmware boots with defaults.")
    @OptionGroup var connection: ConnectionOptions
    func run() async throws {
        let json = connection.json
        try await Session.run(connection, prepare: false) { s in
            let d = s.device
            let before = d.info.bootCount
            // The HELLO event of the new boot arrives on the event stream.
            let events = d.events
            try await d.reset()
            let info: DeviceInfo? = try await withThrowingTaskGroup(of: DeviceInfo?.self) { g in
                g.addTask {
                    for await e in events {
                        if case .hello(let i) = e, i.bootCount != before { return i }
                        if case .rebooted(let i, _) = e { return i }
                    }
                    return nil
                }
                g.addTask {
                    try await Task.sleep(for: .seconds(5))
                    return nil
                }
                let r = try await g.next() ?? nil
                g.cancelAll()
                return r
            }
            guard let i = info else {
                throw CLIError(.timeout, "\(s.port) did not come back within 5 s after RESET; replug it")
            }
            if json {
                Out.json(.object([("reset", .bool(true)), ("boot_count", .int(i.bootCount)), ("reset_reason", .int(i.resetReason)),
                                  ("reset_reason_name", .string(Fmt.resetReason(i.resetReason)))]))
            } else {
                Out.line("\(s.port) restarted (boot #\(i.bootCount), \(Fmt.resetReason(i.resetReason)))")
            }
        }
    }
}
