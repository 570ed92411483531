import NIOConcurrencyHelpers

/// Follows one physical dongle (``SerialDevice/physicalID``: its USB serial number, else
/// its USB port) across unplug and replug, wherever udev puts it back.
///
/// A ``DeviceMonitor`` runs from `init` until the tracker is released (or ``stop()``): it
/// records the dongle's current device node, so that ``path(after:)`` answers at once when
/// the dongle is there and otherwise waits for its `arrived` event (no polling).
///
/// Hand it to the device client so that its reconnections follow the dongle:
/// `options.reconnectPath = tracker.reconnectPath` (ESPNowDevice's `DeviceOptions`), or
/// use ESPNowAutoConnect, which does that for `auto` and for udev-known paths.
public final class DongleTracker: Sendable {
    /// The tracked identity (``SerialDevice/physicalID``).
    public let physicalID: String
    private let monitor: DeviceMonitor
    private let box: TrackerState

    /// Starts tracking `device` (the description found by ``SerialDiscovery`` or a probe).
    public convenience init(device: SerialDevice) throws(DiscoveryError) {
        try self.init(physicalID: device.physicalID)
    }

    /// Starts tracking the dongle whose ``SerialDevice/physicalID`` is `physicalID`.
    public init(physicalID: String) throws(DiscoveryError) {
        self.physicalID = physicalID
        let box = TrackerState()
        self.box = box
        let monitor = try DeviceMonitor(filter: .all, reportExisting: true)
        self.monitor = monitor
        // The task holds the monitor and the state, not the tracker: the tracker's deinit
        // stops the monitor, which ends this loop.
        Task.detached {
            for await e in monitor where e.device.physicalID == physicalID { box.apply(e) }
            box.finish()
        }
    }

    deinit { monitor.stop() }

    /// Stops the monitor; waiting ``path(after:)`` calls return nil.
    public func stop() { monitor.stop() }

    /// Where the dongle is now (its device node), as far as udev has told; nil while it is away.
    public var currentPath: String? { box.current?.devnode }

    /// The dongle's description as last reported by udev (nil if it was never seen).
    public var lastSeen: SerialDevice? { box.lastSeen }

    /// The path to open to reach the dongle again after its port at `lastPath` went away:
    /// its current device node if udev lists it (possibly `lastPath` itself, when udev has
    /// not reported the removal yet, or only the board behind a UART bridge rebooted);
    /// otherwise waits for it to arrive, at whatever path. Returns nil when the task is
    /// cancelled or the tracker stopped.
    public func path(after lastPath: String) async -> String? {
        await box.wait()
    }

    /// ``path(after:)`` as a value for ESPNowDevice's `DeviceOptions.reconnectPath`.
    public var reconnectPath: @Sendable (_ lastPath: String) async -> String? {
        { [self] lastPath in await self.path(after: lastPath) }
    }
}

/// The tracker's view of its dongle, shared between the monitor loop and the waiters.
private final class TrackerState: Sendable {
    struct State {
        /// Instances present, in arrival order (a new one can arrive before udev reports
        /// that the old one left).
        var present: [SerialDevice] = []
        var lastSeen: SerialDevice?
        var waiters: [UInt64: CheckedContinuation<String?, Never>] = [:]
        var nextWaiter: UInt64 = 0
        var finished = false
    }

    private let state = NIOLockedValueBox(State())

    var current: SerialDevice? { state.withLockedValue { $0.present.last } }
    var lastSeen: SerialDevice? { state.withLockedValue { $0.lastSeen } }

    func apply(_ e: DeviceEvent) {
        let (waiters, path) = state.withLockedValue { s -> ([CheckedContinuation<String?, Never>], String?) in
            s.present.removeAll { $0.syspath == e.device.syspath }
            guard e.action == .arrived else { return ([], nil) }
            s.present.append(e.device)
            s.lastSeen = e.device
            let w = Array(s.waiters.values)
            s.waiters.removeAll()
            return (w, e.device.devnode)
        }
        for w in waiters { w.resume(returning: path) }
    }

    func finish() {
        let waiters = state.withLockedValue { s -> [CheckedContinuation<String?, Never>] in
            s.finished = true
            let w = Array(s.waiters.values)
            s.waiters.removeAll()
            return w
        }
        for w in waiters { w.resume(returning: nil) }
    }

    /// The current device node, or the next arrival's; nil on cancellation or when the
    /// monitor ended.
    func wait() async -> String? {
        let id = state.withLockedValue { s -> UInt64 in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<String?, Never>) in
                let immediate: String?? = state.withLockedValue { s in
                    if let d = s.present.last { return .some(d.devnode) }
                    if s.finished || Task.isCancelled { return .some(nil) }
                    s.waiters[id] = c
                    return .none
                }
                if let r = immediate { c.resume(returning: r) }
            }
        } onCancel: {
            let c = state.withLockedValue { $0.waiters.removeValue(forKey: id) }
            c?.resume(returning: nil)
        }
    }
}

/// Why `auto` found no single bridge dongle. The description is one sentence listing
/// what was found and what to do.
public enum AutoPortError: Error, Sendable, CustomStringConvertible {
    /// No USB serial port is attached (among those the filter keeps).
    case noSerialPorts
    /// Ports are attached but none answered as a bridge dongle; each with its probe outcome.
    case noBridge([ProbedDevice])
    /// Several bridge dongles answered.
    case several([ProbedDevice])
    /// udev could not be used.
    case discovery(DiscoveryError)

    public var description: String {
        switch self {
        case .noSerialPorts:
            return "no dongle found: no USB serial port is attached; plug one in (or try the simulator: --port sim, `espnow demo`)"
        case .several(let b):
            return "several bridge dongles are attached (\(b.map { Self.name($0.device) }.joined(separator: ", "))); pick one with its path"
        case .noBridge(let c):
            if let denied = c.first(where: { if case .failed(.permissionDenied) = $0.outcome { true } else { false } }) {
                return DiscoveryError.permissionDenied(path: Self.name(denied.device)).description
            }
            if let old = c.first(where: { if case .foreignProtocol = $0.outcome { true } else { false } }) {
                return "\(Self.name(old.device)): \(old.outcome.description)"
            }
            let list = c.map { "\(Self.name($0.device)) (\($0.outcome.description))" }.joined(separator: "; ")
            return "no bridge dongle found among the serial ports: \(list); flash the bridge firmware "
                + "(firmware-bridge/README.md) or pick a port by its path"
        case .discovery(let e):
            return e.description
        }
    }

    static func name(_ d: SerialDevice) -> String { d.byIDLink ?? d.devnode }
}

extension SerialDiscovery {
    /// `auto`: the only attached USB serial port that answers HELLO as a bridge dongle.
    /// Every port `filter` keeps is probed concurrently (never resetting a board).
    public static func onlyBridge(matching filter: DeviceFilter = .all,
                                  probe options: ProbeOptions = ProbeOptions()) async throws(AutoPortError) -> (device: SerialDevice, hello: BridgeHello) {
        let devices: [SerialDevice]
        do {
            devices = try Self.devices(matching: filter)
        } catch {
            throw .discovery(error)
        }
        if devices.isEmpty { throw .noSerialPorts }
        let probed = await SerialProbe.probe(devices, options: options)
        let bridges = probed.compactMap { p -> (SerialDevice, BridgeHello)? in
            if case .bridge(let h) = p.outcome { (p.device, h) } else { nil }
        }
        if bridges.count == 1 { return (bridges[0].0, bridges[0].1) }
        if bridges.count > 1 { throw .several(probed.filter(\.outcome.isBridge)) }
        throw .noBridge(probed)
    }

    /// The attached USB serial port `path` names: its device node or one of its udev
    /// links (`/dev/serial/by-id/...`); nil when udev does not know it (a pty, a simulator).
    public static func device(at path: String) -> SerialDevice? {
        guard let all = try? devices(matching: .all) else { return nil }
        return all.first { $0.devnode == path || $0.links.contains(path) }
    }
}
