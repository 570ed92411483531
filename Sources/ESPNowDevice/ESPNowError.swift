import ESPNowWire
import ESPNowSerial

/// Every way a device call can fail.
public enum ESPNowError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The device answered with a non-zero `esp_err_t` (``ESPError/name`` gives e.g.
    /// `ESP_ERR_ESPNOW_NOT_FOUND`).
    case esp(ESPError, command: CommandCode)
    /// No response after the retransmissions.
    case timeout(command: CommandCode, attempts: Int)
    /// The dongle rebooted (unexpected HELLO) while the call was in flight: it may or may
    /// not have executed; it was not retransmitted.
    case deviceRebooted(command: CommandCode)
    /// The serial link ended (unplugged, or the simulator died) while the call was in flight
    /// or before it could be sent.
    case unplugged(path: String)
    /// The client was closed.
    case closed
    /// The dongle speaks another protocol version: reflash it (carries section 9's text).
    case protocolMismatch(ForeignHello)
    /// Rejected before touching the wire.
    case invalidArgument(String)
    /// The response did not have the layout the command promises.
    case badResponse(command: CommandCode, detail: String)
    /// Opening the port failed.
    case serial(SerialError)

    /// The `esp_err_t` carried, if any.
    public var espError: ESPError? {
        if case .esp(let e, _) = self { return e }
        return nil
    }

    /// The ESP-IDF name (`ESP_ERR_ESPNOW_NOT_FOUND`), or the number for unknown codes.
    public var espName: String? {
        guard let e = espError else { return nil }
        return e.name ?? e.description
    }

    public var description: String {
        switch self {
        case .esp(let e, let c) where e == .bridgeRefused:
            "\(c.name) refused by the broker: it would disturb its other clients (or the peer is another client's); "
                + "the broker's log says why (`espnow serve --allow-admin` permits admin calls)"
        case .esp(let e, let c) where e == .bridgeNoDevice:
            "\(c.name) failed: the broker's dongle is gone (unplugged or rebooting); the broker is reconnecting"
        case .esp(let e, let c): "\(c.name) failed: \(e)"
        case .timeout(let c, let n): "\(c.name): no response after \(n) attempts"
        case .deviceRebooted(let c): "\(c.name): the dongle rebooted while the call was in flight"
        case .unplugged(let p): "device unplugged: \(p)"
        case .closed: "the device client is closed"
        case .protocolMismatch(let h): h.description
        case .invalidArgument(let s): "invalid argument: \(s)"
        case .badResponse(let c, let d): "\(c.name): malformed response: \(d)"
        case .serial(let s): s.description
        }
    }
}
