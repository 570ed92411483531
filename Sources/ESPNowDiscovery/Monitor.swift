import CUdev
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A USB serial port arriving or leaving.
public struct DeviceEvent: Sendable, Hashable, CustomStringConvertible {
    public enum Action: String, Sendable, Hashable {
        /// The port appeared (udev `add`), or was already there (``DeviceMonitor`` `reportExisting`).
        case arrived
        /// The port went away (udev `remove`).
        case left
    }

    public var action: Action
    /// For `left`, the description recorded when the port arrived (or was enumerated),
    /// completed from the event's properties: the USB serial number is there even though
    /// sysfs is already gone.
    public var device: SerialDevice

    public init(action: Action, device: SerialDevice) {
        self.action = action
        self.device = device
    }

    public var description: String { "\(action.rawValue) \(device)" }
}

/// Watches udev for USB serial ports arriving and leaving, as an `AsyncSequence` of
/// ``DeviceEvent``s.
///
/// The monitor listens on udev's netlink group (`"udev"`: events after udev's rules ran,
/// so with their properties and symlinks) filtered to the `tty` subsystem. A dedicated
/// thread blocks in poll(2) on the monitor socket and an eventfd; nothing polls on a timer.
/// Events are recorded from the moment `init` returns. Iterate from one task only; the
/// thread stops when that iteration ends, its task is cancelled, or ``stop()`` is called.
///
/// To follow one physical dongle across a replug, compare ``SerialDevice/physicalID`` (USB
/// serial number based) of an `arrived` event with the one that left.
public final class DeviceMonitor: AsyncSequence, Sendable {
    public typealias Element = DeviceEvent
    public typealias AsyncIterator = AsyncStream<DeviceEvent>.Iterator

    private let stream: AsyncStream<DeviceEvent>
    private let cancel: CancelSignal

    /// - Parameters:
    ///   - filter: which devices to report.
    ///   - reportExisting: start with an `arrived` event for every matching port already present
    ///     (the monitor is listening before the enumeration, so nothing falls in between).
    public init(filter: DeviceFilter = .all, reportExisting: Bool = false) throws(DiscoveryError) {
        let state = try MonitorState(filter: filter)
        let cancel = try CancelSignal()
        self.cancel = cancel
        let (stream, cont) = AsyncStream.makeStream(of: DeviceEvent.self, bufferingPolicy: .unbounded)
        self.stream = stream
        for d in state.enumerateExisting() where reportExisting && filter.matches(d) {
            cont.yield(DeviceEvent(action: .arrived, device: d))
        }
        cont.onTermination = { _ in cancel.fire() }
        let thread = Thread {
            state.run(cancelFD: cancel.fd, continuation: cont)
            cancel.close()
        }
        thread.name = "espnow-udev-monitor"
        thread.start()
    }

    deinit { cancel.fire() }

    public func makeAsyncIterator() -> AsyncStream<DeviceEvent>.Iterator { stream.makeAsyncIterator() }

    /// Ends the sequence (the iteration returns nil) and stops the thread.
    public func stop() { cancel.fire() }

    /// The next event that satisfies `predicate`, or nil if the monitor stopped first.
    public func next(where predicate: (DeviceEvent) -> Bool) async -> DeviceEvent? {
        for await e in self where predicate(e) { return e }
        return nil
    }
}

/// The libudev objects of a monitor. Created on the caller's thread, then used only by the
/// monitor thread (libudev contexts are not thread-safe).
private final class MonitorState: @unchecked Sendable {
    let udev: OpaquePointer
    let monitor: OpaquePointer
    let filter: DeviceFilter
    /// Devices seen, by syspath: a `remove` event's sysfs is gone, this keeps its description.
    var known: [String: SerialDevice] = [:]

    init(filter: DeviceFilter) throws(DiscoveryError) {
        guard let u = udev_new() else { throw .udev("udev_new failed (is /sys mounted?)") }
        guard let m = udev_monitor_new_from_netlink(u, "udev") else {
            udev_unref(u)
            throw .udev("cannot create a udev monitor (netlink socket refused; running in a container without udev?)")
        }
        _ = udev_monitor_filter_add_match_subsystem_devtype(m, "tty", nil)
        let rc = udev_monitor_enable_receiving(m)
        if rc < 0 {
            udev_monitor_unref(m)
            udev_unref(u)
            throw .udev("cannot listen to udev events: \(String(cString: strerror(-rc)))")
        }
        udev = u
        monitor = m
        self.filter = filter
    }

    deinit {
        udev_monitor_unref(monitor)
        udev_unref(udev)
    }

    /// Records the ports present now (so that their `left` events carry full details).
    func enumerateExisting() -> [SerialDevice] {
        guard let en = udev_enumerate_new(udev) else { return [] }
        defer { udev_enumerate_unref(en) }
        udev_enumerate_add_match_subsystem(en, "tty")
        guard udev_enumerate_scan_devices(en) >= 0 else { return [] }
        var out: [SerialDevice] = []
        var e = udev_enumerate_get_list_entry(en)
        while let entry = e {
            if let p = udev_list_entry_get_name(entry), let dev = udev_device_new_from_syspath(udev, p) {
                if let d = UdevReader.serialDevice(dev) {
                    known[d.syspath] = d
                    out.append(d)
                }
                udev_device_unref(dev)
            }
            e = udev_list_entry_get_next(entry)
        }
        return SerialDiscovery.sorted(out)
    }

    func run(cancelFD: Int32, continuation: AsyncStream<DeviceEvent>.Continuation) {
        defer { continuation.finish() }
        let mfd = udev_monitor_get_fd(monitor)
        while true {
            var fds = [pollfd(fd: mfd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: cancelFD, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, -1)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            if fds[0].revents & Int16(POLLERR | POLLNVAL) != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            // The monitor socket is non-blocking: drain it.
            while let dev = udev_monitor_receive_device(monitor) {
                if let e = event(dev) { continuation.yield(e) }
                udev_device_unref(dev)
            }
        }
    }

    func event(_ dev: OpaquePointer) -> DeviceEvent? {
        guard UdevReader.string(udev_device_get_subsystem(dev)) == "tty",
              let action = UdevReader.string(udev_device_get_action(dev)),
              let syspath = UdevReader.string(udev_device_get_syspath(dev))
        else { return nil }
        switch action {
        case "add":
            guard let d = UdevReader.serialDevice(dev) else { return nil }
            // A second `add` for a port already known (from the enumeration, or a repeated
            // uevent whose attributes were read at another moment) is not a new arrival.
            if known.updateValue(d, forKey: syspath) != nil { return nil }
            return filter.matches(d) ? DeviceEvent(action: .arrived, device: d) : nil
        case "remove":
            let fromEvent = UdevReader.serialDevice(dev)
            guard var d = known.removeValue(forKey: syspath) ?? fromEvent else { return nil }
            if d.serialNumber == nil, let s = fromEvent?.serialNumber { d.serialNumber = s }
            return filter.matches(d) ? DeviceEvent(action: .left, device: d) : nil
        default:
            return nil
        }
    }
}
