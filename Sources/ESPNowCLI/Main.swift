import ArgumentParser
import ESPNowWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// This command's version (`--version` adds the protocol it speaks).
let cliVersion = "0.2.0"

@main
struct ESPNowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "espnow",
        abstract: "Drive ESP-NOW from Linux through a USB ESP32 bridge dongle (or a simulated one).",
        discussion: """
            Try it without hardware: `espnow demo`, or any command with `--port sim`.

            Every device command takes --port PATH|auto|sim|id:SERIAL|NAME (default: $ESPNOW_PORT, else the port in ~/.config/espnow/config.toml, else auto) and --json (one JSON object per line).

            Exit codes: 0 ok, 1 usage or bad input, 2 device or link error (no such port, permission, busy, not a bridge, firmware too old), 3 ESP-NOW error (an esp_err_t, or a send that was not acknowledged), 4 timeout, 5 host file error, 130 interrupted. See docs/CLI.md.
            """,
        version: "espnow \(cliVersion) (bridge protocol \(WireProtocol.version))",
        subcommands: [
            Demo.self, Sim.self, Info.self, Send.self, Listen.self, Peers.self, PMK.self, Channel.self, Country.self,
            WiFi.self, Config.self, Stats.self, Reset.self, Ping.self, Bench.self, Devices.self, Node.self,
            Serve.self,
            GatewayCommand.self, TestCommand.self,
        ]
    )

    /// Parses, runs, and turns every failure into one sentence on stderr and a documented
    /// exit code (ArgumentParser's own usage errors become 1 instead of 64).
    static func main() async {
        Interrupt.install()
        if let e = unknownHelpTopic(Array(CommandLine.arguments.dropFirst())) {
            Out.err("espnow: \(e)")
            Glibc.exit(ExitStatus.usage.rawValue)
        }
        let status: Int32
        do {
            if let v = versionRequest(Array(CommandLine.arguments.dropFirst())) {
                try await printVersion(port: v.port, json: v.json)
                Children.terminateAll()
                Glibc.exit(0)
            }
            var command = try parseAsRoot()
            if var c = command as? AsyncParsableCommand {
                try await c.run()
            } else {
                try command.run()
            }
            status = ExitStatus.ok.rawValue
        } catch let e as CLIError {
            report(e.message, status: e.status.rawValue)
            status = e.status.rawValue
        } catch let e as ExitCode {
            status = e.rawValue
        } catch {
            let code = exitCode(for: error)
            let text = fullMessage(for: error)
            if code == .success {
                if !text.isEmpty { Out.line(text) }
                status = 0
            } else {
                if jsonMode {
                    report(text.split(separator: "\n").first.map(String.init) ?? text, status: ExitStatus.usage.rawValue)
                } else {
                    Out.err(text)
                }
                status = ExitStatus.usage.rawValue
            }
        }
        Children.terminateAll()
        Glibc.exit(status)
    }

    /// `espnow --version [--port P] [--json]` (nothing else): the CLI's and protocol's
    /// versions, and with a port the dongle's firmware.
    static func versionRequest(_ args: [String]) -> (port: String?, json: Bool)? {
        guard args.contains("--version") else { return nil }
        var port: String?
        var json = false
        var i = 0
        while i < args.count {
            switch args[i] {
            case "--version": break
            case "--json": json = true
            case "--port", "-p":
                guard i + 1 < args.count else { return nil }
                port = args[i + 1]
                i += 1
            case let a where a.hasPrefix("--port="): port = String(a.dropFirst(7))
            default: return nil
            }
            i += 1
        }
        return (port, json)
    }

    static func printVersion(port: String?, json: Bool) async throws {
        var o: [(String, JSON)] = [("cli", .string(cliVersion)), ("protocol", .int(WireProtocol.version))]
        if let p = port {
            let options = try ConnectionOptions.parse(["--port", p] + (json ? ["--json"] : []))
            let info = try await Session.run(options, prepare: false) { s in (s.device.info, s.port) }
            let fw = "\(info.0.fwMajor).\(info.0.fwMinor).\(info.0.fwPatch)"
            o += [("port", .string(info.1)), ("firmware", .string(fw)), ("firmware_protocol", .int(info.0.protoVersion)),
                  ("idf_version", .string(info.0.idfVersion))]
            if !json {
                Out.line("espnow \(cliVersion) (bridge protocol \(WireProtocol.version))")
                Out.line("firmware \(fw) (bridge protocol \(info.0.protoVersion), ESP-IDF \(info.0.idfVersion.isEmpty ? "?" : info.0.idfVersion)) on \(info.1)")
                return
            }
        }
        if json { Out.json(.object(o)) } else { Out.line("espnow \(cliVersion) (bridge protocol \(WireProtocol.version))") }
    }

    /// With --json, errors are JSON objects on stderr too: `{"error":"...","exit":N}`.
    static var jsonMode: Bool { CommandLine.arguments.dropFirst().contains("--json") }

    static func report(_ message: String, status: Int32) {
        if jsonMode {
            Out.err(JSON.object([("error", .string(message)), ("exit", .int(status))]).text)
        } else {
            Out.err(Style.red("espnow:") + " \(message)")
        }
    }

    /// `espnow help NAME...` for a command that does not exist (ArgumentParser would show
    /// the root help and exit 0): the error, with the closest name.
    static func unknownHelpTopic(_ args: [String]) -> String? {
        guard args.first == "help", args.count > 1 else { return nil }
        var command: any ParsableCommand.Type = ESPNowCommand.self
        for word in args.dropFirst() where !word.hasPrefix("-") {
            let subs = command.configuration.subcommands
            func names(_ c: any ParsableCommand.Type) -> [String] {
                [c._commandName] + c.configuration.aliases
            }
            guard let next = subs.first(where: { names($0).contains(word) }) else {
                let all = subs.flatMap(names)
                let near = all.min { editDistance($0, word) < editDistance($1, word) }
                let hint = near.flatMap { editDistance($0, word) <= 2 ? " (did you mean '\($0)'?)" : nil } ?? ""
                return "no command '\(word)'\(hint); `espnow --help` lists them"
            }
            command = next
        }
        return nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        var row = Array(0...y.count)
        for i in 1...max(1, x.count) where !x.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in 1...max(1, y.count) where !y.isEmpty {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (x[i - 1] == y[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return x.isEmpty ? y.count : row[y.count]
    }
}
