import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
        version: "0.1.0",
        subcommands: [
            Demo.self, Sim.self, Info.self, Send.self, Listen.self, Peers.self, PMK.self, Channel.self,
            Stats.self, Reset.self, Ping.self, Bench.self, Devices.self, Node.self,
            Serve.self,
        ]
    )

    /// Parses, runs, and turns every failure into one sentence on stderr and a documented
    /// exit code (ArgumentParser's own usage errors become 1 instead of 64).
    static func main() async {
        Interrupt.install()
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
            Out.err("espnow: \(e.message)")
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
                Out.err(text)
                status = ExitStatus.usage.rawValue
            }
        }
        Children.terminateAll()
        Glibc.exit(status)
    }
}
