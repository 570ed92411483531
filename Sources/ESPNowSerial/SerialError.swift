/// Errors of the serial link. Each names the port so that a user with several
/// dongles knows which one failed.
public enum SerialError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another process holds the port (TIOCEXCL or the advisory lock).
    case portBusy(path: String)
    /// `open(2)` failed for another reason (no such device, permission...).
    case openFailed(path: String, errno: Int32, reason: String)
    /// The port opened but could not be configured (termios, ioctl).
    case configurationFailed(path: String, step: String, errno: Int32)
    /// The device went away while open (EIO / HUP: unplugged, or the simulator died).
    case unplugged(path: String)
    /// The link was closed by this process.
    case closed(path: String)
    /// The requested baud rate is not usable.
    case unsupportedBaudRate(Int)
    /// Another program reads the port (found at open, or when it took bytes mid-run);
    /// `reader` is nil when `/proc` does not say who.
    case foreignReader(path: String, reader: PortUsers.Reader?)

    public var description: String {
        switch self {
        case .portBusy(let p): "port busy: \(p) (another program has it open)"
        case .openFailed(let p, let e, let r): "cannot open \(p): \(r) (errno \(e))"
        case .configurationFailed(let p, let s, let e): "cannot configure \(p): \(s) failed (errno \(e))"
        case .unplugged(let p): "device unplugged: \(p)"
        case .closed(let p): "link closed: \(p)"
        case .unsupportedBaudRate(let b): "unsupported baud rate \(b)"
        case .foreignReader(let p, let r?): "another program is reading \(p) (\(r)): close it"
        case .foreignReader(let p, nil): "another program is reading \(p): close it"
        }
    }
}

/// How to open a port. Portable description; applied by the POSIX layer.
public struct SerialOptions: Sendable, Hashable {
    /// Any positive rate; non-standard rates use termios2/BOTHER on Linux.
    /// USB CDC and USB-Serial-JTAG ignore it.
    public var baudRate: Int
    /// DTR and RTS levels set on open, in one ioctl, so the lines never pass through the
    /// "RTS on, DTR off" state that resets an ESP32 auto-reset circuit or an ESP32-C3/S3
    /// USB-Serial-JTAG. Linux raises both on open, so the default (both on) changes nothing.
    public var dtr: Bool
    public var rts: Bool
    /// Take the advisory lock and TIOCEXCL (refuse a second opener).
    public var exclusive: Bool

    public init(baudRate: Int = 115_200, dtr: Bool = true, rts: Bool = true, exclusive: Bool = true) {
        self.baudRate = baudRate
        self.dtr = dtr
        self.rts = rts
        self.exclusive = exclusive
    }
}
