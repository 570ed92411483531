import ESPNow
import ESPNowWire
import Foundation
import NIOConcurrencyHelpers

/// The outcome of one test case of a scenario.
public struct CaseResult: Sendable {
    public var suite: String
    public var file: String
    public var name: String
    /// nil: passed.
    public var failure: String?
    /// The step that failed ("FILE: test 'x' step 3 (expect)"), or "setup".
    public var failedStep: String?
    public var seconds: Double
    /// The air traffic of a failed case.
    public var pcap: String?
    public var stepsRun: Int
    /// Everything the dongles heard (for `--record`).
    public var packets: [CapturedPacket]
    /// Device names by MAC, for `--record`.
    public var names: [MACAddress: String]
    /// How many packets had been heard when each top-level step started (for `--record`).
    public var heardBeforeStep: [Int] = []
    public var passed: Bool { failure == nil }
}

/// Runs scenario files on a fresh bed per test case.
public struct ScenarioRunner: Sendable {
    /// Real dongles (nil: simulated).
    public var ports: [String]?
    /// Variables given on the command line (override the file's).
    public var vars: [String: String] = [:]
    public var artifactsDirectory: String?
    /// Default `within` of expect steps (a hang guard), seconds.
    public var defaultWithin: Double = 10

    public init(ports: [String]? = TestbedOptions.environmentPorts) { self.ports = ports }

    public func run(_ scenario: Scenario) async -> [CaseResult] {
        var out: [CaseResult] = []
        for t in scenario.tests { out.append(await run(t, of: scenario)) }
        return out
    }

    func run(_ test: Scenario.TestCase, of s: Scenario) async -> CaseResult {
        let started = ContinuousClock.now
        var ctx = Context(vars: s.vars.merging(vars) { $1 }, within: defaultWithin)
        var result = CaseResult(suite: s.name, file: s.file, name: test.name, failure: nil, failedStep: nil, seconds: 0,
                                pcap: nil, stepsRun: 0, packets: [], names: [:])
        var o = TestbedOptions(dongles: s.scene.dongles, channel: s.scene.channel)
        o.seed = s.scene.seed
        o.realtime = s.scene.realtime
        o.ports = ports
        o.name = "\(s.name)-\(test.name)"
        if let a = artifactsDirectory { o.artifactsDirectory = a }
        let bed: Testbed
        do {
            for d in s.scene.devices {
                let mac = try d.mac.map { try ctx.sub($0) }.map { m -> MACAddress in
                    guard let v = MACAddress(m) else { throw StepFailure("device \(d.name): '\(m)' is not a MAC address") }
                    return v
                }
                let sim: SimulatedNode? = try d.app.map { .firmware(app: try ctx.sub($0)) } ?? d.node.map { .scripted($0) }
                o.devices.append(DeviceSpec(d.name, mac: mac, simulated: sim, channel: d.channel))
            }
            bed = try await Testbed.start(o)
        } catch {
            result.failure = "the bench could not start: \(error)"
            result.failedStep = "setup"
            result.seconds = started.duration(to: .now).seconds
            return result
        }
        ctx.bed = bed
        for d in bed.devices { result.names[d.mac] = d.name }
        for d in bed.dongles { result.names[d.mac] = "dongle\(d.index)" }
        do {
            for f in s.scene.faults { try await ctx.run(f) }
            for step in test.steps {
                result.heardBeforeStep.append(bed.packets.count)
                try await ctx.run(step)
                result.stepsRun += 1
            }
        } catch let f as StepFailure {
            result.failure = f.message
            result.failedStep = f.step
        } catch {
            result.failure = "\(error)"
        }
        result.packets = bed.packets
        await bed.shutdown()
        if !result.passed { result.pcap = try? bed.savePcap() }
        result.seconds = started.duration(to: .now).seconds
        return result
    }
}

struct StepFailure: Error, CustomStringConvertible {
    var message: String
    var step: String?
    init(_ m: String, step: String? = nil) {
        message = m
        self.step = step
    }
    var description: String { step.map { "\($0): \(message)" } ?? message }
}
