import ArgumentParser
import ESPNowTesting
import Foundation

/// `espnow test FILE.yaml…`: scenario files (docs/HIL.md) against simulated dongles or the
/// real ones of `--port`/`$ESPNOW_PORTS`, with human, TAP and JUnit XML reports and exit
/// codes for CI. The scenario engine is the ESPNowTesting library; this is its front end.
struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run ESP-NOW scenario files (YAML) against simulated or real dongles.",
        discussion: """
            Each test case runs on a fresh bench (its own simulated air). A failed case keeps its air traffic as a pcap. Exit codes: 0 every case passed, 1 a scenario file or argument is invalid (nothing ran), 2 a bench could not start, 6 a case failed. See docs/HIL.md.
            """
    )

    @Argument(help: "Scenario files")
    var files: [String]

    @Option(help: "sim (default unless $ESPNOW_PORTS is set) or real dongles: PATH[,PATH...]")
    var port: String?

    @Option(help: "Report on stdout: human (default) or tap")
    var format: String = "human"

    @Option(help: "Also write a JUnit XML report to FILE")
    var junit: String?

    @Option(help: "Write a scenario expecting the packets heard in this run to FILE (one input file)")
    var record: String?

    @Option(name: .customLong("var"), help: "NAME=VALUE, overrides the file's vars (repeatable)")
    var vars: [String] = []

    @Option(help: "Directory for the pcaps of failed cases (default: $ESPNOW_TEST_ARTIFACTS, else the temporary directory)")
    var artifacts: String?

    @Option(help: ArgumentHelp("Default `within` of expect steps, in seconds (decimals accepted; a hang guard).", valueName: "SECONDS"))
    var within: Double = 10

    func validate() throws {
        guard ["human", "tap"].contains(format) else { throw ValidationError("--format must be human or tap, got \(format)") }
        if record != nil && files.count != 1 { throw ValidationError("--record takes exactly one scenario file") }
        guard within > 0 else { throw ValidationError("--within must be positive") }
    }

    func run() async throws {
        var scenarios: [Scenario] = []
        for f in files {
            do { scenarios.append(try Scenario.load(f)) } catch { throw CLIError(.usage, "\(error)") }
        }
        var runner = ScenarioRunner()
        if let p = port {
            runner.ports = p == "sim" ? nil : p.split(separator: ",").map(String.init)
        }
        for v in vars {
            guard let eq = v.firstIndex(of: "="), eq != v.startIndex else { throw CLIError(.usage, "--var wants NAME=VALUE, got '\(v)'") }
            runner.vars[String(v[..<eq])] = String(v[v.index(after: eq)...])
        }
        if let a = artifacts {
            try? FileManager.default.createDirectory(atPath: a, withIntermediateDirectories: true)
            runner.artifactsDirectory = a
        }
        runner.defaultWithin = within
        var results: [CaseResult] = []
        for s in scenarios {
            let r = await runner.run(s)
            if format == "human" {
                Out.line(ScenarioReport.human(r).trimmingCharacters(in: .newlines).split(separator: "\n").dropLast().joined(separator: "\n"))
            }
            results += r
        }
        switch format {
        case "tap": Out.line(ScenarioReport.tap(results).trimmingCharacters(in: .newlines))
        default: Out.line(ScenarioReport.human(results).split(separator: "\n").last.map(String.init) ?? "")
        }
        if let j = junit {
            do { try ScenarioReport.junit(results).write(toFile: j, atomically: true, encoding: .utf8) } catch {
                throw CLIError(.io, "cannot write the JUnit report \(j): \(error.localizedDescription)")
            }
        }
        if let rec = record, let s = scenarios.first {
            let source = (try? String(contentsOfFile: s.file, encoding: .utf8)) ?? ""
            do { try ScenarioReport.record(s, source: source, results: results).write(toFile: rec, atomically: true, encoding: .utf8) } catch {
                throw CLIError(.io, "cannot write the recording \(rec): \(error.localizedDescription)")
            }
        }
        if results.contains(where: { $0.failedStep == "setup" }) { throw ExitCode(2) }
        if results.contains(where: { !$0.passed }) { throw ExitCode(6) }
    }
}
