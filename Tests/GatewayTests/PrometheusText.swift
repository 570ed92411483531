import Foundation

/// A strict reader of the Prometheus text exposition format (version 0.0.4) for the tests:
/// every line is a comment, `# HELP`, `# TYPE`, or a sample with valid metric and label
/// names, quoted label values and a float value; histograms have cumulative buckets ending
/// in `le="+Inf"` equal to `_count`.
struct PrometheusText {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]

    init(_ text: String) throws {
        let nameChars = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")
        func validName(_ s: Substring, label: Bool = false) -> Bool {
            guard let f = s.first, !f.isNumber else { return false }
            return s.allSatisfy { nameChars.contains($0) && !(label && $0 == ":") }
        }
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let where_ = "line \(n + 1) \"\(line)\""
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3)
                if parts.count >= 3, parts[1] == "TYPE" {
                    guard validName(parts[2]), parts.count == 4,
                          ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else { throw Invalid(description: "bad TYPE at \(where_)") }
                    guard types[String(parts[2])] == nil else { throw Invalid(description: "second TYPE for \(parts[2]) at \(where_)") }
                    types[String(parts[2])] = String(parts[3])
                } else if parts.count >= 3, parts[1] == "HELP" {
                    guard validName(parts[2]) else { throw Invalid(description: "bad HELP at \(where_)") }
                }
                continue
            }
            var i = line.startIndex
            while i < line.endIndex, line[i] != "{", line[i] != " " { i = line.index(after: i) }
            let name = line[line.startIndex..<i]
            guard validName(name) else { throw Invalid(description: "bad metric name at \(where_)") }
            var labels: [String: String] = [:]
            if i < line.endIndex, line[i] == "{" {
                i = line.index(after: i)
                while true {
                    guard i < line.endIndex else { throw Invalid(description: "unterminated labels at \(where_)") }
                    if line[i] == "}" { i = line.index(after: i); break }
                    let ks = i
                    while i < line.endIndex, line[i] != "=" { i = line.index(after: i) }
                    let key = line[ks..<i]
                    guard validName(key, label: true), i < line.endIndex else { throw Invalid(description: "bad label name at \(where_)") }
                    i = line.index(after: i)
                    guard i < line.endIndex, line[i] == "\"" else { throw Invalid(description: "unquoted label value at \(where_)") }
                    i = line.index(after: i)
                    var value = ""
                    while true {
                        guard i < line.endIndex else { throw Invalid(description: "unterminated label value at \(where_)") }
                        let c = line[i]
                        if c == "\"" { i = line.index(after: i); break }
                        if c == "\\" {
                            i = line.index(after: i)
                            guard i < line.endIndex else { throw Invalid(description: "bad escape at \(where_)") }
                            switch line[i] {
                            case "\\": value.append("\\")
                            case "\"": value.append("\"")
                            case "n": value.append("\n")
                            default: throw Invalid(description: "bad escape at \(where_)")
                            }
                        } else {
                            value.append(c)
                        }
                        i = line.index(after: i)
                    }
                    guard labels[String(key)] == nil else { throw Invalid(description: "repeated label at \(where_)") }
                    labels[String(key)] = value
                    if i < line.endIndex, line[i] == "," { i = line.index(after: i) }
                }
            }
            guard i < line.endIndex, line[i] == " " else { throw Invalid(description: "no value at \(where_)") }
            let rest = line[line.index(after: i)...].split(separator: " ")
            guard (1...2).contains(rest.count) else { throw Invalid(description: "bad value at \(where_)") }
            let v: Double
            switch rest[0] {
            case "+Inf": v = .infinity
            case "-Inf": v = -.infinity
            case "NaN": v = .nan
            default:
                guard let d = Double(rest[0]) else { throw Invalid(description: "bad value at \(where_)") }
                v = d
            }
            if rest.count == 2, Int64(rest[1]) == nil { throw Invalid(description: "bad timestamp at \(where_)") }
            samples.append(Sample(name: String(name), labels: labels, value: v))
        }
        try checkHistograms()
    }

    private func checkHistograms() throws {
        for (family, type) in types where type == "histogram" {
            // Series of the family by their labels without `le`.
            var buckets: [[String: String]: [(Double, Double)]] = [:]
            for s in samples where s.name == family + "_bucket" {
                guard let le = s.labels["le"], let bound = le == "+Inf" ? .infinity : Double(le) else {
                    throw Invalid(description: "\(family) bucket without a numeric le")
                }
                var key = s.labels
                key["le"] = nil
                buckets[key, default: []].append((bound, s.value))
            }
            for (key, list) in buckets {
                let sorted = list.sorted { $0.0 < $1.0 }
                for (a, b) in zip(sorted, sorted.dropFirst()) where b.1 < a.1 {
                    throw Invalid(description: "\(family)\(key): buckets not cumulative")
                }
                guard sorted.last?.0 == .infinity else { throw Invalid(description: "\(family)\(key): no +Inf bucket") }
                guard let count = value(family + "_count", key), count == sorted.last!.1 else {
                    throw Invalid(description: "\(family)\(key): _count differs from the +Inf bucket")
                }
                guard value(family + "_sum", key) != nil else { throw Invalid(description: "\(family)\(key): no _sum") }
            }
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The sum over every series of `name` whose labels include `matching`.
    func total(_ name: String, _ matching: [String: String] = [:]) -> Double {
        samples.filter { s in s.name == name && matching.allSatisfy { s.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }
}
