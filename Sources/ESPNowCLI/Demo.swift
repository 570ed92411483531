import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "No hardware needed: a simulated air with sensor nodes, an echo node and a dongle, and the live exchange.",
        discussion: """
            Starts espnow-sim with one dongle, three sensor nodes at different distances (RSSI) and an echo node, connects to the dongle through its serial port exactly as to a real one, prints what it receives (decoded sensor readings) and sends (pings the echo node answers) for --duration seconds, then the statistics.
            """)

    @Option(name: [.short, .long], help: ArgumentHelp("How long to run, in seconds (decimals accepted).", valueName: "SECONDS"))
    var duration: Double = 6

    @Flag(help: "One JSON object per line.")
    var json = false

    @Flag(help: "Log the device client's activity to stderr.")
    var verbose = false

    func validate() throws {
        guard duration > 0, duration <= 3600 else { throw ValidationError("--duration must be in (0, 3600] seconds") }
    }

    /// Radios: 0 the dongle, 1-3 sensors, 4 echo; links give each sensor its own RSSI.
    static let scene = """
        {
          "dongles": [ { "channel": 1 } ],
          "nodes": [
            { "script": "sensor", "channel": 1, "interval_ms": 700 },
            { "script": "sensor", "channel": 1, "interval_ms": 1100 },
            { "script": "sensor", "channel": 1, "interval_ms": 1600 },
            { "script": "echo", "channel": 1 }
          ],
          "links": [
            { "a": 0, "b": 1, "rssi": -38 },
            { "a": 0, "b": 2, "rssi": -61 },
            { "a": 0, "b": 3, "rssi": -79, "loss": 0.1 },
            { "a": 0, "b": 4, "rssi": -45 }
          ],
          "seed": 7, "realtime": true
        }
        """

    struct PerSource: Sendable {
        var packets = 0
        var rssiSum = 0
        var last: String = ""
        var kind: String = ""
    }

    struct Tally: Sendable {
        var sources: [MACAddress: PerSource] = [:]
        var order: [MACAddress] = []
        var sent = 0, acked = 0, echoed = 0
        var ackTimes: [Double] = []
    }

    func run() async throws {
        let sceneFile = try SimAir.writeScene(Self.scene)
        let air: SimAir
        do {
            air = try await SimAir.start(arguments: ["--scene", sceneFile], expect: 5, sceneFile: sceneFile)
        } catch {
            try? FileManager.default.removeItem(atPath: sceneFile)
            throw error
        }
        guard let dongle = air.dongles.first, let port = dongle.port, let echo = air.nodes.first(where: { $0.script == "echo" })?.staMAC else {
            await air.stop()
            throw CLIError(.device, "the simulator did not start the demo's radios")
        }
        let sensors = air.nodes.filter { $0.script == "sensor" }.compactMap(\.staMAC)
        let options: ConnectionOptions
        do {
            options = try ConnectionOptions.parse(["--port", port] + (json ? ["--json"] : []) + (verbose ? ["--verbose"] : []))
        } catch {
            await air.stop()
            throw CLIError(.usage, "internal: \(error)")
        }
        let (json, duration) = (json, duration)
        let tally = Locked(Tally())
        let t0 = now()
        let stamp: @Sendable () -> String = { String(format: "%7.3f s", now() - t0) }

        let (stats, info) = try await Session.run(path: port, air: air, options) { s -> (DeviceStats, DeviceInfo) in
            let d = s.device
            let me = d.info
            if json {
                Out.json(.object([("event", .string("start")), ("port", .string(port)), ("dongle", .string(me.staMAC.description)),
                                  ("sensors", .array(sensors.map { .string($0.description) })), ("echo", .string(echo.description))]))
            } else {
                Out.line("espnow demo: a simulated air, no hardware involved")
                Out.line("  dongle  \(me.staMAC) on \(port) (bridge firmware \(me.fwMajor).\(me.fwMinor).\(me.fwPatch), simulated), channel 1")
                Out.line("  sensors \(sensors.map(\.description).joined(separator: ", ")) (broadcast readings)")
                Out.line("  echo    \(echo) (sends back what the dongle sends it)")
                Out.line("")
                Out.line("\(pad("time", 9))  dir  \(pad("peer", 17))  \(pad("rssi", 7, right: true))  ch  what")
            }
            try await d.espNowAddPeer(PeerInfo(peerAddr: echo))
            d.packetQueue.clear()
            try await Interrupt.loop {
                try await withThrowingTaskGroup(of: Void.self) { g in
                    g.addTask {  // receive
                        while true {
                            guard let p = try await d.packetQueue.next(timeout: nil) else { continue }
                            let bytes = p.bytes
                            let what: String
                            var reading: SensorReading?
                            if let r = SensorReading(bytes) {
                                what = r.text
                                reading = r
                            } else {
                                what = (p.src == echo ? "echo " : "") + Fmt.payload(bytes)
                            }
                            tally.update { t in
                                if t.sources[p.src] == nil { t.order.append(p.src) }
                                var ps = t.sources[p.src] ?? PerSource()
                                ps.packets += 1
                                ps.rssiSum += Int(p.rssi)
                                ps.last = what
                                ps.kind = reading != nil ? "sensor" : (p.src == echo ? "echo" : "other")
                                t.sources[p.src] = ps
                                if p.src == echo { t.echoed += 1 }
                            }
                            if json {
                                var o: [(String, JSON)] = [("event", .string("rx")), ("t", .double(now() - t0))]
                                if case .object(let kv) = PacketView.json(p, bytes: bytes, me: me) { o += kv }
                                Out.json(.object(o))
                            } else {
                                Out.line("\(stamp())  ←    \(p.src)  \(pad("\(p.rssi) dBm", 7, right: true))  \(pad("\(p.channel)", 2, right: true))  \(what)")
                            }
                        }
                    }
                    g.addTask {  // send to the echo node every 1.5 s
                        var n = 0
                        while true {
                            try await Task.sleep(for: .milliseconds(n == 0 ? 400 : 1500))
                            n += 1
                            let msg = "hello \(n)"
                            let start = now()
                            let r = try await d.espNowSend(peer: echo, data: Array(msg.utf8), sync: true)
                            let ack = now() - start
                            tally.update { t in
                                t.sent += 1
                                if r.failures == 0 {
                                    t.acked += 1
                                    t.ackTimes.append(ack)
                                }
                            }
                            let status = r.failures == 0 ? "acked in \(Fmt.ms(ack))" : "not acknowledged"
                            if json {
                                Out.json(.object([("event", .string("tx")), ("t", .double(now() - t0)), ("dst", .string(echo.description)),
                                                  ("payload_text", .string(msg)), ("acked", .bool(r.failures == 0)),
                                                  ("ack_ms", .double(ack * 1000))]))
                            } else {
                                Out.line("\(stamp())    →  \(echo)  \(pad("", 7))  \(pad("1", 2, right: true))  \"\(msg)\" \(status)")
                            }
                        }
                    }
                    g.addTask { try await Task.sleep(for: .seconds(duration)) }
                    try await g.next()
                    g.cancelAll()
                }
            }
            return (try await d.stats(), me)
        }
        report(tally.value, stats: stats, info: info, elapsed: now() - t0, json: json)
    }

    func report(_ t: Tally, stats: DeviceStats, info: DeviceInfo, elapsed: Double, json: Bool) {
        let rx = t.sources.values.map(\.packets).reduce(0, +)
        let ackAvg = t.ackTimes.isEmpty ? 0 : t.ackTimes.reduce(0, +) / Double(t.ackTimes.count)
        if json {
            Out.json(.object([
                ("event", .string("stats")), ("seconds", .double(elapsed)), ("received", .int(rx)),
                ("sent", .int(t.sent)), ("acked", .int(t.acked)), ("echoed", .int(t.echoed)),
                ("sources", .array(t.order.map { m in
                    let p = t.sources[m]!
                    return .object([("src", .string(m.description)), ("kind", .string(p.kind)), ("packets", .int(p.packets)),
                                    ("avg_rssi", .double(Double(p.rssiSum) / Double(max(1, p.packets))))])
                })),
                ("device", .object(zip(statsCounterNames, stats.values).map { ($0, .int($1)) })),
            ]))
            return
        }
        Out.line("")
        Out.line(String(format: "--- %.1f s on the simulated air ---", elapsed))
        var rows = [["source", "kind", "packets", "avg rssi", "last"]]
        for m in t.order {
            let p = t.sources[m]!
            rows.append([m.description, p.kind, "\(p.packets)", String(format: "%.0f dBm", Double(p.rssiSum) / Double(max(1, p.packets))), p.last])
        }
        for l in table(rows, rightAligned: [2, 3]) { Out.line(l) }
        Out.line("")
        Out.line("host:   \(rx) packets received, \(t.sent) sent, \(t.acked) acknowledged"
                 + (t.ackTimes.isEmpty ? "" : " (mean \(Fmt.ms(ackAvg)))") + ", \(t.echoed) echoed back")
        Out.line("dongle: tx_packets \(stats.txPackets), tx_failures \(stats.txFailures), rx_packets \(stats.rxPackets), "
                 + "rx_dropped \(stats.rxDropped), link frames \(stats["link_rx_frames"]) in / \(stats["link_tx_frames"]) out")
        Out.line("")
        Out.line("next: `espnow listen --port sim`, `espnow ping --port sim`, `espnow bench --port sim`, `espnow --help`")
    }
}
