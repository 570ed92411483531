import ESPNowDevice
import ESPNowDiscovery
import ESPNowSerial
import ESPNowWire
import Foundation

/// Exit codes scripts can rely on (docs/CLI.md).
enum ExitStatus: Int32, Sendable {
    case ok = 0
    /// Bad arguments or input (bad MAC, bad hex, file too large...).
    case usage = 1
    /// The device or the link: no such port, permission, busy, not a bridge, firmware too
    /// old, unplugged, simulator could not start.
    case device = 2
    /// ESP-NOW / ESP-IDF said no (an `esp_err_t`), or a send was not acknowledged.
    case espnow = 3
    /// Nothing came in time: no response, `listen --count` not reached, no ping reply.
    case timeout = 4
    /// A host file could not be read or written (`--file`, `--pcap`).
    case io = 5
    /// Interrupted (Ctrl-C) where no summary could be given.
    case interrupted = 130
}

/// One clear sentence naming the device and the fix, and its exit code.
struct CLIError: Error, CustomStringConvertible {
    var status: ExitStatus
    var message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }

    static let udevRuleHint =
        "install the udev rule (sudo cp firmware-bridge/99-espnow-bridge.rules /etc/udev/rules.d/ && "
        + "sudo udevadm control --reload && sudo udevadm trigger, then replug the dongle) or add yourself to the dialout group"

    /// Maps any error a command can meet to a `CLIError` for `port`.
    static func from(_ error: any Error, port: String) -> CLIError {
        switch error {
        case let e as CLIError: return e
        case let e as ESPNowError: return from(e, port: port)
        case let e as SerialError: return from(e)
        case let e as DiscoveryError: return CLIError(.device, e.description)
        case is CancellationError: return CLIError(.interrupted, "interrupted")
        default: return CLIError(.device, "\(port): \(error)")
        }
    }

    static func from(_ e: SerialError) -> CLIError {
        switch e {
        case .portBusy(let p):
            return CLIError(.device, "port busy: \(p) is open in another program (close idf.py monitor, screen, minicom or another espnow, then retry)")
        case .openFailed(let p, let errno, let reason):
            switch errno {
            case EACCES, EPERM:
                return CLIError(.device, "permission denied opening \(p): \(udevRuleHint)")
            case ENOENT, ENODEV, ENXIO:
                return CLIError(.device, "no such device: \(p) (check the cable and the path; `espnow devices` lists the attached dongles)")
            case EBUSY:
                return CLIError(.device, "port busy: \(p) is open in another program (close it and retry)")
            default:
                return CLIError(.device, "cannot open \(p): \(reason) (errno \(errno)); check the path, or run `espnow devices`")
            }
        case .configurationFailed(let p, let step, let errno):
            return CLIError(.device, "cannot configure \(p): \(step) failed (errno \(errno)); is it a serial port? (`espnow devices` lists dongles)")
        case .unplugged(let p):
            return CLIError(.device, "\(p) went away (unplugged, or the simulator stopped); plug it back in and retry")
        case .closed(let p):
            return CLIError(.device, "the link to \(p) was closed")
        case .unsupportedBaudRate(let b):
            return CLIError(.usage, "baud rate \(b) is not supported by this serial port; pick another with --baud")
        case .foreignReader(let p, let who?):
            return CLIError(.device, "another program is reading \(p) (\(who)) — close it and retry")
        case .foreignReader(let p, nil):
            return CLIError(.device, "another program is reading \(p) — close it and retry")
        }
    }

    static func from(_ e: ESPNowError, port: String) -> CLIError {
        switch e {
        case .esp(let err, let cmd):
            let name = err.name ?? String(format: "0x%x", err.rawValue)
            return CLIError(.espnow, "\(port): \(cmd.name) failed with \(name)\(espHint(err, cmd))")
        case .timeout(let cmd, let n):
            if cmd == .hello {
                return CLIError(.device, "\(port) did not answer HELLO (\(n) attempts): it is not running the bridge firmware, "
                                + "or another program is reading it; flash it (see firmware-bridge/README.md) or pick another port (`espnow devices`)")
            }
            return CLIError(.timeout, "\(port) did not answer \(cmd.name) after \(n) attempts; replug the dongle or run `espnow reset`")
        case .deviceRebooted(let cmd):
            return CLIError(.device, "\(port) rebooted during \(cmd.name); retry the command")
        case .unplugged(let p):
            return CLIError(.device, "\(p) went away (unplugged, or the simulator stopped); plug it back in and retry")
        case .closed:
            return CLIError(.device, "the connection to \(port) was closed")
        case .protocolMismatch(let h):
            return CLIError(.device, "\(port): \(h.description)")
        case .invalidArgument(let s):
            return CLIError(.usage, "\(port): \(s)")
        case .badResponse(let cmd, let detail):
            return CLIError(.device, "\(port) answered \(cmd.name) with a malformed response (\(detail)); "
                            + "its firmware may be too old or too new: reflash the bridge firmware (see firmware-bridge/README.md)")
        case .serial(let s):
            return from(s)
        }
    }

    private static func espHint(_ e: ESPError, _ cmd: CommandCode) -> String {
        switch e.rawValue {
        case 0x102 where cmd == .wifiSetChannel:
            return " (the dongle's Wi-Fi country decides its channels: the default, 01, allows 1-11; give --country CC (DE allows 1-13, JP 1-14) or set it with `espnow country CC`)"
        case 0x3069 where cmd == .espnowDelPeer || cmd == .espnowModPeer || cmd == .espnowGetPeer:
            return " (no such peer on this dongle: `espnow peers list` shows the registered ones)"
        case 0x3069: return " (the peer is not registered: add it with `espnow peers add MAC`)"
        case 0x306B: return " (the peer is already registered: use `espnow peers mod`)"
        case 0x3068: return " (the peer list is full: remove one with `espnow peers del MAC`)"
        case 0x306C: return " (the peer's interface is not active: `espnow wifi ap on` turns on the AP interface for --ifidx ap peers)"
        case 0x306D: return " (the peer's channel is not the dongle's channel: see `espnow channel`)"
        case 0x3067: return " (the dongle's send queue is full: send more slowly)"
        case 0x3065: return " (ESP-NOW is not initialised: run `espnow reset` and retry)"
        case 0x3066: return " (an argument was rejected: check the payload size, the MAC and the flags)"
        case 0x3002, 0x3001: return " (Wi-Fi is not started on the dongle: run `espnow reset` and retry)"
        case 0x0106: return " (this dongle or its firmware does not support it: reflash a newer bridge firmware)"
        case 0xB001: return " (the dongle is busy: retry)"
        case 0xB003: return " (refused by the broker sharing this dongle: it would disturb its other clients; see the broker's log, or run it with --allow-admin)"
        case 0xB004: return " (the broker's dongle is gone: it is reconnecting; retry)"
        default: return ""
        }
    }
}
