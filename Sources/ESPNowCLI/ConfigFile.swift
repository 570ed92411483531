import ArgumentParser
import ESPNowDiscovery
import Foundation
import TOMLKit

/// The optional `$XDG_CONFIG_HOME/espnow/config.toml` (`~/.config/espnow/config.toml`):
///
///     port = "bench"        # default --port: a name below, a path, auto, sim, id:SERIAL, unix:...
///     country = "DE"        # Wi-Fi country set before a command sets a channel
///     channel = 6           # channel the dongle is put on when a command starts
///     [ports]
///     bench = "id:5A3F0012" # by USB serial number
///     desk = "/dev/ttyACM0"
///
/// Unknown keys and wrong types are errors naming the file and key (exit 1).
struct ConfigFile: Sendable {
    var port: String?
    var country: String?
    var channel: UInt8?
    var ports: [String: String] = [:]
    var path: String?

    static var location: String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (env["HOME"].map { "\($0)/.config" } ?? NSHomeDirectory() + "/.config")
        return "\(base)/espnow/config.toml"
    }

    /// Loaded once; a broken file is reported when a command first needs it.
    static let loaded: Result<ConfigFile, CLIError> = Result { try load(path: location) }.mapError { $0 as? CLIError ?? CLIError(.usage, "\($0)") }

    /// The file's settings, or none when it is absent. Only for code paths that already
    /// passed ``check()`` (a broken file then reads as empty).
    static var current: ConfigFile { (try? loaded.get()) ?? ConfigFile() }

    static func check() throws {
        _ = try loaded.get()
    }

    static func load(path: String) throws -> ConfigFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return ConfigFile() }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw CLIError(.usage, "\(path): \(e.description) at line \(e.source.begin.line)")
        } catch {
            throw CLIError(.usage, "\(path): \(error)")
        }
        var c = ConfigFile(path: path)
        let known = ["port", "country", "channel", "ports"]
        for k in table.keys where !known.contains(k) {
            throw CLIError(.usage, "\(path): unknown key \"\(k)\" (known: \(known.joined(separator: ", ")))")
        }
        if let v = table["port"] {
            guard let s = v.string, !s.isEmpty else { throw CLIError(.usage, "\(path): port must be a non-empty string") }
            c.port = s
        }
        if let v = table["country"] {
            guard let s = v.string, let cc = try? CountryCode.parse(s) else {
                throw CLIError(.usage, "\(path): country must be a 2-character string such as \"01\", \"DE\", \"JP\"")
            }
            c.country = cc
        }
        if let v = table["channel"] {
            guard let i = v.int, (1...14).contains(i) else { throw CLIError(.usage, "\(path): channel must be an integer 1...14") }
            c.channel = UInt8(i)
        }
        if let v = table["ports"] {
            guard let t = v.table else { throw CLIError(.usage, "\(path): [ports] must be a table of name = \"path or id:SERIAL\"") }
            for k in t.keys {
                guard let s = t[k]?.string, !s.isEmpty else { throw CLIError(.usage, "\(path): ports.\(k) must be a non-empty string") }
                c.ports[k] = s
            }
        }
        return c
    }
}

/// `--port` values that name something other than a path: names from the config file and
/// `id:SERIAL` (a dongle by USB serial number).
enum PortName {
    /// A configured name's value (names map to paths or `id:SERIAL`, not to other names).
    static func expand(_ port: String) throws -> String {
        try ConfigFile.check()
        if let v = ConfigFile.current.ports[port] { return v }
        return port
    }

    /// The port of the dongle whose USB serial number is `serial`: udev's description, or
    /// without udev the /dev/serial/by-id link whose name ends in it (udev names them
    /// `usb-VENDOR_PRODUCT_SERIAL-ifNN`).
    static func bySerial(_ serial: String) throws -> (path: String, device: SerialDevice?) {
        guard !serial.isEmpty else { throw CLIError(.usage, "--port id: needs a USB serial number, e.g. id:5A3F0012") }
        let (devices, scanned, _) = PortFinder.ports()
        if let d = devices.first(where: { $0.serialNumber == serial }) { return (d.byIDLink ?? d.devnode, d) }
        for p in scanned where p.contains("/serial/by-id/") {
            let name = (p as NSString).lastPathComponent
            let stem = name.range(of: "-if", options: .backwards).map { String(name[..<$0.lowerBound]) } ?? name
            if stem.hasSuffix("_\(serial)") || stem.hasSuffix("-\(serial)") { return (p, nil) }
        }
        let known = devices.compactMap(\.serialNumber)
        throw CLIError(.device, "no attached dongle has USB serial number \(serial)"
                       + (known.isEmpty ? "" : " (attached: \(known.joined(separator: ", ")))") + "; `espnow devices` lists them")
    }
}
