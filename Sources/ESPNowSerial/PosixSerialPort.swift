#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The POSIX side of a serial port: open, lock, raw 8N1, baud rate, modem lines.
/// Owns nothing after ``SerialLink`` hands the descriptor to SwiftNIO.
enum PosixSerialPort {
    // Linux ioctl numbers (asm-generic/ioctls.h, same on x86_64 and arm64).
    static let TIOCEXCL: UInt = 0x540C
    static let TIOCMGET: UInt = 0x5415
    static let TIOCMSET: UInt = 0x5418
    static let TIOCM_DTR: Int32 = 0x002
    static let TIOCM_RTS: Int32 = 0x004
    // struct termios2 is 44 bytes: 4 tcflag_t, c_line, c_cc[19], c_ispeed, c_ospeed.
    static let termios2Size = 44
    static let TCGETS2: UInt = 0x802C_542A  // _IOR('T', 0x2A, struct termios2)
    static let TCSETS2: UInt = 0x402C_542B  // _IOW('T', 0x2B, struct termios2)
    static let CBAUD: UInt32 = 0o010017
    static let BOTHER: UInt32 = 0o010000

    /// Opens `path` non-blocking, exclusive, raw 8N1 at `options.baudRate`, with DTR/RTS
    /// set as asked. Returns the descriptor and whether the port has modem lines.
    static func open(path: String, options: SerialOptions) throws(SerialError) -> (fd: Int32, modemLines: Bool) {
        guard options.baudRate > 0 else { throw .unsupportedBaudRate(options.baudRate) }
        let fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == EBUSY { throw .portBusy(path: path) }
            throw .openFailed(path: path, errno: e, reason: String(cString: strerror(e)))
        }
        do throws(SerialError) {
            if options.exclusive {
                // flock first: it works for every user, TIOCEXCL does not stop root.
                if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                    let e = errno
                    if e == EWOULDBLOCK { throw SerialError.portBusy(path: path) }
                    throw SerialError.configurationFailed(path: path, step: "flock", errno: e)
                }
                _ = ioctl(fd, TIOCEXCL, 0)
                // Programs that take no lock (cat, root terminal programs) would steal bytes.
                if let who = PortUsers.foreignReaders(of: fd).first { throw SerialError.foreignReader(path: path, reader: who) }
            }
            try configureRaw(fd: fd, path: path, baud: options.baudRate)
            let modem = setModemLines(fd: fd, dtr: options.dtr, rts: options.rts)
            return (fd, modem)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Raw 8N1, no flow control, reads return what is there (VMIN 1 / VTIME 0 is moot:
    /// the descriptor is non-blocking and driven by epoll). HUPCL off so that closing the
    /// port does not drop DTR/RTS (which would reset some boards).
    static func configureRaw(fd: Int32, path: String, baud: Int) throws(SerialError) {
        var t = termios()
        guard tcgetattr(fd, &t) == 0 else { throw .configurationFailed(path: path, step: "tcgetattr", errno: errno) }
        cfmakeraw(&t)
        t.c_cflag |= tcflag_t(CLOCAL) | tcflag_t(CREAD)
        t.c_cflag &= ~(tcflag_t(CSTOPB) | tcflag_t(PARENB) | tcflag_t(CRTSCTS) | tcflag_t(HUPCL))
        t.c_iflag &= ~(tcflag_t(IXON) | tcflag_t(IXOFF) | tcflag_t(IXANY))
        guard tcsetattr(fd, TCSANOW, &t) == 0 else { throw .configurationFailed(path: path, step: "tcsetattr", errno: errno) }
        try setBaud(fd: fd, path: path, baud: baud)
    }

    /// Any rate through termios2 + BOTHER (the kernel picks the nearest divisor the UART has).
    static func setBaud(fd: Int32, path: String, baud: Int) throws(SerialError) {
        guard let speed = UInt32(exactly: baud), speed > 0 else { throw .unsupportedBaudRate(baud) }
        #if os(Linux) && (arch(x86_64) || arch(arm64))
        var t2 = [UInt8](repeating: 0, count: termios2Size)
        let ok: Bool = t2.withUnsafeMutableBytes { b in
            guard ioctl(fd, TCGETS2, b.baseAddress!) == 0 else { return false }
            var cflag = b.load(fromByteOffset: 8, as: UInt32.self)
            cflag &= ~CBAUD
            cflag |= BOTHER
            b.storeBytes(of: cflag, toByteOffset: 8, as: UInt32.self)
            b.storeBytes(of: speed, toByteOffset: 36, as: UInt32.self)  // c_ispeed
            b.storeBytes(of: speed, toByteOffset: 40, as: UInt32.self)  // c_ospeed
            return ioctl(fd, TCSETS2, b.baseAddress!) == 0
        }
        if !ok { throw .configurationFailed(path: path, step: "TCSETS2 (baud \(baud))", errno: errno) }
        #else
        var t = termios()
        guard tcgetattr(fd, &t) == 0, cfsetspeed(&t, speed_t(baud)) == 0, tcsetattr(fd, TCSANOW, &t) == 0 else {
            throw .unsupportedBaudRate(baud)
        }
        #endif
    }

    /// Sets DTR and RTS together in one TIOCMSET, so they never pass through a reset state.
    /// Returns false on a port without modem lines (a pty answers ENOTTY/EINVAL).
    @discardableResult
    static func setModemLines(fd: Int32, dtr: Bool, rts: Bool) -> Bool {
        var bits: Int32 = 0
        guard withUnsafeMutableBytes(of: &bits, { ioctl(fd, TIOCMGET, $0.baseAddress!) }) == 0 else { return false }
        bits &= ~(TIOCM_DTR | TIOCM_RTS)
        if dtr { bits |= TIOCM_DTR }
        if rts { bits |= TIOCM_RTS }
        return withUnsafeMutableBytes(of: &bits, { ioctl(fd, TIOCMSET, $0.baseAddress!) }) == 0
    }
}
