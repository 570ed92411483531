import ArgumentParser
import ESPNowDevice
import ESPNowWire
import Foundation

let chipNames: [UInt16: String] = [1: "ESP32", 2: "ESP32-S2", 9: "ESP32-S3", 5: "ESP32-C3", 12: "ESP32-C2", 13: "ESP32-C6",
                                   16: "ESP32-H2", 18: "ESP32-P4", 23: "ESP32-C5", 0x8000: "simulator"]
let transportNames: [UInt8: String] = [0: "USB-Serial-JTAG", 1: "TinyUSB CDC-ACM", 2: "UART", 3: "simulator pty"]

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Firmware, protocol and ESP-IDF versions, chip, ESP-NOW version, MACs, channel, peers and counters.")

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let json = connection.json
        try await Session.run(connection) { s in
            let d = s.device
            let i = d.info
            let version = try await d.espNowGetVersion()
            let ch = try await d.wifiGetChannel()
            let peers = try await d.espNowGetPeerNum()
            let stats = try await d.stats()
            let fw = "\(i.fwMajor).\(i.fwMinor).\(i.fwPatch)"
            let chip = chipNames[i.chipModel] ?? "chip \(i.chipModel)"
            let transport = transportNames[i.transport] ?? "transport \(i.transport)"
            if json {
                Out.json(.object([
                    ("port", .string(s.port)), ("firmware", .string(fw)), ("protocol", .int(i.protoVersion)),
                    ("idf_version", .string(i.idfVersion)), ("chip", .string(chip)), ("chip_model", .int(i.chipModel)),
                    ("chip_revision", .int(i.chipRevision)), ("espnow_version", .int(version)),
                    ("max_payload", .int(i.maxPayload)), ("sta_mac", .string(i.staMAC.description)),
                    ("ap_mac", .string(i.apMAC.description)), ("channel", .int(ch.primary)),
                    ("peers", .int(peers.total)), ("encrypted_peers", .int(peers.encrypted)),
                    ("transport", .string(transport)), ("baud", .int(s.linkBaud)), ("boot_count", .int(i.bootCount)),
                    ("reset_reason", .int(i.resetReason)), ("reset_reason_name", .string(Fmt.resetReason(i.resetReason))), ("window", .int(i.window)), ("rxbuf", .int(i.rxbuf)),
                    ("caps", .int(i.caps)), ("simulated", .bool(i.isSimulated)),
                    ("stats", .object(zip(statsCounterNames, stats.values).map { ($0, .int($1)) })),
                ]))
                return
            }
            var rows: [[String]] = [
                ["port", s.port],
                ["firmware", "\(fw) (bridge protocol v\(i.protoVersion))"],
                ["ESP-IDF", i.idfVersion.isEmpty ? "-" : i.idfVersion],
                ["chip", "\(chip) rev \(i.chipRevision)"],
                ["ESP-NOW", "v\(version), max payload \(i.maxPayload) bytes"],
                ["STA MAC", i.staMAC.description],
                ["AP MAC", i.apMAC.description],
                ["channel", "\(ch.primary)"],
                ["peers", "\(peers.total) (\(peers.encrypted) encrypted)"],
                ["link", s.linkBaud > 0 ? "\(transport), \(s.linkBaud) baud" : transport],
                ["boot", "#\(i.bootCount), \(Fmt.resetReason(i.resetReason))"],
                ["window", "\(i.window) requests, rx buffer \(i.rxbuf) bytes"],
            ]
            rows.append(["sent", "\(stats.txPackets) packets, \(stats.txFailures) failed"])
            rows.append(["received", "\(stats.rxPackets) packets, \(stats.rxDropped) dropped"])
            rows.append(["uptime", "\(stats["uptime_s"]) s"])
            for l in table(rows) { Out.line(l) }
        }
    }
}
