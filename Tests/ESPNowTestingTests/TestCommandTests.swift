import ESPNowSimulator
import ESPNowTesting
import Foundation
import Testing

/// `espnow test` as CI runs it: exit codes, TAP, JUnit XML checked against the schema of
/// Tests/Fixtures/junit.xsd with xmllint, --record, and real-dongle mode through ESPNOW_PORTS.
@Suite struct TestCommandTests {
    static let espnow = Support.product("espnow")
    static let schema = Support.repo.appendingPathComponent("Tests/Fixtures/junit.xsd").path

    static let mixed = """
        name: mixed
        scene:
          dongles: 1
          devices:
            - {name: echo, node: echo}
        tests:
          - name: passes
            steps:
              - send: {to: echo, payload: ping}
              - expect: {from: echo, text: ping}
          - name: fails <&> "quoted"
            steps:
              - send: {to: echo, payload: ping}
              - expect: {from: echo, text: pong, within: 2}
        """

    static func write(_ text: String, _ name: String = "s.yaml") throws -> (dir: String, file: String) {
        let d = try Support.tempDir()
        let f = "\(d)/\(name)"
        try text.write(toFile: f, atomically: true, encoding: .utf8)
        return (d, f)
    }

    static func xmllint(_ file: String) throws -> (Int32, String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/xmllint") else {
            throw SupportError("xmllint is missing: install libxml2-utils (make deps)")
        }
        let (s, o, e) = try Support.exec("/usr/bin/xmllint", ["--noout", "--schema", schema, file])
        return (s, o + e)
    }

    @Test func junitReportValidatesAndCountsCases() async throws {
        let (dir, file) = try Self.write(Self.mixed)
        let setupError = """
            name: no bench
            scene:
              devices:
                - {name: dut, app: /nonexistent/firmware}
            steps:
              - wait: 0
            """
        let bad = "\(dir)/bench.yaml"
        try setupError.write(toFile: bad, atomically: true, encoding: .utf8)
        let (status, out, _) = try Support.exec(Self.espnow, ["test", file, "--junit", "\(dir)/r.xml", "--artifacts", dir])
        #expect(status == 6)
        #expect(out.contains("PASS  mixed / passes") && out.contains("FAIL  mixed / fails <&> \"quoted\""))
        #expect(out.contains("s.yaml: test 'fails <&> \"quoted\"' step 2 (expect): expected a packet from echo ("))
        #expect(out.contains("1 passed, 1 failed"))
        let (v, msg) = try Self.xmllint("\(dir)/r.xml")
        #expect(v == 0, "\(msg)")
        let xml = try String(contentsOfFile: "\(dir)/r.xml", encoding: .utf8)
        #expect(xml.contains("<testsuites name=\"espnow test\" tests=\"2\" failures=\"1\" errors=\"0\""))
        #expect(xml.contains("<testcase name=\"fails &lt;&amp;&gt; &quot;quoted&quot;\" classname=\"mixed\""))
        #expect(xml.contains("<failure message=\"") && xml.contains("type=\"ExpectationFailed\""))

        // A bench that cannot start is an error (exit 2), still a valid report.
        let (s2, _, _) = try Support.exec(Self.espnow, ["test", file, bad, "--junit", "\(dir)/r2.xml", "--artifacts", dir])
        #expect(s2 == 2)
        #expect(try Self.xmllint("\(dir)/r2.xml").0 == 0)
        let xml2 = try String(contentsOfFile: "\(dir)/r2.xml", encoding: .utf8)
        #expect(xml2.contains("tests=\"3\" failures=\"1\" errors=\"1\"") && xml2.contains("<error message=\"setup: the bench could not start"))

        // The schema rejects what CI servers would not read (a testcase without classname).
        try xml.replacingOccurrences(of: " classname=\"mixed\"", with: "").write(toFile: "\(dir)/broken.xml", atomically: true, encoding: .utf8)
        #expect(try Self.xmllint("\(dir)/broken.xml").0 != 0)
    }

    @Test func tapAndExitCodes() async throws {
        let (dir, file) = try Self.write(Self.mixed)
        let (status, out, _) = try Support.exec(Self.espnow, ["test", file, "--format", "tap", "--artifacts", dir])
        #expect(status == 6)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.prefix(4) == ["TAP version 13", "1..2", "ok 1 - mixed / passes", "not ok 2 - mixed / fails <&> \"quoted\""])
        #expect(lines.contains("  ---") && lines.contains("  ...") && lines.contains { $0.hasPrefix("  pcap: \"\(dir)/") })
        let (okDir, okFile) = try Self.write("scene: {devices: [{name: echo, node: echo}]}\nsteps:\n  - send: {to: echo, payload: x}\n  - expect: {from: echo, text: x}\n")
        #expect(try Support.exec(Self.espnow, ["test", okFile, "--artifacts", okDir]).0 == 0)
        let (s1, _, e1) = try Support.exec(Self.espnow, ["test", okFile, "--format", "xml"])
        #expect(s1 == 1 && e1.contains("--format must be human or tap"))
        let (_, typo) = try Self.write("steps:\n  - expect: {form: echo}\n")
        let (s2, o2, e2) = try Support.exec(Self.espnow, ["test", typo])
        #expect(s2 == 1 && o2.isEmpty && e2.contains("step 1 (expect): unknown key 'form'"), "\(e2)")
        let (s3, _, e3) = try Support.exec(Self.espnow, ["test", "\(okDir)/missing.yaml"])
        #expect(s3 == 1 && e3.contains("missing.yaml: no such scenario file"))
    }

    /// --record writes a scenario expecting this run's traffic; it passes on a new run and
    /// fails when the device answers differently.
    @Test func recordThenReplay() async throws {
        let (dir, file) = try Self.write("""
            name: rec
            scene:
              devices:
                - {name: echo, node: echo}
            vars:
              word: alpha
            steps:
              - send: {to: echo, payload: "${word}"}
              - send: {to: echo, hex: "0102"}
              - expect: {from: echo, hex: "0102"}
            """)
        let rec = "\(dir)/rec.yaml"
        #expect(try Support.exec(Self.espnow, ["test", file, "--record", rec, "--artifacts", dir]).0 == 0)
        let text = try String(contentsOfFile: rec, encoding: .utf8)
        #expect(text.contains("- expect: {from: \"echo\", hex: \"616c706861\"}") && text.contains("- expect: {from: \"echo\", hex: \"0102\"}"))
        let (s, out, _) = try Support.exec(Self.espnow, ["test", rec, "--artifacts", dir])
        #expect(s == 0, "\(out)")
        let (s2, out2, _) = try Support.exec(Self.espnow, ["test", rec, "--var", "word=beta", "--within", "2", "--artifacts", dir])
        #expect(s2 == 6 && out2.contains("with hex 616c706861"))
    }

    /// Real-dongle mode through ESPNOW_PORTS (a simulator's pty standing in for the dongle,
    /// its scripted echo for the board): the same file runs; a simulator-only fault fails
    /// the case saying so.
    @Test func espnowPortsSelectsRealDongles() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 1, nodes: ["echo"]))
        defer { air.shutdown() }
        let port = try #require(air.dongles.first?.port)
        let mac = try #require(air.nodes.first?.staMAC)
        let (dir, file) = try Self.write("""
            name: bench
            scene:
              devices:
                - {name: board, mac: "${BOARD_MAC}", node: echo}
            tests:
              - name: echo
                steps:
                  - send: {to: board, payload: real, ack: true}
                  - expect: {from: board, text: real}
              - name: loss
                steps:
                  - fault: {loss: 0.2, device: board}
            """)
        let (s, out, _) = try Support.exec(Self.espnow, ["test", file, "--var", "BOARD_MAC=\(mac)", "--artifacts", dir],
                                           env: ["ESPNOW_PORTS": port])
        #expect(s == 6)
        #expect(out.contains("PASS  bench / echo"))
        #expect(out.contains("step 1 (fault): loss 0.2 on the links to board is not available on hardware"))
    }
}
