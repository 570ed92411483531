import ESPNow
import ESPNowWire
import Foundation

/// A payload condition of an expect step, built from its options (Sendable for the bed's matcher).
struct PayloadCondition: Sendable {
    enum Field: Sendable { case u8, u16le, u32le, i8, i16le, i32le }
    struct FieldCheck: Sendable {
        var name: String
        var offset: Int
        var type: Field
        var equals: Int64?
        var min: Int64?
        var max: Int64?
    }
    var text: String?
    var hex: [UInt8]?
    var hexPrefix: [UInt8]?
    var regex: String?
    /// JSON path (`a.b[0]`) → expected value as text (nil: must exist).
    var json: [(path: String, equals: String?)] = []
    var length: Int?
    var fields: [FieldCheck] = []
    var what: String = "any payload"

    func matches(_ p: [UInt8]) -> Bool {
        if let t = text, p != Array(t.utf8) { return false }
        if let h = hex, p != h { return false }
        if let h = hexPrefix, !p.starts(with: h) { return false }
        if let n = length, p.count != n { return false }
        if let r = regex {
            let s = String(decoding: p, as: UTF8.self)
            guard let re = try? NSRegularExpression(pattern: r),
                  re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil else { return false }
        }
        if !json.isEmpty {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(p), options: [.fragmentsAllowed]) else { return false }
            for (path, eq) in json {
                guard let v = Self.lookup(obj, path) else { return false }
                if let e = eq, Self.jsonText(v) != e { return false }
            }
        }
        for f in fields {
            guard let v = Self.read(p, f.offset, f.type) else { return false }
            if let e = f.equals, v != e { return false }
            if let m = f.min, v < m { return false }
            if let m = f.max, v > m { return false }
        }
        return true
    }

    static func read(_ p: [UInt8], _ off: Int, _ t: Field) -> Int64? {
        let n = switch t { case .u8, .i8: 1; case .u16le, .i16le: 2; case .u32le, .i32le: 4 }
        guard off >= 0, off + n <= p.count else { return nil }
        var u: UInt64 = 0
        for i in 0..<n { u |= UInt64(p[off + i]) << (8 * i) }
        switch t {
        case .i8: return Int64(Int8(truncatingIfNeeded: u))
        case .i16le: return Int64(Int16(truncatingIfNeeded: u))
        case .i32le: return Int64(Int32(truncatingIfNeeded: u))
        default: return Int64(u)
        }
    }

    /// `a.b[2].c` (a leading `$.` is allowed).
    static func lookup(_ obj: Any, _ path: String) -> Any? {
        var cur: Any? = obj
        var p = Substring(path)
        if p.hasPrefix("$") { p = p.dropFirst() }
        for part in p.split(separator: ".", omittingEmptySubsequences: true) {
            var name = part
            var idx: [Int] = []
            while let o = name.lastIndex(of: "["), name.hasSuffix("]"), let i = Int(name[name.index(after: o)..<name.index(before: name.endIndex)]) {
                idx.insert(i, at: 0)
                name = name[..<o]
            }
            if !name.isEmpty { cur = (cur as? [String: Any])?[String(name)] }
            for i in idx {
                guard let a = cur as? [Any], a.indices.contains(i) else { return nil }
                cur = a[i]
            }
            if cur == nil { return nil }
        }
        return cur
    }

    static func jsonText(_ v: Any) -> String {
        if let n = v as? NSNumber {
            if String(cString: n.objCType) == "c" { return n.boolValue ? "true" : "false" }  // how JSON booleans come back
            let d = n.doubleValue
            return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        }
        if let s = v as? String { return s }
        if v is NSNull { return "null" }
        return "\(v)"
    }
}

func parseHexBytes(_ s: String) -> [UInt8]? {
    let clean = s.filter { !$0.isWhitespace && $0 != ":" && $0 != "-" }
    guard clean.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    var i = clean.startIndex
    while i < clean.endIndex {
        let j = clean.index(i, offsetBy: 2)
        guard let b = UInt8(clean[i..<j], radix: 16) else { return nil }
        out.append(b)
        i = j
    }
    return out
}

/// The state of one running test case: variables and the bed.
struct Context {
    var vars: [String: String]
    var within: Double
    var bed: Testbed?
    /// Consecutive sends are one group: a reply to the first may arrive before the second
    /// goes out, so only the first send of a group starts the expects' window.
    var previousStepWasSend = false

    init(vars: [String: String], within: Double) {
        self.vars = vars
        self.within = within
    }

    /// `${NAME}`: a variable, else an environment variable; an unknown name is an error.
    func sub(_ s: String) throws -> String {
        var out = ""
        var rest = Substring(s)
        while let r = rest.range(of: "${") {
            out += rest[..<r.lowerBound]
            guard let end = rest[r.upperBound...].firstIndex(of: "}") else { throw StepFailure("unterminated ${ in '\(s)'") }
            var name = String(rest[r.upperBound..<end])
            // `${name+N}` / `${name-N}`: integer arithmetic on an integer variable.
            var offset = 0
            if let op = name.lastIndex(where: { $0 == "+" || $0 == "-" }), op != name.startIndex,
               let n = Int(name[name.index(after: op)...]) {
                offset = name[op] == "+" ? n : -n
                name = String(name[..<op])
            }
            guard let v = vars[name] ?? ProcessInfo.processInfo.environment[name] else {
                throw StepFailure("unknown variable ${\(name)} (define it under vars:, with --var \(name)=..., or in the environment)")
            }
            if offset != 0 {
                guard let i = Int(v) else { throw StepFailure("${\(name)} is '\(v)', not an integer, in '\(s)'") }
                out += String(i + offset)
            } else {
                out += v
            }
            rest = rest[rest.index(after: end)...]
        }
        return out + rest
    }

    func str(_ v: Scenario.Value?, _ what: String) throws -> String? {
        guard let v else { return nil }
        guard let t = v.text else { throw StepFailure("\(what) must be a string or number, got \(v)") }
        return try sub(t)
    }

    func num(_ v: Scenario.Value?, _ what: String) throws -> Double? {
        guard let t = try str(v, what) else { return nil }
        guard let d = Double(t) else { throw StepFailure("\(what) must be a number, got '\(t)'") }
        return d
    }

    func int(_ v: Scenario.Value?, _ what: String) throws -> Int? {
        guard let d = try num(v, what) else { return nil }
        guard d == d.rounded() else { throw StepFailure("\(what) must be an integer, got \(d)") }
        return Int(d)
    }

    /// `broadcast`, a device name, `dongleN` or a MAC.
    func address(_ name: String) throws -> MACAddress {
        let bed = self.bed!
        if name == "broadcast" { return .broadcast }
        if let d = bed.devices.first(where: { $0.name == name }) { return d.mac }
        if name.hasPrefix("dongle"), let i = Int(name.dropFirst(6)), bed.dongles.indices.contains(i) { return bed.dongles[i].mac }
        if let m = MACAddress(name) { return m }
        throw StepFailure("'\(name)' is not a device of the scene (\(bed.devices.map(\.name).joined(separator: ", "))), dongleN, broadcast or a MAC")
    }

    func dongleIndex(_ v: Scenario.Value?) throws -> Int {
        guard let t = try str(v, "dongle") else { return 0 }
        let n = t.hasPrefix("dongle") ? String(t.dropFirst(6)) : t
        guard let i = Int(n), bed!.dongles.indices.contains(i) else {
            throw StepFailure("dongle '\(t)' does not exist (the bed has \(bed!.dongles.count): 0...\(bed!.dongles.count - 1))")
        }
        return i
    }

    func payload(_ a: Scenario.Value) throws -> [UInt8] {
        if let t = try str(a["payload"] ?? a["text"], "payload") { return Array(t.utf8) }
        if let h = try str(a["hex"], "hex") {
            guard let b = parseHexBytes(h) else { throw StepFailure("hex '\(h)' is not an even number of hex digits") }
            return b
        }
        if let j = a["json"] { return Array(try sub(Self.json(j)).utf8) }
        throw StepFailure("no payload (give payload/text, hex or json)")
    }

    static func json(_ v: Scenario.Value) -> String {
        switch v {
        case .string(let s): let d = try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed]); return d.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        case .number, .bool: return v.text!
        case .null: return "null"
        case .list(let a): return "[" + a.map(json).joined(separator: ",") + "]"
        case .map(let m): return "{" + m.map { "\(json(.string($0.0))):\(json($0.1))" }.joined(separator: ",") + "}"
        }
    }

    func condition(_ a: Scenario.Value) throws -> PayloadCondition {
        var c = PayloadCondition()
        var what: [String] = []
        if let t = try str(a["payload"] ?? a["text"], "text") { c.text = t; what.append("text \"\(t)\"") }
        if let h = try str(a["hex"], "hex") {
            guard let b = parseHexBytes(h) else { throw StepFailure("hex '\(h)' is not an even number of hex digits") }
            c.hex = b
            what.append("hex \(h)")
        }
        if let h = try str(a["hex_prefix"], "hex_prefix") {
            guard let b = parseHexBytes(h) else { throw StepFailure("hex_prefix '\(h)' is not an even number of hex digits") }
            c.hexPrefix = b
            what.append("hex prefix \(h)")
        }
        if let r = try str(a["regex"], "regex") {
            guard (try? NSRegularExpression(pattern: r)) != nil else { throw StepFailure("regex '\(r)' does not compile") }
            c.regex = r
            what.append("text matching /\(r)/")
        }
        if let n = try int(a["length"], "length") { c.length = n; what.append("length \(n)") }
        if let j = a["json"] {
            guard case .map(let m) = j else { throw StepFailure("json must map JSON paths to values, e.g. {temp: 21, \"$.a.b[0]\": x}") }
            for (path, v) in m {
                let e: String? = if case .null = v { nil } else { try str(v, "json value") }
                c.json.append((path, e))
                what.append("JSON \(path) = \(e ?? "(present)")")
            }
        }
        if let f = a["fields"] {
            guard case .map(let m) = f else { throw StepFailure("fields must map names to {offset, type, equals|min|max}") }
            for (name, spec) in m {
                guard let off = try int(spec["offset"], "fields.\(name).offset") else { throw StepFailure("fields.\(name) needs an offset") }
                let ts = try str(spec["type"], "type") ?? "u8"
                let t: PayloadCondition.Field
                switch ts {
                case "u8": t = .u8
                case "i8": t = .i8
                case "u16", "u16le": t = .u16le
                case "i16", "i16le": t = .i16le
                case "u32", "u32le": t = .u32le
                case "i32", "i32le": t = .i32le
                default: throw StepFailure("fields.\(name).type '\(ts)' is not one of u8, i8, u16le, i16le, u32le, i32le")
                }
                let fc = PayloadCondition.FieldCheck(name: name, offset: off, type: t,
                                                     equals: try int(spec["equals"], "equals").map(Int64.init),
                                                     min: try int(spec["min"], "min").map(Int64.init),
                                                     max: try int(spec["max"], "max").map(Int64.init))
                c.fields.append(fc)
                var d = "\(name)@\(off):\(ts)"
                if let e = fc.equals { d += " = \(e)" }
                if let m = fc.min { d += " >= \(m)" }
                if let m = fc.max { d += " <= \(m)" }
                what.append(d)
            }
        }
        if !what.isEmpty { c.what = what.joined(separator: ", ") }
        return c
    }

    func match(_ a: Scenario.Value) throws -> PacketMatch {
        let cond = try condition(a)
        let from = try str(a["from"], "from").map(address)
        let to = try str(a["to"], "to").map(address)
        let dongle = try a["dongle"].map { _ in try dongleIndex(a["dongle"]) }
        return PacketMatch(from: from, to: to, what: cond.what) { p in
            (dongle == nil || p.dongle == dongle) && cond.matches(p.payload)
        }
    }

    // MARK: Running

    mutating func run(_ step: Scenario.Step) async throws {
        defer { previousStepWasSend = step.kind == .send }
        do {
            try await execute(step)
        } catch let f as StepFailure where f.step == nil {
            throw StepFailure(f.message, step: step.label)
        } catch let e as TestbedError {
            throw StepFailure(e.description, step: step.label)
        } catch let f as StepFailure {
            throw f
        } catch {
            throw StepFailure("\(error)", step: step.label)
        }
    }

    private mutating func execute(_ step: Scenario.Step) async throws {
        let bed = self.bed!
        let a = step.args
        switch step.kind {
        case .send:
            guard let toName = try str(a["to"], "to") else { throw StepFailure("send needs to: (a device, dongleN, broadcast or a MAC)") }
            let to = try address(toName)
            let d = try dongleIndex(a["from"])
            let times = try int(a["times"], "times") ?? 1
            let wantAck: Bool = if case .bool(let b)? = a["ack"] { b } else { false }
            // What a later expect looks at starts here: replies to this send (and to the sends
            // right after it), not earlier traffic.
            if !previousStepWasSend { bed.ignoreEarlierPackets() }
            for _ in 0..<max(times, 1) {
                let acked = try await bed.send(try payload(a), to: to, from: d)
                if wantAck && !acked {
                    throw StepFailure("expected \(toName) to acknowledge the frame from dongle\(d); it was not acknowledged")
                }
            }
        case .expect:
            let m = try match(a)
            let within = Duration.seconds(try num(a["within"], "within") ?? self.within)
            let count = try int(a["count"], "count") ?? 1
            let got = count == 1 ? [try await bed.expectPacket(m, within: within)] : try await bed.expectPackets(count, m, within: within)
            // The next expect looks after this one's packet: steps read in order, like the air.
            bed.advanceMark(to: got.last!.index + 1)
            if let name = try str(a["save"], "save"), let p = got.last {
                vars[name] = p.payload.map { String(format: "%02x", $0) }.joined()
                vars["\(name).text"] = String(decoding: p.payload, as: UTF8.self)
                vars["\(name).from"] = p.from.description
                for f in try condition(a).fields {
                    if let v = PayloadCondition.read(p.payload, f.offset, f.type) { vars["\(name).\(f.name)"] = String(v) }
                }
            }
        case .expectNone:
            let m = try match(a)
            guard let w = try num(a["within"], "within") else { throw StepFailure("expect_none needs within: (seconds to listen)") }
            try await bed.expectNoPacket(m, within: .seconds(w))
        case .wait:
            let s = try num(a, "wait")!
            try await Task.sleep(for: .seconds(s))
        case .repeat:
            let n = try int(a["times"], "times") ?? 0
            let v = try str(a["as"], "as") ?? "i"
            for i in 0..<n {
                vars[v] = String(i)
                for s in step.steps { try await run(s) }
            }
        case .fault:
            try await fault(a)
        case .set:
            try await set(a)
        case .call:
            try await call(a)
        }
    }

    private func fault(_ a: Scenario.Value) async throws {
        let bed = self.bed!
        if let p = try num(a["loss"], "loss") {
            let dut = try str(a["device"], "device").map { try bed.device($0) }
            try await bed.inject(.loss(dut, p))
        } else if let p = try num(a["ber"], "ber") {
            try await bed.inject(.bitErrors(dongle: try dongleIndex(a["dongle"]), p))
        } else if let s = try num(a["loss_burst"], "loss_burst") {
            try await bed.inject(.lossBurst(.milliseconds(Int(s * 1000))))
        } else if let who = try str(a["reboot"], "reboot") {
            if let dut = bed.devices.first(where: { $0.name == who }) {
                try await bed.inject(.rebootDevice(dut))
            } else {
                try await bed.inject(.rebootDongle(try dongleIndex(.string(who))))
            }
        } else if let who = try str(a["unplug"], "unplug") {
            try await bed.inject(.unplugDongle(try dongleIndex(.string(who))))
        } else if let who = try str(a["replug"], "replug") {
            try await bed.inject(.replugDongle(try dongleIndex(.string(who))))
        } else if let c = try int(a["channel"], "channel") {
            try await bed.inject(.channel(dongle: try dongleIndex(a["dongle"]), c))
        } else {
            throw StepFailure("fault needs one of loss, ber, loss_burst, reboot, unplug, replug, channel")
        }
    }

    private mutating func set(_ a: Scenario.Value) async throws {
        let bed = self.bed!
        let d = try dongleIndex(a["dongle"])
        let e = bed.dongles[d].espnow
        if let name = try str(a["var"], "var") {
            guard let v = try str(a["value"], "value") else { throw StepFailure("set var needs value") }
            vars[name] = v
        }
        if let c = try int(a["channel"], "channel") { try await WLAN(.sta, e).config(channel: c) }
        if let r = try int(a["rate"], "rate") { try await e.config(rate: r) }
        if let p = try str(a["peer"], "peer") {
            let mac = try address(p)
            let lmk = try str(a["lmk"], "lmk").map { k -> [UInt8] in
                guard let b = parseHexBytes(k), b.count == 16 else { throw StepFailure("lmk must be 16 bytes of hex") }
                return b
            }
            let enc: Bool? = if case .bool(let b)? = a["encrypt"] { b } else { nil }
            try await e.addPeer(mac.bytes, lmk: lmk, encrypt: enc)
        }
    }

    private mutating func call(_ a: Scenario.Value) async throws {
        let bed = self.bed!
        let e = bed.dongles[try dongleIndex(a["dongle"])].espnow
        guard let method = try str(a["method"], "method") else { throw StepFailure("call needs method:") }
        let args = a["args"] ?? .map([])
        let result: String
        switch method {
        case "stats":
            let s = try await e.stats()
            result = "\(s.0),\(s.1),\(s.2),\(s.3),\(s.4)"
        case "get_peers":
            result = String(try await e.getPeers().count)
        case "mac":
            let m: [UInt8] = try await WLAN(.sta, e).config("mac")
            result = MACAddress(bytes: m)?.description ?? ""
        case "channel":
            let c: Int = try await WLAN(.sta, e).config("channel")
            result = String(c)
        case "config":
            try await e.config(rxbuf: try int(args["rxbuf"], "rxbuf"), timeoutMs: try int(args["timeout_ms"], "timeout_ms"),
                               rate: try int(args["rate"], "rate"))
            result = ""
        case "del_peer":
            guard let p = try str(args["peer"], "peer") else { throw StepFailure("del_peer needs args: {peer: ...}") }
            try await e.delPeer(try address(p).bytes)
            result = ""
        case "reset":
            result = String(try await e.device.hardReset())
        default:
            throw StepFailure("unknown method '\(method)' (stats, get_peers, mac, channel, config, del_peer, reset)")
        }
        if let name = try str(a["save"], "save") { vars[name] = result }
    }
}
