import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation

struct Peers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add, delete or modify ESP-NOW peers.",
        subcommands: [List.self, Add.self, Del.self, Mod.self],
        defaultSubcommand: List.self)

    static func json(_ p: PeerInfo) -> JSON {
        .object([("mac", .string(p.peerAddr.description)), ("channel", .int(p.channel)),
                 ("ifidx", .string(p.ifidx == .sta ? "sta" : "ap")), ("encrypt", .bool(p.encrypt))])
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered peers.")
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
        @Option(help: ArgumentHelp("Local master key, 32 hex digits.", valueName: "HEX"))
        var lmk: String?

        func validate() throws {
            guard ifidx == "sta" || ifidx == "ap" else { throw ValidationError("--ifidx must be sta or ap") }
            guard channel <= 14 else { throw ValidationError("--channel must be 0...14") }
            if encrypt && lmk == nil { throw ValidationError("--encrypt needs --lmk HEX (32 hex digits)") }
        }

        func info() throws -> PeerInfo {
            let key = try lmk.map { try parseKey($0, what: "--lmk") } ?? [UInt8](repeating: 0, count: 16)
            return PeerInfo(peerAddr: mac.mac, lmk: key, channel: channel, ifidx: ifidx == "ap" ? .ap : .sta, encrypt: encrypt)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a peer (esp_now_add_peer).")
        @OptionGroup var peer: PeerOptions
        @OptionGroup var connection: ConnectionOptions
        func run() async throws {
            let info = try peer.info()
            let json = connection.json
            try await Session.run(connection, keepPeers: true) { s in
                try await s.device.espNowAddPeer(info)
                if json { Out.json(.object([("added", Peers.json(info))])) } else { Out.line("added peer \(info.peerAddr)") }
            }
        }
    }

    struct Mod: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a registered peer (esp_now_mod_peer).")
        @OptionGroup var peer: PeerOptions
        @OptionGroup var connection: ConnectionOptions
        func run() async throws {
            let info = try peer.info()
            let json = connection.json
            try await Session.run(connection, keepPeers: true) { s in
                try await s.device.espNowModPeer(info)
                if json { Out.json(.object([("modified", Peers.json(info))])) } else { Out.line("modified peer \(info.peerAddr)") }
            }
        }
    }

    struct Del: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a peer (esp_now_del_peer).")
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
        abstract: "Set the primary master key (esp_now_set_pmk), 32 hex digits.",
        discussion: "The PMK encrypts the LMKs of encrypted peers; both ends need the same one. It cannot be read back.")
    @Argument(help: ArgumentHelp("The key, 32 hex digits.", valueName: "HEX"))
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
    @OptionGroup var connection: ConnectionOptions
    func validate() throws {
        if let c = channel, !(1...14).contains(c) { throw ValidationError("channel must be 1...14") }
    }
    func run() async throws {
        let (new, json) = (channel, connection.json)
        try await Session.run(connection) { s in
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
    static let configuration = CommandConfiguration(abstract: "Device counters (STATS) and this connection's host counters.")
    @Flag(help: "Zero the device counters after reading them.")
    var clear = false
    @OptionGroup var connection: ConnectionOptions
    func run() async throws {
        let (clear, json) = (clear, connection.json)
        try await Session.run(connection, prepare: false) { s in
            let st = try await s.device.stats(clear: clear)
            if json {
                Out.json(.object(zip(statsCounterNames, st.values).map { ($0, .int($1)) }))
                return
            }
            for l in table(zip(statsCounterNames, st.values).map { [$0, "\($1)"] }, rightAligned: [1]) { Out.line(l) }
            if clear { Out.err("counters cleared") }
        }
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
                Out.json(.object([("reset", .bool(true)), ("boot_count", .int(i.bootCount)), ("reset_reason", .int(i.resetReason))]))
            } else {
                Out.line("\(s.port) restarted (boot #\(i.bootCount), reset reason \(i.resetReason))")
            }
        }
    }
}
