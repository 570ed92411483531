@_exported import ESPNowDevice
@_exported import ESPNowWire

/// The seed's `OSError(errnum, errstring)`: an `esp_err_t` from the dongle and its ESP-IDF
/// name, e.g. `OSError(12393, "ESP_ERR_ESPNOW_NOT_FOUND")`.
public struct OSError: Error, Sendable, Hashable, CustomStringConvertible {
    public let errnum: Int32
    public let errstring: String
    /// `err.args` of the seed: `(errnum, errstring)`.
    public var args: (Int32, String) { (errnum, errstring) }

    public init(errnum: Int32, errstring: String) {
        self.errnum = errnum
        self.errstring = errstring
    }

    init(_ e: ESPError) {
        errnum = e.rawValue
        errstring = e.name ?? e.description
    }

    public var description: String { "OSError(\(errnum), '\(errstring)')" }
}

/// The seed's `ValueError`: an argument rejected before anything touched the wire.
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
    static func channel(_ c: Int) throws -> UInt8 {
        guard (0...14).contains(c) else { throw ValueError("channel must be 0...14, got \(c)") }
        return UInt8(c)
    }
    static func ifidx(_ i: Int) throws -> WiFiInterface {
        guard let v = UInt8(exactly: i), let w = WiFiInterface(rawValue: v) else {
            throw ValueError("ifidx must be STA_IF (0) or AP_IF (1), got \(i)")
        }
        return w
    }
    /// Broadcast and multicast addresses have the group bit (bit 0 of byte 0) set.
    static func isGroup(_ m: MACAddress) -> Bool { m[0] & 1 != 0 }
}
