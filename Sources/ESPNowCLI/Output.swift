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

    static func line(_ s: String) {
        if humanToStderr.withLockedValue({ $0 }) { return write(fd: STDERR_FILENO, s + "\n") }
        if isStdoutClosed { return }
        write(fd: STDOUT_FILENO, s + "\n")
    }

    /// stdout carries binary data (`listen --pcap -`): lines go to stderr.
    static let humanToStderr = NIOLockedValueBox(false)

    /// Raw bytes to stdout, whole; false once its reader is gone.
    static func writeStdout(_ b: [UInt8]) -> Bool {
        if isStdoutClosed { return false }
        return lock.withLock {
            var off = 0
            while off < b.count {
                let n = b.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress! + off, b.count - off) }
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                off += n
            }
            return true
        }
    }
    static func json(_ v: JSON) { line(v.text) }
    static func err(_ s: String) { write(fd: STDERR_FILENO, s + "\n") }

    /// Progress text on a terminal: rewrites the current line of stderr.
    static func status(_ s: String) { write(fd: STDERR_FILENO, "\r\u{1B}[2K" + s) }
    static func clearStatus() { write(fd: STDERR_FILENO, "\r\u{1B}[2K") }

    private static let stdoutClosed = NIOLockedValueBox(false)

    /// stdout's reader is gone: later lines are dropped, and the running loop ends as on
    /// Ctrl-C (outside a loop the command ends at once, exit 0).
    static func stdoutGone() {
        let first = stdoutClosed.withLockedValue { c -> Bool in
            defer { c = true }
            return !c
        }
        guard first else { return }
        Interrupt.stopQuietly()
    }

    static var isStdoutClosed: Bool { stdoutClosed.withLockedValue { $0 } }

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
                    // The reader went away (`espnow listen | head -1`): end the way
                    // tcpdump does, quietly, after the running loop has cleaned up.
                    if errno == EPIPE && fd == STDOUT_FILENO { stdoutGone() }
                    return
                }
                off += n
            }
            bytes.removeAll()
        }
    }
}

/// ANSI colour for humans: only on a terminal, never with NO_COLOR set (no-color.org) or
/// TERM=dumb. Colour goes around text that is also readable without it.
enum Style {
    static let stdoutOn = enabled(fd: STDOUT_FILENO)
    static let stderrOn = enabled(fd: STDERR_FILENO)

    static func enabled(fd: Int32) -> Bool {
        let env = ProcessInfo.processInfo.environment
        if let n = env["NO_COLOR"], !n.isEmpty { return false }
        if env["TERM"] == "dumb" { return false }
        return isatty(fd) == 1
    }

    private static func wrap(_ code: String, _ s: String, _ on: Bool) -> String { on ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    /// stdout
    static func dim(_ s: String) -> String { wrap("2", s, stdoutOn && !Out.humanToStderr.withLockedValue { $0 }) }
    static func cyan(_ s: String) -> String { wrap("36", s, stdoutOn && !Out.humanToStderr.withLockedValue { $0 }) }
    /// stderr
    static func red(_ s: String) -> String { wrap("31", s, stderrOn) }
    static func yellow(_ s: String) -> String { wrap("33", s, stderrOn) }
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
    /// ESP-IDF's `esp_reset_reason_t` name for a HELLO's reset reason.
    static func resetReason(_ r: some BinaryInteger) -> String {
        let names = ["ESP_RST_UNKNOWN", "ESP_RST_POWERON", "ESP_RST_EXT", "ESP_RST_SW", "ESP_RST_PANIC", "ESP_RST_INT_WDT",
                     "ESP_RST_TASK_WDT", "ESP_RST_WDT", "ESP_RST_DEEPSLEEP", "ESP_RST_BROWNOUT", "ESP_RST_SDIO", "ESP_RST_USB",
                     "ESP_RST_JTAG", "ESP_RST_EFUSE", "ESP_RST_PWR_GLITCH", "ESP_RST_CPU_LOCKUP"]
        let i = Int(r)
        return i >= 0 && i < names.count ? names[i] : "reset reason \(i)"
    }

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

    /// ISO-8601 UTC with `digits` fractional digits: `2026-11-30T13:04:56.123456Z`.
    static func iso(_ d: Date, digits: Int = 6) -> String {
        let us = Int64((d.timeIntervalSince1970 * 1e6).rounded(.down))
        var secs = time_t(us / 1_000_000)
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        let frac = String(format: "%06lld", us % 1_000_000).prefix(digits)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday,
                      tmv.tm_hour, tmv.tm_min, tmv.tm_sec) + (digits > 0 ? ".\(frac)" : "") + "Z"
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
