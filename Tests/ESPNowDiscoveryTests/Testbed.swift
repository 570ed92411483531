// A thin binding to libumockdev (the umockdev testbed library), loaded with dlopen so that
// building the package needs no umockdev headers; only running these tests needs the
// Debian package `umockdev` (which brings libumockdev0 and libumockdev-preload0).
//
// How it works: `umockdev-wrapper` starts the test binary with libumockdev-preload in
// LD_PRELOAD. A testbed (umockdev_testbed_new) is a temporary directory holding a fake
// /sys, /dev and udev database and sets $UMOCKDEV_DIR; from then on the preload redirects
// the process's (hence libudev's) accesses to /sys and /dev there, and turns udev's netlink
// monitor socket into a socket that umockdev_testbed_uevent() writes to.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct UMockdevUnavailable: Error, CustomStringConvertible {
    let description: String
}

/// The few libumockdev entry points the tests use.
final class UMockdevLibrary: @unchecked Sendable {
    typealias InMock = @convention(c) () -> Int32
    typealias New = @convention(c) () -> OpaquePointer?
    typealias GetRoot = @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>?
    typealias AddDeviceV = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
                                           UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                           UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> UnsafeMutablePointer<CChar>?
    typealias RemoveDevice = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void
    typealias UEvent = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void
    typealias Unref = @convention(c) (OpaquePointer?) -> Void
    typealias Free = @convention(c) (UnsafeMutableRawPointer?) -> Void
    typealias IoctlBaseNew = @convention(c) () -> OpaquePointer?
    typealias AttachIoctl = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, OpaquePointer?,
                                            UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    typealias ClientExecute = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?,
                                              UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    typealias ClientComplete = @convention(c) (OpaquePointer?, Int, Int32) -> Void
    typealias HandleIoctl = @convention(c) (OpaquePointer?, OpaquePointer?, UnsafeMutableRawPointer?) -> Int32
    typealias SignalConnect = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, HandleIoctl?, UnsafeMutableRawPointer?,
                                              UnsafeMutableRawPointer?, UInt32) -> UInt

    let inMock: InMock
    let new: New
    let getRoot: GetRoot
    let addDeviceV: AddDeviceV
    let removeDevice: RemoveDevice
    let uevent: UEvent
    let unref: Unref
    let free: Free
    let ioctlBaseNew: IoctlBaseNew
    let attachIoctl: AttachIoctl
    let clientExecute: ClientExecute
    let clientComplete: ClientComplete
    let signalConnect: SignalConnect

    static let shared: Result<UMockdevLibrary, UMockdevUnavailable> = Result { try UMockdevLibrary() }
        .mapError { $0 as? UMockdevUnavailable ?? UMockdevUnavailable(description: "\($0)") }

    private init() throws {
        guard let h = dlopen("libumockdev.so.0", RTLD_NOW | RTLD_GLOBAL) else {
            throw UMockdevUnavailable(description: "libumockdev.so.0 not loadable (apt-get install umockdev): "
                                      + String(cString: dlerror()))
        }
        func sym<T>(_ name: String, _: T.Type) throws -> T {
            guard let p = dlsym(h, name) else { throw UMockdevUnavailable(description: "missing symbol \(name)") }
            return unsafeBitCast(p, to: T.self)
        }
        inMock = try sym("umockdev_in_mock_environment", InMock.self)
        new = try sym("umockdev_testbed_new", New.self)
        getRoot = try sym("umockdev_testbed_get_root_dir", GetRoot.self)
        addDeviceV = try sym("umockdev_testbed_add_devicev", AddDeviceV.self)
        removeDevice = try sym("umockdev_testbed_remove_device", RemoveDevice.self)
        uevent = try sym("umockdev_testbed_uevent", UEvent.self)
        unref = try sym("g_object_unref", Unref.self)
        free = try sym("g_free", Free.self)
        ioctlBaseNew = try sym("umockdev_ioctl_base_new", IoctlBaseNew.self)
        attachIoctl = try sym("umockdev_testbed_attach_ioctl", AttachIoctl.self)
        clientExecute = try sym("umockdev_ioctl_client_execute", ClientExecute.self)
        clientComplete = try sym("umockdev_ioctl_client_complete", ClientComplete.self)
        signalConnect = try sym("g_signal_connect_data", SignalConnect.self)
    }

    /// True when the umockdev preload library is in this process (umockdev-wrapper), so that a
    /// testbed will redirect /sys and /dev. (umockdev_in_mock_environment() only turns true once
    /// a testbed has set $UMOCKDEV_DIR, so it cannot tell beforehand.)
    static var preloadActive: Bool {
        guard ProcessInfo.processInfo.environment["LD_PRELOAD"]?.contains("libumockdev-preload") == true,
              case .success = shared else { return false }
        return true
    }
}

/// One umockdev testbed: a fake /sys + /dev for this process while it lives.
/// Only one may exist at a time (it is selected through $UMOCKDEV_DIR).
final class Testbed {
    let lib: UMockdevLibrary
    let handle: OpaquePointer
    let root: String

    init() throws {
        lib = try UMockdevLibrary.shared.get()
        guard let h = lib.new() else { throw UMockdevUnavailable(description: "umockdev_testbed_new failed") }
        handle = h
        let r = lib.getRoot(h)!
        root = String(cString: r)
        lib.free(r)
    }

    private var ioctlHandlers: [OpaquePointer] = []

    deinit {
        lib.unref(handle)
        ioctlHandlers.forEach { lib.unref($0) }
    }

    /// Adds a device; returns its syspath (`/sys/devices/...`).
    @discardableResult
    func addDevice(subsystem: String, name: String, parent: String?, attributes: [(String, String)],
                   properties: [(String, String)]) throws -> String {
        func cArray(_ pairs: [(String, String)]) -> [UnsafeMutablePointer<CChar>?] {
            pairs.flatMap { [strdup($0.0), strdup($0.1)] } + [nil]
        }
        var attrs = cArray(attributes)
        var props = cArray(properties)
        defer { (attrs + props).forEach { Glibc.free($0) } }
        let p = attrs.withUnsafeMutableBufferPointer { a in
            props.withUnsafeMutableBufferPointer { pr in
                lib.addDeviceV(handle, subsystem, name, parent, a.baseAddress, pr.baseAddress)
            }
        }
        guard let p else { throw UMockdevUnavailable(description: "umockdev_testbed_add_devicev(\(name)) failed") }
        defer { lib.free(p) }
        return String(cString: p)
    }

    func uevent(_ syspath: String, _ action: String) { lib.uevent(handle, syspath, action) }

    func remove(_ syspath: String) { lib.removeDevice(handle, syspath) }

    /// Makes `/dev/<name>` (as the preload sees it) a symlink to a real path, e.g. a pty.
    func setNode(_ devname: String, to target: String) throws {
        let path = root + devname
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        unlink(path)
        guard symlink(target, path) == 0 else {
            throw UMockdevUnavailable(description: "symlink \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Lets every ioctl on `devname` (as the preload sees it) reach the real device behind the
    /// node (a pty from ``setNode(_:to:)``): umockdev otherwise routes ioctls on testbed
    /// nodes to its default handler, which (0.17) answers termios2 (TCGETS2/TCSETS2, used to
    /// set the baud rate) with ENOTTY. Handlers run on umockdev's own thread.
    func passIoctlsThrough(_ devname: String) throws {
        guard let handler = lib.ioctlBaseNew() else { throw UMockdevUnavailable(description: "umockdev_ioctl_base_new failed") }
        let run: HandleIoctlCallback = { _, client, _ in
            guard case .success(let lib) = UMockdevLibrary.shared else { return 0 }
            var err: Int32 = 0
            let r = lib.clientExecute(client, &err, nil)
            lib.clientComplete(client, Int(r), err)
            return 1
        }
        _ = lib.signalConnect(handler, "handle-ioctl", run, nil, nil, 0)
        guard lib.attachIoctl(handle, devname, handler, nil) != 0 else {
            throw UMockdevUnavailable(description: "umockdev_testbed_attach_ioctl(\(devname)) failed")
        }
        ioctlHandlers.append(handler)
    }

    /// A USB device with one interface and a tty on it, like the kernel's
    /// usbX/1-N/1-N:1.I/tty/ttyXXX (udev's usb_id properties included when `udevProperties`).
    struct FakeUSBSerial {
        var port: String  // usb_device name, e.g. "1-3"
        var vid: String
        var pid: String
        var serial: String?
        var manufacturer: String?
        var product: String?
        var interface: Int = 0
        var tty: String  // e.g. "ttyACM0"
        var byID: String?  // DEVLINKS entry
        var driver: String = "cdc_acm"
    }

    struct AddedDevice {
        var usb: String
        var interface: String
        var tty: String
    }

    @discardableResult
    func add(_ d: FakeUSBSerial, udevProperties: Bool = true) throws -> AddedDevice {
        var ua = [("idVendor", d.vid), ("idProduct", d.pid)]
        if let s = d.serial { ua.append(("serial", s)) }
        if let m = d.manufacturer { ua.append(("manufacturer", m)) }
        if let p = d.product { ua.append(("product", p)) }
        let usb = try addDevice(subsystem: "usb", name: d.port, parent: nil, attributes: ua,
                                properties: [("DEVTYPE", "usb_device")])
        let ifname = "\(d.port):1.\(d.interface)"
        let ifn = String(d.interface, radix: 16)
        let intf = try addDevice(subsystem: "usb", name: ifname, parent: usb,
                                 attributes: [("bInterfaceNumber", ifn.count == 1 ? "0" + ifn : ifn)],
                                 properties: [("DEVTYPE", "usb_interface"), ("DRIVER", d.driver)])
        var props = [("DEVNAME", "/dev/" + d.tty)]
        if let l = d.byID { props.append(("DEVLINKS", l)) }
        if udevProperties {
            props += [("ID_BUS", "usb"), ("ID_VENDOR_ID", d.vid), ("ID_MODEL_ID", d.pid),
                      ("ID_USB_INTERFACE_NUM", ifn.count == 1 ? "0" + ifn : ifn)]
            if let s = d.serial { props.append(("ID_SERIAL_SHORT", s)) }
        }
        let tty = try addDevice(subsystem: "tty", name: d.tty, parent: intf, attributes: [], properties: props)
        return AddedDevice(usb: usb, interface: intf, tty: tty)
    }
}

typealias HandleIoctlCallback = UMockdevLibrary.HandleIoctl
