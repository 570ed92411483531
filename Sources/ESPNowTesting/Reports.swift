import ESPNowWire
import Foundation

/// The three report formats of `espnow test`: human lines, TAP version 13, JUnit XML.
public enum ScenarioReport {
    public static func human(_ results: [CaseResult]) -> String {
        var out = ""
        for r in results {
            let t = String(format: "%.2f s", r.seconds)
            if r.passed {
                out += "PASS  \(r.suite) / \(r.name) (\(r.stepsRun) steps, \(t))\n"
            } else {
                out += "FAIL  \(r.suite) / \(r.name) (\(t))\n"
                out += "      \(r.failedStep.map { "\($0): " } ?? "")\(r.failure ?? "")\n"
                if let p = r.pcap { out += "      air traffic: \(p)\n" }
            }
        }
        let failed = results.filter { !$0.passed }.count
        out += "\(results.count - failed) passed, \(failed) failed\n"
        return out
    }

    public static func tap(_ results: [CaseResult]) -> String {
        var out = "TAP version 13\n1..\(results.count)\n"
        for (i, r) in results.enumerated() {
            out += "\(r.passed ? "ok" : "not ok") \(i + 1) - \(r.suite) / \(r.name)\n"
            if !r.passed {
                out += "  ---\n"
                out += "  step: \(yamlScalar(r.failedStep ?? "setup"))\n"
                out += "  message: \(yamlScalar(r.failure ?? ""))\n"
                if let p = r.pcap { out += "  pcap: \(yamlScalar(p))\n" }
                out += "  ...\n"
            }
        }
        return out
    }

    /// JUnit XML as CI servers read it: `testsuites` > `testsuite` (one per scenario file) >
    /// `testcase`, a failed case carrying one `failure` with `message` and `type`.
    public static func junit(_ results: [CaseResult], timestamp: Date = Date()) -> String {
        var suites: [(String, [CaseResult])] = []
        for r in results {
            if let i = suites.firstIndex(where: { $0.0 == r.file }) { suites[i].1.append(r) } else { suites.append((r.file, [r])) }
        }
        let total = results.count
        let failures = results.filter { !$0.passed && $0.failedStep != "setup" }.count
        let errors = results.filter { !$0.passed && $0.failedStep == "setup" }.count
        let time = String(format: "%.3f", results.reduce(0) { $0 + $1.seconds })
        let stamp = ISO8601DateFormatter().string(from: timestamp).replacingOccurrences(of: "Z", with: "")
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"espnow test\" tests=\"\(total)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(time)\">\n"
        for (i, (file, cases)) in suites.enumerated() {
            let f = cases.filter { !$0.passed && $0.failedStep != "setup" }.count
            let e = cases.filter { !$0.passed && $0.failedStep == "setup" }.count
            let t = String(format: "%.3f", cases.reduce(0) { $0 + $1.seconds })
            out += "  <testsuite name=\"\(xml(cases[0].suite))\" id=\"\(i)\" package=\"\(xml(file))\" tests=\"\(cases.count)\" failures=\"\(f)\" errors=\"\(e)\" skipped=\"0\" time=\"\(t)\" timestamp=\"\(stamp)\" hostname=\"\(xml(ProcessInfo.processInfo.hostName))\">\n"
            out += "    <properties>\n      <property name=\"file\" value=\"\(xml(file))\"/>\n    </properties>\n"
            for c in cases {
                out += "    <testcase name=\"\(xml(c.name))\" classname=\"\(xml(c.suite))\" time=\"\(String(format: "%.3f", c.seconds))\""
                if c.passed {
                    out += "/>\n"
                    continue
                }
                out += ">\n"
                let tag = c.failedStep == "setup" ? "error" : "failure"
                let msg = "\(c.failedStep.map { "\($0): " } ?? "")\(c.failure ?? "")"
                out += "      <\(tag) message=\"\(xml(msg))\" type=\"\(tag == "error" ? "BenchError" : "ExpectationFailed")\">\(xml(msg + (c.pcap.map { "\nair traffic: \($0)" } ?? "")))</\(tag)>\n"
                out += "    </testcase>\n"
            }
            out += "    <system-out></system-out>\n    <system-err></system-err>\n"
            out += "  </testsuite>\n"
        }
        return out + "</testsuites>\n"
    }

    /// A scenario file that replays the steps of each case that drive the bed and expects the
    /// packets heard in that run, byte for byte, each after the stimulus step it followed
    /// (`espnow test --record`).
    public static func record(_ scenario: Scenario, source: String, results: [CaseResult]) -> String {
        var out = "# Recorded by `espnow test --record` from \(scenario.file): the same scene and stimuli,\n"
        out += "# each packet the dongles heard expected, byte for byte, after the stimulus it followed.\n"
        out += "name: \(yamlScalar(scenario.name + " (recorded)"))\n"
        if let r = source.range(of: "\nscene:") ?? (source.hasPrefix("scene:") ? source.range(of: "scene:") : nil) {
            // The scene block as written: up to the next top-level key.
            var block = ""
            for line in source[r.lowerBound...].split(separator: "\n", omittingEmptySubsequences: false).dropFirst(source.hasPrefix("scene:") ? 0 : 1) {
                if !block.isEmpty, let c = line.first, !c.isWhitespace, c != "#" { break }
                block += line + "\n"
            }
            out += block
        }
        if !scenario.vars.isEmpty {
            out += "vars:\n" + scenario.vars.sorted { $0.key < $1.key }.map { "  \($0.key): \(yamlScalar($0.value))\n" }.joined()
        }
        out += "tests:\n"
        for (t, r) in zip(scenario.tests, results) {
            out += "  - name: \(yamlScalar(t.name))\n    steps:\n"
            // Each packet is expected right after the last stimulus step that started before it
            // arrived, so the replay waits for it before the next stimulus.
            func expects(_ range: Range<Int>) -> String {
                r.packets.filter { range.contains($0.index) }.map { p in
                    let from = r.names[p.from] ?? p.from.description
                    let hex = p.payload.map { String(format: "%02x", $0) }.joined()
                    return "      - expect: {from: \(yamlScalar(from)), hex: \"\(hex)\"}\n"
                }.joined()
            }
            let stimuli = t.steps.indices.filter { [.send, .wait, .fault, .set, .call].contains(t.steps[$0].kind) }
            let starts = stimuli.map { $0 < r.heardBeforeStep.count ? r.heardBeforeStep[$0] : Int.max }
            out += expects(0..<(starts.first ?? Int.max))
            for (k, i) in stimuli.enumerated() {
                out += "      - \(t.steps[i].kind.rawValue): \(flow(t.steps[i].args))\n"
                let end = k + 1 < starts.count ? starts[k + 1] : Int.max
                if starts[k] < end { out += expects(starts[k]..<end) }
            }
        }
        return out
    }

    static func flow(_ v: Scenario.Value) -> String {
        switch v {
        case .map(let m): "{" + m.map { "\($0.0): \(flow($0.1))" }.joined(separator: ", ") + "}"
        case .list(let a): "[" + a.map(flow).joined(separator: ", ") + "]"
        case .string(let s): yamlScalar(s)
        case .null: "null"
        default: v.text ?? ""
        }
    }

    static func yamlScalar(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    static func xml(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\n": out += "&#10;"
            case "\t", "\r": out += "&#\(u.value);"
            default:
                // XML 1.0 allows no other control characters, even escaped.
                out += u.value < 0x20 ? "\u{FFFD}" : String(u)
            }
        }
        return out
    }
}
