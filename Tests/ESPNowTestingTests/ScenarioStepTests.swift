import ESPNowTesting
import Foundation
import Testing

/// Each step kind of a scenario passes when what it states holds and fails, naming the step,
/// the expectation and what was seen, when it does not. Every case runs on its own air.
@Suite struct ScenarioStepTests {
    static let scene = """
        scene:
          dongles: 1
          devices:
            - {name: echo, node: echo}
        """

    /// One test case from `steps`; returns its result.
    func one(_ steps: String, scene: String = Self.scene) async throws -> CaseResult {
        let r = try await Support.run(scene + "\nsteps:\n" + steps)
        try #require(r.count == 1)
        return r[0]
    }

    func failure(_ r: CaseResult) -> String { "\(r.failedStep ?? "-"): \(r.failure ?? "(passed)")" }

    @Test func send() async throws {
        let ok = try await one("  - send: {to: echo, payload: hi, ack: true}")
        #expect(ok.passed, "\(failure(ok))")
        let bad = try await one("  - send: {to: \"02:00:00:00:00:99\", payload: hi, ack: true}")
        #expect(!bad.passed)
        #expect(failure(bad).contains("step 1 (send)"))
        #expect(failure(bad).contains("expected 02:00:00:00:00:99 to acknowledge the frame from dongle0; it was not acknowledged"))
    }

    @Test func expect() async throws {
        let ok = try await one("""
              - send: {to: echo, payload: abc}
              - expect: {from: echo, to: dongle0, text: abc, length: 3, regex: "^a.c$"}
            """)
        #expect(ok.passed, "\(failure(ok))")
        let bad = try await one("""
              - send: {to: echo, payload: abc}
              - expect: {from: echo, text: abd, within: 2}
            """)
        let m = failure(bad)
        #expect(m.contains("step 2 (expect)"))
        #expect(m.contains("expected a packet from echo (") && m.contains("with text \"abd\" within 2.0 s"))
        #expect(m.contains("heard instead: #0 from echo (") && m.contains("3 bytes \"abc\""))
        #expect(bad.pcap.map { FileManager.default.fileExists(atPath: $0) } == true)
    }

    @Test func expectMatchesHexJSONAndFields() async throws {
        let ok = try await one("""
              - send: {to: echo, hex: "5301 0700 0000 d007"}
              - expect: {from: echo, hex: "530107000000d007", save: r, fields: {seq: {offset: 2, type: u32le}, t: {offset: 6, type: i16le, min: 2000}}}
              - send: {to: echo, payload: "${r.seq}"}
              - expect: {from: echo, text: "7"}
              - send: {to: echo, json: {a: {b: [1, 2, 3]}, ok: true}}
              - expect: {from: echo, json: {"a.b[2]": 3, "$.ok": true}}
            """)
        #expect(ok.passed, "\(failure(ok))")
        let bad = try await one("""
              - send: {to: echo, json: {a: 1}}
              - expect: {from: echo, json: {a: 2}, within: 2}
            """)
        #expect(failure(bad).contains("step 2 (expect): expected a packet from echo") && failure(bad).contains("JSON a = 2"))
        #expect(failure(bad).contains("{\\\"a\\\":1}") || failure(bad).contains("{\"a\":1}"))
    }

    @Test func expectNone() async throws {
        let ok = try await one("  - expect_none: {from: echo, within: 0.2}")
        #expect(ok.passed, "\(failure(ok))")
        let bad = try await one("""
              - send: {to: echo, payload: late}
              - expect_none: {from: echo, within: 30}
            """)
        #expect(failure(bad).contains("step 2 (expect_none): expected no packet from echo ("))
        #expect(failure(bad).contains("heard #0 from echo (") && failure(bad).contains("\"late\""))
    }

    @Test func wait() async throws {
        let ok = try await one("  - wait: 0.01")
        #expect(ok.passed, "\(failure(ok))")
        #expect(throws: Scenario.ParseError.self) { try Scenario.parse(Self.scene + "\nsteps:\n  - wait: soon") }
        do {
            _ = try Scenario.parse(Self.scene + "\nsteps:\n  - wait: soon")
        } catch {
            #expect("\(error)" == "t.yaml: test 't' step 1 (wait): give the seconds to wait, got soon"
                    || "\(error)".contains("step 1 (wait): give the seconds to wait, got soon"))
        }
    }

    @Test func repeatStep() async throws {
        let ok = try await one("""
              - repeat:
                  times: 3
                  steps:
                    - send: {to: echo, payload: "n${i}"}
                    - expect: {from: echo, text: "n${i}"}
            """)
        #expect(ok.passed && ok.stepsRun == 1, "\(failure(ok))")
        let bad = try await one("""
              - repeat:
                  times: 2
                  as: k
                  steps:
                    - send: {to: echo, payload: "n${k}"}
                    - expect: {from: echo, text: "n${k+1}", within: 2}
            """)
        let m = failure(bad)
        #expect(m.contains("step 1 (repeat) step 2 (expect)"))
        #expect(m.contains("with text \"n1\"") && m.contains("\"n0\""))
    }

    @Test func fault() async throws {
        let ok = try await one("""
              - fault: {loss: 1.0, device: echo}
              - send: {to: echo, payload: lost}
              - expect_none: {from: echo, within: 0.5}
              - fault: {loss: 0, device: echo}
              - fault: {reboot: dongle0}
              - send: {to: echo, payload: back, ack: true}
              - expect: {from: echo, text: back}
            """)
        #expect(ok.passed, "\(failure(ok))")
        let bad = try await one("  - fault: {reboot: dongle7}")
        #expect(failure(bad) == "t.yaml: test 't' step 1 (fault): dongle 'dongle7' does not exist (the bed has 1: 0...0)")
    }

    @Test func set() async throws {
        let scene6 = """
            scene:
              dongles: 1
              devices:
                - {name: echo, node: echo, channel: 6}
            """
        let ok = try await one("""
              - set: {channel: 6}
              - set: {var: word, value: moved}
              - send: {to: echo, payload: "${word}", ack: true}
              - expect: {from: echo, text: moved}
            """, scene: scene6)
        #expect(ok.passed, "\(failure(ok))")
        // Without the channel change the echo on channel 6 does not hear dongle0 on channel 1.
        let off = try await one("  - send: {to: echo, payload: x, ack: true}", scene: scene6)
        #expect(failure(off).contains("step 1 (send)") && failure(off).contains("not acknowledged"))
        let bad = try await one("  - set: {channel: 15}")
        #expect(failure(bad).contains("step 1 (set)") && failure(bad).contains("15"))
    }

    @Test func call() async throws {
        let ok = try await one("""
              - call: {method: mac, save: me}
              - call: {method: channel, save: ch}
              - send: {to: echo, payload: "${me}/${ch}"}
              - expect: {from: echo, to: "${me}", regex: "^([0-9a-f]{2}:){5}[0-9a-f]{2}/1$"}
              - call: {method: stats, save: st}
              - call: {method: get_peers, save: n}
              - send: {to: echo, payload: "peers=${n}"}
              - expect: {from: echo, text: "peers=1"}
            """)
        #expect(ok.passed, "\(failure(ok))")
        let bad = try await one("  - call: {method: frobnicate}")
        #expect(failure(bad) == "t.yaml: test 't' step 1 (call): unknown method 'frobnicate' (stats, get_peers, mac, channel, config, del_peer, reset)")
    }

    @Test func parseErrorsNameThePlace() throws {
        func err(_ y: String) -> String {
            do { _ = try Scenario.parse(y, file: "f.yaml"); return "(parsed)" } catch { return "\(error)" }
        }
        #expect(err(Self.scene + "\nsteps:\n  - expect: {fro: echo}").contains("f.yaml: test 'f' step 1 (expect): unknown key 'fro'"))
        #expect(err(Self.scene + "\nsteps:\n  - sned: {to: echo}").contains("f.yaml: test 'f' step 1: a step names exactly one of send, expect"))
        #expect(err("scene: {dongles: 0}\nsteps: []").contains("scene.dongles must be 1...8, got 0"))
        #expect(err("steps: [").contains("f.yaml: not valid YAML"))
        #expect(err("name: x").contains("f.yaml: no tests"))
    }

    @Test func unknownVariableFailsTheStep() async throws {
        let bad = try await one("  - send: {to: echo, payload: \"${nope}\"}")
        #expect(failure(bad).contains("step 1 (send): unknown variable ${nope}"))
    }
}
