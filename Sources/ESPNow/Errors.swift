@_exported import ESPNowDevice
@_exported import ESPNowWire

/// MicroPython's `OSError(errnum, errstring)` for an `esp_err_t`: `errstring` is the
/// ESP-IDF name (`"ESP_ERR_ESPNOW_NOT_FOUND"`) and `errnum` is the number MicroPython's
/// ESP32 port puts in `args[0]`: the negated code (`-12393`), except `ESP_ERR_NO_MEM` →
/// `ENOMEM` (12), `ESP_ERR_TIMEOUT` → `ETIMEDOUT` (110) and `ESP_ERR_NOT_SUPPORTED` →
/// `EOPNOTSUPP` (95). Raised for codes the dongle returned and for the checks MicroPython
/// leaves to ESP-IDF that this library makes before the wire (then `detail` says what
/// was wrong; it is not part of `args`).
public struct OSError: Error, Sendable, Hashable, CustomStringConvertible {
    public let errnum: Int32
    public let errstring: String
    /// The `esp_err_t` behind it, if any.
    public let code: ESPError?
    /// What was wrong, for errors raised before the wire.
    public let detail: String?
    /// `err.args`: `(errnum, errstring)`.
    public var args: (Int32, String) { (errnum, errstring) }

    public init(errnum: Int32, errstring: String) {
        self.errnum = errnum
        self.errstring = errstring
        code = nil
        detail = nil
    }

    /// The OSError MicroPython raises for `e`.
    public init(_ e: ESPError, detail: String? = nil) {
        errnum = Self.micropythonErrnum(e)
        errstring = e.name ?? e.description
        code = e
        self.detail = detail
    }

    /// `check_esp_err`'s mapping of an `esp_err_t` to `args[0]`.
    public static func micropythonErrnum(_ e: ESPError) -> Int32 {
        switch e.rawValue {
        case 0x101: 12    // ESP_ERR_NO_MEM → ENOMEM
        case 0x107: 110   // ESP_ERR_TIMEOUT → ETIMEDOUT
        case 0x106: 95    // ESP_ERR_NOT_SUPPORTED → EOPNOTSUPP
        default: 0 &- e.rawValue
        }
    }

    public var description: String {
        let base = "OSError(\(errnum), '\(errstring)')"
        return detail.map { "\(base): \($0)" } ?? base
    }
}

/// MicroPython's `ValueError`: raised, before anything touches the wire, exactly where
/// MicroPython raises it (a MAC or key of the wrong length, an unknown config parameter,
/// an invalid handler or interface identifier, a message too big for `recvinto`'s buffer)
/// and for the few limits of the bridge MicroPython does not have (see docs/API.md).
public struct ValueError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "ValueError: \(message)" }
}

/// Runs a device call, turning `esp_err_t` failures into ``OSError``.
@inline(__always)
func espCall<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let e as ESPNowError {
        if let esp = e.espError { throw OSError(esp) }
        if case .invalidArgument(let m) = e { throw ValueError(m) }
        throw e
    }
}

/// Validation shared by ESPNow and WLAN.
enum Check {
    static func mac(_ m: [UInt8], _ what: String = "mac") throws -> MACAddress {
        guard let a = MACAddress(bytes: m) else { throw ValueError("\(what) must be 6 bytes, got \(m.count)") }
        return a
    }
    static func key(_ k: [UInt8], _ what: String) throws {
        guard k.count == ESPNow.KEY_LEN else { throw ValueError("\(what) must be \(ESPNow.KEY_LEN) bytes, got \(k.count)") }
    }
    /// An argument ESP-IDF itself rejects with `ESP_ERR_ESPNOW_ARG` (so MicroPython raises
    /// OSError), caught here before the wire.
    static func espnowArg(_ ok: Bool, _ detail: @autoclosure () -> String) throws {
        guard ok else { throw OSError(.espnowArg, detail: detail()) }
    }
    /// A peer's channel: 0 (the interface's) or 1...14.
    static func peerChannel(_ c: Int) throws -> UInt8 {
        try espnowArg((0...14).contains(c), "channel must be 0...14, got \(c)")
        return UInt8(c)
    }
    static func ifidx(_ i: Int) throws -> WiFiInterface {
        guard let v = UInt8(exactly: i), let w = WiFiInterface(rawValue: v) else {
            throw OSError(.espnowArg, detail: "ifidx must be STA_IF (0) or AP_IF (1), got \(i)")
        }
        return w
    }
    /// A Wi-Fi channel for `esp_wifi_set_channel` / the AP: 1...14.
    static func wifiChannel(_ c: Int) throws -> UInt8 {
        guard (1...14).contains(c) else { throw ValueError("channel must be 1...14, got \(c)") }
        return UInt8(c)
    }
    /// Broadcast and multicast addresses have the group bit (bit 0 of byte 0) set.
    static func isGroup(_ m: MACAddress) -> Bool { m[0] & 1 != 0 }
}
