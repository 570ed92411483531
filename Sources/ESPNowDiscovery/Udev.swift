import CUdev

#if canImport(Glibc)
import Glibc
#endif

/// Reads ``SerialDevice`` values out of libudev devices. Not thread-safe by itself: each
/// caller uses its own `udev` context (libudev contexts must not be shared across threads).
enum UdevReader {
    static func string(_ p: UnsafePointer<CChar>?) -> String? {
        guard let p else { return nil }
        let s = String(decoding: UnsafeRawBufferPointer(start: p, count: strlen(p)), as: UTF8.self)
        return s.isEmpty ? nil : s
    }

    static func property(_ dev: OpaquePointer, _ key: String) -> String? {
        string(udev_device_get_property_value(dev, key))
    }

    static func attribute(_ dev: OpaquePointer?, _ key: String) -> String? {
        guard let dev else { return nil }
        return string(udev_device_get_sysattr_value(dev, key))?.trimmingWhitespace()
    }

    /// Builds the description of a tty device; nil when it is not a USB serial port
    /// (no USB parent in sysfs and no USB properties in the udev database / event).
    static func serialDevice(_ dev: OpaquePointer) -> SerialDevice? {
        guard let syspath = string(udev_device_get_syspath(dev)) else { return nil }
        let sysname = string(udev_device_get_sysname(dev)) ?? syspath.split(separator: "/").last.map(String.init) ?? syspath
        let devnode = string(udev_device_get_devnode(dev)) ?? property(dev, "DEVNAME").map { $0.hasPrefix("/") ? $0 : "/dev/" + $0 }
        guard let devnode else { return nil }

        // Parents are borrowed references owned by `dev` (no unref).
        let usb = udev_device_get_parent_with_subsystem_devtype(dev, "usb", "usb_device")
        let intf = udev_device_get_parent_with_subsystem_devtype(dev, "usb", "usb_interface")
        guard usb != nil || property(dev, "ID_BUS") == "usb" || property(dev, "ID_VENDOR_ID") != nil else { return nil }

        let vid = (attribute(usb, "idVendor") ?? property(dev, "ID_VENDOR_ID")).flatMap { UInt16($0, radix: 16) }
        let pid = (attribute(usb, "idProduct") ?? property(dev, "ID_MODEL_ID")).flatMap { UInt16($0, radix: 16) }
        guard let vid, let pid else { return nil }

        let devpathUSB = usbComponents(fromDevpath: property(dev, "DEVPATH") ?? syspath)
        let usbPort = usb.flatMap { string(udev_device_get_sysname($0)) } ?? devpathUSB?.port
        let ifnum = (attribute(intf, "bInterfaceNumber") ?? property(dev, "ID_USB_INTERFACE_NUM")).flatMap { Int($0, radix: 16) }
            ?? devpathUSB?.interface
        let driver = intf.flatMap { string(udev_device_get_driver($0)) } ?? property(dev, "ID_USB_DRIVER")

        return SerialDevice(
            devnode: devnode, syspath: syspath, sysname: sysname, links: links(dev),
            vendorID: vid, productID: pid,
            serialNumber: attribute(usb, "serial") ?? property(dev, "ID_SERIAL_SHORT") ?? property(dev, "ID_USB_SERIAL_SHORT"),
            manufacturer: attribute(usb, "manufacturer") ?? decoded(property(dev, "ID_VENDOR_ENC")) ?? property(dev, "ID_VENDOR"),
            product: attribute(usb, "product") ?? decoded(property(dev, "ID_MODEL_ENC")) ?? property(dev, "ID_MODEL"),
            interfaceNumber: ifnum, usbPort: usbPort, driver: driver)
    }

    /// DEVLINKS (space separated) plus libudev's devlink list, deduplicated, in order.
    static func links(_ dev: OpaquePointer) -> [String] {
        var out: [String] = []
        if let v = property(dev, "DEVLINKS") {
            for l in v.split(separator: " ") where !out.contains(String(l)) { out.append(String(l)) }
        }
        var e = udev_device_get_devlinks_list_entry(dev)
        while let entry = e {
            if let n = string(udev_list_entry_get_name(entry)), !out.contains(n) { out.append(n) }
            e = udev_list_entry_get_next(entry)
        }
        return out
    }

    /// `.../1-1.4/1-1.4:1.0/tty/ttyACM0` → port `1-1.4`, interface 0 (used when sysfs is gone).
    static func usbComponents(fromDevpath path: String) -> (port: String, interface: Int?)? {
        for comp in path.split(separator: "/").reversed() {
            guard let colon = comp.firstIndex(of: ":") else { continue }
            let port = comp[..<colon]
            let cfgIf = comp[comp.index(after: colon)...].split(separator: ".")
            guard !port.isEmpty, port.first!.isNumber, port.contains("-"), cfgIf.count == 2 else { continue }
            return (String(port), Int(cfgIf[1]))
        }
        return nil
    }

    /// udev's `\x20`-style escaping of ID_*_ENC values.
    static func decoded(_ s: String?) -> String? {
        guard let s else { return nil }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count, b[i + 1] == UInt8(ascii: "x"),
               let v = UInt8(String(decoding: b[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        let r = String(decoding: out, as: UTF8.self).trimmingWhitespace()
        return r.isEmpty ? nil : r
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// Lists USB serial ports through libudev.
public enum SerialDiscovery {
    /// Every tty with a USB parent that passes `filter`, most likely ESP32 dongles first
    /// (Espressif, then the common board bridges, then the rest), then by device node.
    public static func devices(matching filter: DeviceFilter = .all) throws(DiscoveryError) -> [SerialDevice] {
        guard let udev = udev_new() else { throw .udev("udev_new failed (is /sys mounted?)") }
        defer { udev_unref(udev) }
        guard let en = udev_enumerate_new(udev) else { throw .udev("udev_enumerate_new failed") }
        defer { udev_enumerate_unref(en) }
        udev_enumerate_add_match_subsystem(en, "tty")
        let rc = udev_enumerate_scan_devices(en)
        guard rc >= 0 else { throw .udev("scanning tty devices failed: \(String(cString: strerror(-rc)))") }
        var found: [SerialDevice] = []
        var e = udev_enumerate_get_list_entry(en)
        while let entry = e {
            if let path = udev_list_entry_get_name(entry), let dev = udev_device_new_from_syspath(udev, path) {
                if let d = UdevReader.serialDevice(dev), filter.matches(d) { found.append(d) }
                udev_device_unref(dev)
            }
            e = udev_list_entry_get_next(entry)
        }
        return sorted(found)
    }

    /// Most likely ESP32 first, then natural device-node order (`ttyACM2` before `ttyACM10`).
    public static func sorted(_ devices: [SerialDevice]) -> [SerialDevice] {
        devices.sorted { a, b in
            if a.chip.rank != b.chip.rank { return a.chip.rank < b.chip.rank }
            let (pa, na) = splitNumber(a.devnode), (pb, nb) = splitNumber(b.devnode)
            if pa != pb { return pa < pb }
            return na < nb
        }
    }

    private static func splitNumber(_ s: String) -> (String, Int) {
        let digits = s.reversed().prefix { $0.isNumber }
        return (String(s.dropLast(digits.count)), Int(String(digits.reversed())) ?? -1)
    }
}
