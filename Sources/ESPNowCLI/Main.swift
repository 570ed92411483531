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

            Every device command takes --port PATH|auto|sim (default: $ESPNOW_PORT, else auto) and --json (one JSON object per line).

            Exit codes: 0 ok, 1 usage or bad input, 2 device or link error (no such port, permission, busy, not a bridge, firmware too old), 3 ESP-NOW error (an esp_err_t, or a send that was not acknowledged), 4 timeout, 5 host file error, 130 interrupted. See docs/CLI.md.
            """,
        version: "espnow \(cliVersion) (bridge protocol \(WireProtocol.version); `espnow info` shows a dongle's firmware and protocol)",
        subcommands: [
            Demo.self, Sim.self, Info.self, Send.self, Listen.self, Peers.self, PMK.self, Channel.self,
            Stats.self, Reset.self, Ping.self, Bench.self, Devices.self, Node.self,
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

    /// With --json, errors are JSON objects on stderr too: `{"error":"...","exit":N}`.
    static var jsonMode: Bool { CommandLine.arguments.dropFirst().contains("--json") }

    static func report(_ message: String, status: Int32) {
        if jsonMode {
            Out.err(JSON.object([("error", .string(message)), ("exit", .int(status))]).text)
        } else {
            Out.err("espnow: \(message)")
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
