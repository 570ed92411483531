import Foundation
import Yams

/// A scenario file (`espnow test FILE.yaml`, docs/HIL.md): a scene, variables and test cases of steps.
/// Parsing checks every key and kind, so a typo fails before any radio starts.
public struct Scenario: Sendable {
    public var file: String
    public var name: String
    public var scene: SceneSpec
    public var vars: [String: String]
    public var tests: [TestCase]

    public struct DeviceDecl: Sendable {
        public var name: String
        public var mac: String?
        /// A scripted node spec (`echo`, `sensor,interval=100`).
        public var node: String?
        /// A firmware node executable (relative paths are relative to the file).
        public var app: String?
        public var channel: Int?
    }

    public struct SceneSpec: Sendable {
        public var dongles = 1
        public var channel: Int?
        public var seed: UInt64? = 1
        public var realtime = false
        public var devices: [DeviceDecl] = []
        /// Faults applied before the first step of every test.
        public var faults: [Step] = []
    }

    public struct TestCase: Sendable {
        public var name: String
        public var steps: [Step]
    }

    /// One step: its kind, its arguments as written (variables are substituted when it runs),
    /// and where it is, for messages.
    public struct Step: Sendable {
        public var kind: Kind
        public var args: Value
        public var label: String
        /// For `repeat`.
        public var steps: [Step] = []

        public enum Kind: String, Sendable, CaseIterable {
            case send, expect, expectNone = "expect_none", wait, `repeat`, fault, set, call
        }
    }

    /// YAML values kept as a Sendable tree.
    public indirect enum Value: Sendable, CustomStringConvertible {
        case string(String)
        case number(Double)
        case bool(Bool)
        case list([Value])
        case map([(String, Value)])
        case null

        init(_ any: Any?) {
            switch any {
            case let s as String: self = .string(s)
            case let b as Bool: self = .bool(b)
            case let i as Int: self = .number(Double(i))
            case let d as Double: self = .number(d)
            case let a as [Any]: self = .list(a.map { Value($0) })
            case let m as [String: Any]: self = .map(m.keys.sorted().map { ($0, Value(m[$0])) })
            case let m as [AnyHashable: Any]: self = .map(m.keys.map { "\($0)" }.sorted().map { k in (k, Value(m.first { "\($0.key)" == k }?.value)) })
            default: self = any == nil ? .null : .string("\(any!)")
            }
        }

        public subscript(_ key: String) -> Value? {
            if case .map(let m) = self { return m.first { $0.0 == key }?.1 }
            return nil
        }
        public var keys: [String] { if case .map(let m) = self { m.map(\.0) } else { [] } }
        public var text: String? {
            switch self {
            case .string(let s): s
            case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            case .bool(let b): String(b)
            default: nil
            }
        }
        public var description: String {
            switch self {
            case .list(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
            case .map(let m): "{" + m.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
            case .null: "null"
            default: text ?? ""
            }
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    /// Keys each step kind accepts (besides the kind's own key).
    static let stepKeys: [Step.Kind: Set<String>] = [
        .send: ["to", "from", "payload", "text", "hex", "json", "ack", "times"],
        .expect: ["from", "to", "dongle", "payload", "text", "hex", "hex_prefix", "regex", "json", "length", "fields",
                  "within", "count", "save"],
        .expectNone: ["from", "to", "dongle", "payload", "text", "hex", "hex_prefix", "regex", "json", "length", "fields", "within"],
        .wait: [],
        .repeat: ["times", "as", "steps"],
        .fault: ["loss", "device", "ber", "dongle", "reboot", "unplug", "replug", "loss_burst", "channel"],
        .set: ["channel", "dongle", "peer", "rate", "var", "value", "lmk", "encrypt"],
        .call: ["method", "dongle", "args", "save"],
    ]

    public static func load(_ path: String) throws -> Scenario {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ParseError("\(path): no such scenario file") }
        guard !isDir.boolValue else { throw ParseError("\(path): is a directory, not a scenario file") }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ParseError("\(path): cannot read the scenario file as UTF-8 text (\(error.localizedDescription))")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String = "scenario.yaml") throws -> Scenario {
        let root: Value
        do { root = Value(try Yams.load(yaml: text)) } catch {
            throw ParseError("\(file): not valid YAML: \(error)")
        }
        guard case .map = root else { throw ParseError("\(file): the top level must be a mapping (scene, vars, tests or steps)") }
        try known(root, ["name", "scene", "vars", "tests", "steps"], at: "\(file): top level")
        var s = Scenario(file: file, name: root["name"]?.text ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent,
                         scene: SceneSpec(), vars: [:], tests: [])
        if let v = root["vars"] {
            guard case .map(let m) = v else { throw ParseError("\(file): vars must be a mapping of names to values") }
            for (k, x) in m {
                guard let t = x.text else { throw ParseError("\(file): vars.\(k) must be a string or a number") }
                s.vars[k] = t
            }
        }
        if let sc = root["scene"] { s.scene = try scene(sc, file: file) }
        if let steps = root["steps"] {
            guard root["tests"] == nil else { throw ParseError("\(file): give either steps (one test) or tests, not both") }
            s.tests = [TestCase(name: s.name, steps: try parseSteps(steps, at: "\(file): test '\(s.name)'"))]
        } else if let t = root["tests"] {
            guard case .list(let items) = t, !items.isEmpty else { throw ParseError("\(file): tests must be a non-empty list") }
            for (i, item) in items.enumerated() {
                try known(item, ["name", "steps"], at: "\(file): test \(i + 1)")
                let name = item["name"]?.text ?? "test \(i + 1)"
                guard let st = item["steps"] else { throw ParseError("\(file): test '\(name)' has no steps") }
                s.tests.append(TestCase(name: name, steps: try parseSteps(st, at: "\(file): test '\(name)'")))
            }
        } else {
            throw ParseError("\(file): no tests (give tests: [...] or steps: [...])")
        }
        return s
    }

    static func known(_ v: Value, _ keys: Set<String>, at: String) throws {
        guard case .map = v else { throw ParseError("\(at): expected a mapping, got \(v)") }
        for k in v.keys where !keys.contains(k) {
            throw ParseError("\(at): unknown key '\(k)' (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    static func scene(_ v: Value, file: String) throws -> SceneSpec {
        try known(v, ["dongles", "channel", "seed", "realtime", "devices", "faults"], at: "\(file): scene")
        var s = SceneSpec()
        if let d = v["dongles"] {
            guard let n = d.text.flatMap(Int.init), (1...8).contains(n) else { throw ParseError("\(file): scene.dongles must be 1...8, got \(d)") }
            s.dongles = n
        }
        if let c = v["channel"] {
            guard let n = c.text.flatMap(Int.init), (1...14).contains(n) else { throw ParseError("\(file): scene.channel must be 1...14, got \(c)") }
            s.channel = n
        }
        if let c = v["seed"] {
            guard let n = c.text.flatMap(UInt64.init) else { throw ParseError("\(file): scene.seed must be a non-negative integer, got \(c)") }
            s.seed = n
        }
        if case .bool(let b)? = v["realtime"] { s.realtime = b }
        if let d = v["devices"] {
            guard case .list(let items) = d else { throw ParseError("\(file): scene.devices must be a list") }
            for (i, item) in items.enumerated() {
                let at = "\(file): scene.devices[\(i)]"
                try known(item, ["name", "mac", "node", "app", "channel"], at: at)
                guard let name = item["name"]?.text else { throw ParseError("\(at): a device needs a name") }
                if item["node"] != nil && item["app"] != nil { throw ParseError("\(at): give node (scripted) or app (firmware), not both") }
                var app = item["app"]?.text
                if let a = app, !a.hasPrefix("/"), !a.contains("${") {
                    app = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(a).path
                }
                s.devices.append(DeviceDecl(name: name, mac: item["mac"]?.text, node: item["node"]?.text, app: app,
                                            channel: item["channel"]?.text.flatMap(Int.init)))
            }
        }
        if let f = v["faults"] { s.faults = try parseSteps(.list(Self.list(f).map { .map([("fault", $0)]) }), at: "\(file): scene.faults") }
        return s
    }

    static func list(_ v: Value) -> [Value] { if case .list(let a) = v { a } else { [v] } }

    static func parseSteps(_ v: Value, at: String) throws -> [Step] {
        guard case .list(let items) = v else { throw ParseError("\(at): steps must be a list") }
        return try items.enumerated().map { i, item in
            let here = "\(at) step \(i + 1)"
            guard case .map(let m) = item else { throw ParseError("\(here): a step is a mapping such as {expect: {...}}, got \(item)") }
            let kinds = m.compactMap { Step.Kind(rawValue: $0.0) }
            guard kinds.count == 1, let kind = kinds.first else {
                throw ParseError("\(here): a step names exactly one of \(Step.Kind.allCases.map(\.rawValue).joined(separator: ", ")); got keys \(m.map(\.0).joined(separator: ", "))")
            }
            var args = item[kind.rawValue]!
            // Short forms: `wait: 0.5`, `send: hello` is not allowed (a destination is needed).
            if kind == .wait {
                guard args.text.flatMap(Double.init) != nil else { throw ParseError("\(here) (wait): give the seconds to wait, got \(args)") }
            } else {
                // Options may also sit beside the kind key: {expect: {...}, within: 2}.
                var merged: [(String, Value)] = []
                if case .map(let inner) = args { merged = inner } else if case .null = args {} else if kind != .fault {
                    throw ParseError("\(here) (\(kind.rawValue)): expected a mapping of options, got \(args)")
                }
                for (k, x) in m where k != kind.rawValue { merged.append((k, x)) }
                args = .map(merged)
                try known(args, stepKeys[kind]!, at: "\(here) (\(kind.rawValue))")
            }
            var step = Step(kind: kind, args: args, label: "\(here) (\(kind.rawValue))")
            if kind == .repeat {
                guard let t = args["times"]?.text, !t.isEmpty else { throw ParseError("\(here) (repeat): needs times") }
                guard let inner = args["steps"] else { throw ParseError("\(here) (repeat): needs steps") }
                step.steps = try parseSteps(inner, at: "\(here) (repeat)")
            }
            return step
        }
    }
}
