import ArgumentParser
import ESPNowDiscovery
import Foundation

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List attached serial dongles (udev) and which of them run the bridge firmware (probe).",
        discussion: "The probe sends one HELLO and waits briefly; it never resets the board. --no-probe skips it.")

    @Flag(help: "Do not open the ports (udev information only).")
    var noProbe = false

    @Flag(help: "List every USB serial port, not only likely ESP32 ones.")
    var all = false

    @Flag(help: "One JSON object per line.")
    var json = false

    func run() async throws {
        let (devices, scanned, udevError) = PortFinder.ports()
        let list = all ? devices : devices.filter(\.isLikelyESP32)
        if let e = udevError, !json { Out.err("udev unavailable (\(e)); scanning /dev instead") }
        var outcomes: [String: ProbeOutcome] = [:]
        if !noProbe {
            if udevError == nil {
                for p in await SerialProbe.probe(list) { outcomes[p.device.devnode] = p.outcome }
            } else {
                for c in await PortFinder.probeAll().candidates { outcomes[c.path] = c.outcome }
            }
        }
        if json {
            // One JSON array (`[]` when nothing is attached).
            var rows: [JSON] = []
            for d in list {
                var o: [(String, JSON)] = [
                    ("port", .string(d.devnode)), ("by_id", d.byIDLink.map { .string($0) } ?? .null),
                    ("vid_pid", .string(d.vidPid)), ("chip", .string(d.chip.rawValue)),
                    ("serial", d.serialNumber.map { .string($0) } ?? .null),
                    ("manufacturer", d.manufacturer.map { .string($0) } ?? .null),
                    ("product", d.product.map { .string($0) } ?? .null),
                    ("interface", d.interfaceNumber.map { .int($0) } ?? .null),
                ]
                if let out = outcomes[d.devnode] { o += probeJSON(out) }
                rows.append(.object(o))
            }
            for p in scanned {
                var o: [(String, JSON)] = [("port", .string(p))]
                if let out = outcomes[p] { o += probeJSON(out) }
                rows.append(.object(o))
            }
            Out.json(.array(rows))
            return
        }
        if list.isEmpty && scanned.isEmpty {
            Out.line("no \(all ? "" : "likely ESP32 ")USB serial devices found" + (all ? "" : " (--all lists every one)")
                     + "; without hardware, try `espnow demo` or --port sim")
            return
        }
        var rows = [["PORT", "VID:PID", "CHIP", "SERIAL", "BRIDGE"]]
        for d in list {
            rows.append([d.byIDLink ?? d.devnode, d.vidPid, d.chip.displayName, d.serialNumber ?? "-",
                         outcomes[d.devnode].map(summary) ?? "-"])
        }
        for p in scanned { rows.append([p, "?", "?", "-", outcomes[p].map(summary) ?? "-"]) }
        for l in table(rows) { Out.line(l) }
    }

    func summary(_ o: ProbeOutcome) -> String {
        if case .bridge(let h) = o { return "yes: \(h.description)" }
        return "no: \(o.description)"
    }

    func probeJSON(_ o: ProbeOutcome) -> [(String, JSON)] {
        var r: [(String, JSON)] = [("bridge", .bool(o.isBridge)), ("probe", .string(o.description))]
        if case .bridge(let h) = o {
            r += [("firmware", .string(h.firmwareVersion)), ("sta_mac", .string(h.staMAC.description))]
        }
        return r
    }
}
