/// The USB-to-serial hardware in front of a tty, guessed from its USB VID:PID.
///
/// Only the Espressif IDs say anything about the chip behind the port; the UART
/// bridges are merely the ones ESP32 development boards commonly carry. Whether a port
/// runs the bridge firmware is only known after a probe (``SerialProbe``).
public enum BridgeChip: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Espressif's built-in USB-Serial-JTAG (ESP32-C3/C6/H2/S3/...), 303a:1001.
    case espressifUSBSerialJTAG = "espressif-usb-serial-jtag"
    /// TinyUSB CDC-ACM on an Espressif VID (ESP32-S2/S3 native USB), 303a:* other than 1001.
    case espressifTinyUSB = "espressif-tinyusb-cdc"
    /// Silicon Labs CP210x, 10c4:ea60.
    case cp210x
    /// WCH CH340/CH341, 1a86:7523.
    case ch340
    /// WCH CH9102, 1a86:55d4.
    case ch9102
    /// FTDI FT232R / FT2232 / FT232H / FT230X, 0403:6001/6010/6014/6015.
    case ftdi
    /// Any other USB serial device.
    case other

    /// Classifies a USB VID:PID.
    public init(vendorID: UInt16, productID: UInt16) {
        switch (vendorID, productID) {
        case (0x303A, 0x1001): self = .espressifUSBSerialJTAG
        case (0x303A, _): self = .espressifTinyUSB
        case (0x10C4, 0xEA60): self = .cp210x
        case (0x1A86, 0x7523): self = .ch340
        case (0x1A86, 0x55D4): self = .ch9102
        case (0x0403, 0x6001), (0x0403, 0x6010), (0x0403, 0x6014), (0x0403, 0x6015): self = .ftdi
        default: self = .other
        }
    }

    /// The chip runs on Espressif silicon (its own USB peripheral), so it is an ESP32 for sure.
    public var isEspressif: Bool { self == .espressifUSBSerialJTAG || self == .espressifTinyUSB }

    /// A USB-UART bridge commonly found on ESP32 boards (the ESP32 sits behind it, maybe).
    public var isCommonUARTBridge: Bool { self == .cp210x || self == .ch340 || self == .ch9102 || self == .ftdi }

    /// Sort rank: Espressif first, then the common bridges, then the rest.
    public var rank: Int {
        switch self {
        case .espressifUSBSerialJTAG, .espressifTinyUSB: 0
        case .cp210x, .ch340, .ch9102, .ftdi: 1
        case .other: 2
        }
    }

    /// Human-readable name.
    public var displayName: String {
        switch self {
        case .espressifUSBSerialJTAG: "Espressif USB-Serial-JTAG"
        case .espressifTinyUSB: "Espressif TinyUSB CDC-ACM"
        case .cp210x: "Silicon Labs CP210x"
        case .ch340: "WCH CH340"
        case .ch9102: "WCH CH9102"
        case .ftdi: "FTDI"
        case .other: "USB serial"
        }
    }

    public var description: String { displayName }
}

/// A serial port with a USB parent, as udev describes it.
public struct SerialDevice: Sendable, Hashable, CustomStringConvertible {
    /// Device node, e.g. `/dev/ttyACM0`.
    public var devnode: String
    /// sysfs path of the tty device.
    public var syspath: String
    /// Kernel name, e.g. `ttyACM0`.
    public var sysname: String
    /// Every udev symlink (DEVLINKS).
    public var links: [String]
    /// USB vendor and product IDs.
    public var vendorID: UInt16
    public var productID: UInt16
    /// USB serial number (`iSerial`), when the device has one (CH340s do not).
    public var serialNumber: String?
    public var manufacturer: String?
    public var product: String?
    /// USB interface number of the tty (`bInterfaceNumber`), e.g. 0 for `-if00`.
    public var interfaceNumber: Int?
    /// The USB port path (the usb_device's kernel name, e.g. `1-1.4`): stable while the
    /// device stays in the same socket; identifies devices without a serial number.
    public var usbPort: String?
    /// Kernel driver of the USB interface (`cdc_acm`, `cp210x`, `ch341`, `ftdi_sio`), when known.
    public var driver: String?

    public init(devnode: String, syspath: String, sysname: String, links: [String] = [], vendorID: UInt16,
                productID: UInt16, serialNumber: String? = nil, manufacturer: String? = nil, product: String? = nil,
                interfaceNumber: Int? = nil, usbPort: String? = nil, driver: String? = nil) {
        self.devnode = devnode
        self.syspath = syspath
        self.sysname = sysname
        self.links = links
        self.vendorID = vendorID
        self.productID = productID
        self.serialNumber = serialNumber
        self.manufacturer = manufacturer
        self.product = product
        self.interfaceNumber = interfaceNumber
        self.usbPort = usbPort
        self.driver = driver
    }

    /// The stable `/dev/serial/by-id/...` link, if udev made one.
    public var byIDLink: String? { links.first { $0.hasPrefix("/dev/serial/by-id/") } }

    /// The `/dev/espnow-bridge-*` link made by `99-espnow-bridge.rules`, if installed.
    public var bridgeLink: String? { links.first { $0.hasPrefix("/dev/espnow-bridge") } }

    /// The guessed bridge chip.
    public var chip: BridgeChip { BridgeChip(vendorID: vendorID, productID: productID) }

    /// `303a:1001`.
    public var vidPid: String { hex4(vendorID) + ":" + hex4(productID) }

    /// Espressif silicon or a common ESP32 board bridge.
    public var isLikelyESP32: Bool { chip.rank < 2 }

    /// An identity for the physical dongle that survives a new /dev path: the USB serial
    /// number (with VID:PID and interface), else the USB port path (same socket).
    public var physicalID: String {
        let ifn = interfaceNumber.map { ":if\($0)" } ?? ""
        if let s = serialNumber, !s.isEmpty { return "usb:\(vidPid):\(s)\(ifn)" }
        return "port:\(usbPort ?? sysname)\(ifn)"
    }

    /// Whether `other` is the same physical dongle (see ``physicalID``).
    public func isSamePhysicalDevice(as other: SerialDevice) -> Bool { physicalID == other.physicalID }

    public var description: String {
        var s = "\(devnode) \(vidPid) \(chip.displayName)"
        if let m = manufacturer, let p = product { s += " \"\(m) \(p)\"" } else if let p = product { s += " \"\(p)\"" }
        if let n = serialNumber { s += " serial \(n)" }
        if let i = interfaceNumber { s += " if\(i)" }
        return s
    }
}

func hex4(_ v: UInt16) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 4 - h.count)) + h
}

/// Which devices ``SerialDiscovery/devices(matching:)`` returns.
public struct DeviceFilter: Sendable, Hashable {
    /// Keep only Espressif silicon and the common ESP32 board bridges.
    public var likelyESP32Only: Bool
    /// Keep only these chips (nil: any).
    public var chips: Set<BridgeChip>?
    /// Keep only this USB serial number.
    public var serialNumber: String?

    public init(likelyESP32Only: Bool = false, chips: Set<BridgeChip>? = nil, serialNumber: String? = nil) {
        self.likelyESP32Only = likelyESP32Only
        self.chips = chips
        self.serialNumber = serialNumber
    }

    /// Every USB serial device.
    public static let all = DeviceFilter()
    /// Espressif devices and the common ESP32 board bridges.
    public static let likelyESP32 = DeviceFilter(likelyESP32Only: true)

    public func matches(_ d: SerialDevice) -> Bool {
        if likelyESP32Only && !d.isLikelyESP32 { return false }
        if let c = chips, !c.contains(d.chip) { return false }
        if let s = serialNumber, d.serialNumber != s { return false }
        return true
    }
}

/// Errors of discovery and probing; each names the device and, when there is one, the fix.
public enum DiscoveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// libudev could not be initialised or a monitor could not be created.
    case udev(String)
    /// open(2) said EACCES/EPERM.
    case permissionDenied(path: String)
    /// Another program holds the port.
    case busy(path: String)
    /// The node vanished (unplugged between enumeration and open).
    case gone(path: String)
    /// Any other open/termios failure.
    case ioFailed(path: String, step: String, errno: Int32, reason: String)
    /// The probe was cancelled.
    case cancelled(path: String)

    public var description: String {
        switch self {
        case .udev(let s): "udev: \(s)"
        case .permissionDenied(let p):
            "permission denied opening \(p): install the udev rule (sudo cp firmware-bridge/99-espnow-bridge.rules "
                + "/etc/udev/rules.d/ && sudo udevadm control --reload && sudo udevadm trigger, then replug; "
                + "see firmware-bridge/README.md) or add yourself to the dialout group"
        case .busy(let p): "port busy: \(p) is open in another program (close idf.py monitor, screen, minicom, ...)"
        case .gone(let p): "device gone: \(p) disappeared (unplugged?)"
        case .ioFailed(let p, let step, let e, let r): "cannot use \(p): \(step) failed: \(r) (errno \(e))"
        case .cancelled(let p): "probe of \(p) cancelled"
        }
    }
}
