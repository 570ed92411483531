import ESPNowWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// An open serial link to a dongle. A ``PortThread`` owns the tty: it reads, decodes and
/// hands frames and drops to `onInbound` on its own thread, in order; writes go to the port
/// directly from the writer's thread. `onClose` is called once when the link ends
/// (`.unplugged` for EIO/HUP, `.closed` when this process closed it, `.foreignReader` when
/// another program reads the port), after the last `onInbound`.
public final class SerialLink: Sendable {
    public let path: String
    public let options: SerialOptions
    /// False on ports without DTR/RTS (pseudo-terminals).
    public let hasModemLines: Bool
    /// For the owner's timers; the link itself runs nothing on it.
    public let eventLoop: any EventLoop
    public let allocator = ByteBufferAllocator()
    let port: PortThread

    private init(path: String, options: SerialOptions, hasModemLines: Bool, eventLoop: any EventLoop, port: PortThread) {
        self.path = path
        self.options = options
        self.hasModemLines = hasModemLines
        self.eventLoop = eventLoop
        self.port = port
    }

    /// Opens `path` (a tty, a `/dev/serial/by-id/...` link, or a simulator pty).
    public static func open(path: String, options: SerialOptions = SerialOptions(),
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            onInbound: @escaping InboundHandler,
                            onClose: @escaping @Sendable (SerialError) -> Void) async throws -> SerialLink {
        let (fd, modem) = try PosixSerialPort.open(path: path, options: options)
        let loop = group.next()
        let port: PortThread
        do {
            port = try PortThread(fd: fd, path: path, eventLoop: loop, onInbound: onInbound, onClose: onClose)
        } catch {
            Glibc.close(fd)
            throw error
        }
        try port.start()
        return SerialLink(path: path, options: options, hasModemLines: modem, eventLoop: loop, port: port)
    }

    /// Writes `message` after everything written before; never blocks, never calls back.
    /// Errors after a close are reported through `onClose`.
    public func write(_ message: LinkOutbound) {
        switch message {
        case .encoded(let b):
            b.withUnsafeReadableBytes { port.write($0) }
        case .frame(let f):
            var wire: [UInt8] = []
            // A frame that cannot be encoded was refused by its layout before it got here.
            guard (try? f.encode(into: &wire)) != nil else { return }
            wire.withUnsafeBytes { port.write($0) }
        }
    }

    /// Writes raw bytes (the handshake's lone `0x00`).
    public func writeRaw(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { port.write($0) }
    }

    /// Closes the port (idempotent). `onClose` gets `.closed`. Returns once the port is
    /// free for the next opener.
    public func close() async {
        await port.close()
    }

    /// Pulses the lines the way the ESP32 auto-reset circuit and USB-Serial-JTAG expect
    /// (EN low through RTS with DTR off, then released), then restores the levels chosen on
    /// open. Returns false when the port has no modem lines (a pty).
    @discardableResult
    public func hardReset(pulse: TimeAmount = .milliseconds(100)) async throws -> Bool {
        guard hasModemLines,
              port.withOpenDescriptor({ PosixSerialPort.setModemLines(fd: $0, dtr: false, rts: true) }) == true else {
            return false
        }
        try await Task.sleep(nanoseconds: UInt64(pulse.nanoseconds))
        _ = port.withOpenDescriptor { fd in
            PosixSerialPort.setModemLines(fd: fd, dtr: false, rts: false)
            PosixSerialPort.setModemLines(fd: fd, dtr: options.dtr, rts: options.rts)
        }
        return true
    }

    /// Stops or resumes reading (any thread). Stopped, the tty's buffer fills and the dongle
    /// pushes back; frames already read are still delivered.
    public func setReading(_ on: Bool) {
        port.setReading(on)
    }

    /// Changes the host side's baud rate (after a SET_BAUD response).
    public func setBaudRate(_ baud: Int) throws {
        try port.withOpenDescriptor { fd in try PosixSerialPort.setBaud(fd: fd, path: path, baud: baud) }
    }
}
