import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A JSON value with ordered object keys, so that `--json` lines read well and diff well.
enum JSON: Sendable {
    case string(String)
    case i64(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case object([(String, JSON)])
    case array([JSON])

    static func int<I: BinaryInteger>(_ v: I) -> JSON { .i64(Int64(clamping: v)) }

    var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    func write(into out: inout String) {
        switch self {
        case .string(let s): JSON.escape(s, into: &out)
        case .i64(let v): out += String(v)
        case .double(let v):
            if v.isFinite { out += String(format: "%.3f", v) } else { out += "null" }
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .object(let kv):
            out += "{"
            for (i, (k, v)) in kv.enumerated() {
                if i > 0 { out += "," }
                JSON.escape(k, into: &out)
                out += ":"
                v.write(into: &out)
            }
            out += "}"
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(into: &out)
            }
            out += "]"
        }
    }

    static func escape(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

/// Line output: every line goes out whole and at once (pipes see complete lines as they
/// happen, so `espnow listen | jq` streams).
enum Out {
    private static let lock = NIOLock()

    static func line(_ s: String) { write(fd: STDOUT_FILENO, s + "\n") }
    static func json(_ v: JSON) { line(v.text) }
    static func err(_ s: String) { write(fd: STDERR_FILENO, s + "\n") }

    /// Progress text on a terminal: rewrites the current line of stderr.
    static func status(_ s: String) { write(fd: STDERR_FILENO, "\r\u{1B}[2K" + s) }
    static func clearStatus() { write(fd: STDERR_FILENO, "\r\u{1B}[2K") }

    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    static func write(fd: Int32, _ s: String) {
        lock.withLock {
            var bytes = Array(s.utf8)
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeMutableBytes { raw in
                    Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    return  // EPIPE etc.: the reader went away; nothing useful to do
                }
                off += n
            }
            bytes.removeAll()
        }
    }
}

/// Column alignment for human output.
func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let n = s.count
    guard n < width else { return s }
    let fill = String(repeating: " ", count: width - n)
    return right ? fill + s : s + fill
}

/// Renders rows as aligned columns (the first row is usually a header).
func table(_ rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
    guard let cols = rows.map(\.count).max() else { return [] }
    var widths = [Int](repeating: 0, count: cols)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    return rows.map { r in
        r.enumerated().map { i, c in i == r.count - 1 && !rightAligned.contains(i) ? c : pad(c, widths[i], right: rightAligned.contains(i)) }
            .joined(separator: "  ")
    }
}

enum Fmt {
    static func hex(_ b: some Sequence<UInt8>, separator: String = "") -> String {
        b.map { String(format: "%02x", $0) }.joined(separator: separator)
    }

    /// `12:34:56.789`, local time.
    static func clock(_ d: Date = Date()) -> String {
        let secs = time_t(d.timeIntervalSince1970)
        var tmv = tm()
        var s = secs
        localtime_r(&s, &tmv)
        let ms = Int((d.timeIntervalSince1970 - Double(secs)) * 1000)
        return String(format: "%02d:%02d:%02d.%03d", tmv.tm_hour, tmv.tm_min, tmv.tm_sec, max(0, min(999, ms)))
    }

    static func ms(_ seconds: Double) -> String { String(format: "%.3f ms", seconds * 1000) }

    /// The payload for humans: quoted text when it is printable UTF-8, else hex.
    static func payload(_ b: [UInt8], limit: Int = 64) -> String {
        if let s = printableText(b) {
            let shown = s.count > limit ? String(s.prefix(limit)) + "…" : s
            return "\"" + shown + "\""
        }
        let shown = b.count > limit / 2 ? Array(b.prefix(limit / 2)) : b
        return hex(shown, separator: " ") + (shown.count < b.count ? " …" : "")
    }

    /// Valid UTF-8 without control characters (other than tab), or nil.
    static func printableText(_ b: [UInt8]) -> String? {
        guard !b.isEmpty, let s = String(validating: b, as: UTF8.self) else { return nil }
        for u in s.unicodeScalars where (u.value < 0x20 && u != "\t") || u.value == 0x7F { return nil }
        return s
    }
}
