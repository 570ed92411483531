import ESPNowDevice
import ESPNowDiscovery

extension DeviceOptions {
    /// Makes reconnections follow `tracker`'s physical dongle to whatever path it comes
    /// back at (and turns ``autoReconnect`` on). The options keep the tracker alive.
    public mutating func follow(_ tracker: DongleTracker) {
        autoReconnect = true
        reconnectPath = tracker.reconnectPath
    }
}

/// Opens a dongle by `auto` or by path, with reconnections that follow the same physical
/// dongle (USB serial number, else USB port) when it comes back at another /dev path.
///
/// This module is the only place where the device client (ESPNowDevice, which knows
/// nothing of udev) meets discovery (ESPNowDiscovery, which knows nothing of the protocol
/// beyond HELLO): it resolves the port, starts a ``DongleTracker`` and hands the device
/// client its ``DongleTracker/reconnectPath``.
public enum AutoConnect {
    /// Opens `port` and performs the handshake.
    ///
    /// - `"auto"`: the only attached USB serial port (among those `filter` keeps) that
    ///   answers HELLO as a bridge dongle; otherwise throws an ``AutoPortError`` whose
    ///   description lists the candidates.
    /// - a path: opened as is; when udev knows it as a USB serial port (device node or a
    ///   `/dev/serial/by-id` link), reconnections follow that dongle too.
    ///
    /// Following needs `options.autoReconnect` (turned on for followed dongles unless
    /// `follow` is false) and a udev monitor; without udev the path is simply reopened.
    public static func connect(port: String = "auto", options: DeviceOptions = DeviceOptions(),
                               filter: DeviceFilter = .all, probe: ProbeOptions = ProbeOptions(),
                               follow: Bool = true) async throws -> ESPNowDevice {
        let (path, device) = try await resolve(port, filter: filter, probe: probe)
        var opts = options
        if follow, let d = device {
            do {
                opts.follow(try DongleTracker(device: d))
            } catch {
                opts.logger.warning("cannot follow the dongle across replugs", metadata: ["port": "\(path)", "reason": "\(error)"])
            }
        }
        return try await ESPNowDevice.connect(path: path, options: opts)
    }

    /// `port` to the path to open and, when udev knows it, the USB serial device.
    public static func resolve(_ port: String, filter: DeviceFilter = .all,
                               probe: ProbeOptions = ProbeOptions()) async throws(AutoPortError) -> (path: String, device: SerialDevice?) {
        if port == "auto" {
            let (d, _) = try await SerialDiscovery.onlyBridge(matching: filter, probe: probe)
            return (d.devnode, d)
        }
        return (port, SerialDiscovery.device(at: port))
    }
}
