import CUdev
import ESPNowWire
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// What a bridge dongle says about itself in its HELLO (PROTOCOL.md section 7.1).
public struct BridgeHello: Sendable, Hashable, CustomStringConvertible {
    public var protocolVersion: UInt8
    public var firmwareVersion: String
    public var chipModel: UInt16
    public var chipRevision: UInt16
    public var espnowVersion: UInt32
    public var maxPayload: UInt16
    public var staMAC: MACAddress
    public var apMAC: MACAddress
    public var caps: UInt32
    public var resetReason: UInt8
    public var bootCount: UInt32
    public var transport: UInt8
    public var baud: UInt32
    public var idfVersion: String
    /// True when the HELLO came as the boot event rather than the answer to our request.
    public var fromBootEvent: Bool

    /// Reads the decoded fields of a HELLO response or event; nil if a field is missing.
    public init?(fields f: [String: FieldValue], fromBootEvent: Bool) {
        func u(_ k: String) -> UInt64? { f[k]?.uintValue }
        guard let pv = u("proto_version"), let ma = u("fw_major"), let mi = u("fw_minor"), let pa = u("fw_patch"),
              let cm = u("chip_model"), let cr = u("chip_revision"), let ev = u("espnow_version"),
              let mp = u("max_payload"), case .mac(let sta)? = f["sta_mac"], case .mac(let ap)? = f["ap_mac"],
              let caps = u("caps"), let rr = u("reset_reason"), let bc = u("boot_count"),
              let tr = u("transport"), let baud = u("baud")
        else { return nil }
        protocolVersion = UInt8(truncatingIfNeeded: pv)
        firmwareVersion = "\(ma).\(mi).\(pa)"
        chipModel = UInt16(truncatingIfNeeded: cm)
        chipRevision = UInt16(truncatingIfNeeded: cr)
        espnowVersion = UInt32(truncatingIfNeeded: ev)
        maxPayload = UInt16(truncatingIfNeeded: mp)
        staMAC = sta
        apMAC = ap
        self.caps = UInt32(truncatingIfNeeded: caps)
        resetReason = UInt8(truncatingIfNeeded: rr)
        bootCount = UInt32(truncatingIfNeeded: bc)
        transport = UInt8(truncatingIfNeeded: tr)
        self.baud = UInt32(truncatingIfNeeded: baud)
        switch f["idf_version"] {
        case .string(let s)?: idfVersion = s
        case .bytes(let b)?: idfVersion = Hex.encode(b)
        default: idfVersion = ""
        }
        self.fromBootEvent = fromBootEvent
    }

    /// `ESP32-C3`, ..., `simulator`, or `chip 0x....`.
    public var chipName: String {
        switch chipModel {
        case 1: "ESP32"
        case 2: "ESP32-S2"
        case 9: "ESP32-S3"
        case 5: "ESP32-C3"
        case 12: "ESP32-C2"
        case 13: "ESP32-C6"
        case 16: "ESP32-H2"
        case 18: "ESP32-P4"
        case 23: "ESP32-C5"
        case 0x8000: "simulator"
        default: "chip 0x" + hex4(chipModel)
        }
    }

    /// `USB-Serial-JTAG`, `TinyUSB CDC-ACM`, `UART`, `simulator pty`.
    public var transportName: String {
        switch transport {
        case 0: "USB-Serial-JTAG"
        case 1: "TinyUSB CDC-ACM"
        case 2: "UART"
        case 3: "simulator pty"
        default: "transport \(transport)"
        }
    }

    public var description: String {
        "bridge firmware \(firmwareVersion) (protocol v\(protocolVersion)) on \(chipName) rev \(chipRevision), "
            + "ESP-NOW v\(espnowVersion) max \(maxPayload) B, STA \(staMAC) AP \(apMAC), \(transportName)"
            + (idfVersion.isEmpty ? "" : ", ESP-IDF \(idfVersion)")
    }
}

/// What a probe found on a port.
public enum ProbeOutcome: Sendable, Hashable, CustomStringConvertible {
    /// Our bridge firmware answered with a HELLO.
    case bridge(BridgeHello)
    /// Our bridge firmware, but another protocol version (reflash needed).
    case foreignProtocol(ForeignHello)
    /// No HELLO within the timeout: not our firmware (or the board is in its bootloader,
    /// or a UART bridge at another baud rate). `bytesReceived` counts what it did send.
    case noAnswer(bytesReceived: Int, validFrames: Int)
    /// The port could not be probed.
    case failed(DiscoveryError)

    public var isBridge: Bool { if case .bridge = self { true } else { false } }

    public var description: String {
        switch self {
        case .bridge(let h): h.description
        case .foreignProtocol(let f): f.description
        case .noAnswer(let n, _):
            n == 0 ? "not a bridge dongle: no answer to HELLO" : "not a bridge dongle: no HELLO (\(n) other bytes received)"
        case .failed(let e): e.description
        }
    }
}

/// A device with the outcome of its probe.
public struct ProbedDevice: Sendable, Hashable {
    public var device: SerialDevice
    public var outcome: ProbeOutcome
    public init(device: SerialDevice, outcome: ProbeOutcome) {
        self.device = device
        self.outcome = outcome
    }
}

/// How to probe.
public struct ProbeOptions: Sendable, Hashable {
    /// How long to wait for a HELLO.
    public var timeout: Duration
    /// Rate for UART bridges (the firmware's default `BRIDGE_UART_BAUD`); USB CDC ignores it.
    public var baudRate: Int
    public init(timeout: Duration = .milliseconds(500), baudRate: Int = 921_600) {
        self.timeout = timeout
        self.baudRate = baudRate
    }
}

/// Asks a port whether it runs the bridge firmware, without resetting the board: the
/// port is opened `O_NONBLOCK | O_NOCTTY`, made raw with HUPCL cleared, DTR/RTS are never
/// touched; a `0x00` and a HELLO request are sent and the reply awaited.
public enum SerialProbe {
    /// Probes `path` on a dedicated thread (blocking I/O stays off the cooperative pool).
    /// Task cancellation ends the probe promptly with `.failed(.cancelled)`.
    public static func probe(path: String, options: ProbeOptions = ProbeOptions()) async -> ProbeOutcome {
        let cancel: CancelSignal
        do { cancel = try CancelSignal() } catch { return .failed(error) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<ProbeOutcome, Never>) in
                let t = Thread {
                    let r = probeBlocking(path: path, options: options, cancelFD: cancel.fd)
                    cancel.close()
                    cont.resume(returning: r)
                }
                t.name = "espnow-probe"
                t.start()
            }
        } onCancel: {
            cancel.fire()
        }
    }

    /// Probes several devices concurrently (one thread each).
    public static func probe(_ devices: [SerialDevice], options: ProbeOptions = ProbeOptions()) async -> [ProbedDevice] {
        await withTaskGroup(of: (Int, ProbeOutcome).self) { g in
            for (i, d) in devices.enumerated() {
                g.addTask { (i, await probe(path: d.devnode, options: options)) }
            }
            var out = [ProbeOutcome?](repeating: nil, count: devices.count)
            for await (i, r) in g { out[i] = r }
            return zip(devices, out).map { ProbedDevice(device: $0, outcome: $1 ?? .failed(.cancelled(path: $0.devnode))) }
        }
    }

    /// The blocking probe. `cancelFD`, when readable, aborts it.
    public static func probeBlocking(path: String, options: ProbeOptions = ProbeOptions(), cancelFD: Int32 = -1) -> ProbeOutcome {
        let fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return .failed(openError(path: path, errno: errno)) }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            return .failed(e == EWOULDBLOCK ? .busy(path: path) : ioError(path, "flock", e))
        }
        if let e = configureRaw(fd: fd, path: path, baud: options.baudRate) { return .failed(e) }

        let id = UInt16.random(in: 1...UInt16.max)
        var out: [UInt8] = [0x00]
        guard let hello = try? Message.request(.hello, id: id).encoded() else {
            return .failed(.ioFailed(path: path, step: "encoding HELLO", errno: 0, reason: "codec error"))
        }
        out += hello

        let deadline = ContinuousClock.now + options.timeout
        var written = 0
        var splitter = FrameSplitter(accepting: .fromDevice)
        var received = 0
        var validFrames = 0
        var buf = [UInt8](repeating: 0, count: 2048)

        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { return .noAnswer(bytesReceived: received, validFrames: validFrames) }
            let ms = Int32(clamping: max(1, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000))
            var fds = [pollfd(fd: fd, events: Int16(POLLIN) | (written < out.count ? Int16(POLLOUT) : 0), revents: 0),
                       pollfd(fd: cancelFD, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, cancelFD >= 0 ? 2 : 1, ms)
            if n < 0 {
                if errno == EINTR { continue }
                return .failed(ioError(path, "poll", errno))
            }
            if cancelFD >= 0 && fds[1].revents != 0 { return .failed(.cancelled(path: path)) }
            let rev = fds[0].revents
            if rev & Int16(POLLOUT) != 0 && written < out.count {
                let w = out[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if w > 0 {
                    written += w
                } else if w < 0 && errno != EAGAIN && errno != EINTR {
                    let e = errno
                    return .failed(e == EIO || e == ENODEV || e == ENXIO ? .gone(path: path) : ioError(path, "write", e))
                }
            }
            if rev & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let r = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if r < 0 {
                    let e = errno
                    if e == EAGAIN || e == EINTR { continue }
                    return .failed(e == EIO || e == ENODEV || e == ENXIO ? .gone(path: path) : ioError(path, "read", e))
                }
                if r == 0 {
                    if rev & Int16(POLLHUP | POLLERR) != 0 { return .failed(.gone(path: path)) }
                    continue
                }
                received += r
                var found: BridgeHello?
                buf.withUnsafeBytes { b in
                    splitter.feed(UnsafeRawBufferPointer(rebasing: b[0..<r])) { result in
                        guard case .success(let frame) = result else { return }
                        validFrames += 1
                        guard found == nil else { return }
                        let isAnswer = frame.kind == .response && frame.code == CommandCode.hello.rawValue && frame.id == id
                        let isBoot = frame.kind == .event && frame.code == EventCode.hello.rawValue
                        guard isAnswer || isBoot, let m = try? Message(frame: frame) else { return }
                        if isAnswer && m.err != .ok { return }
                        found = BridgeHello(fields: m.fields, fromBootEvent: isBoot)
                    }
                }
                if let h = found { return .bridge(h) }
                if let f = splitter.lastForeignHello { return .foreignProtocol(f) }
            }
        }
    }

    static func openError(path: String, errno e: Int32) -> DiscoveryError {
        switch e {
        case EACCES, EPERM: .permissionDenied(path: path)
        case EBUSY: .busy(path: path)
        case ENOENT, ENODEV, ENXIO: .gone(path: path)
        default: ioError(path, "open", e)
        }
    }

    static func ioError(_ path: String, _ step: String, _ e: Int32) -> DiscoveryError {
        .ioFailed(path: path, step: step, errno: e, reason: String(cString: strerror(e)))
    }

    /// Raw 8N1, no flow control, HUPCL off (closing must not drop DTR/RTS: that resets
    /// ESP32 boards). Modem lines are not touched.
    static func configureRaw(fd: Int32, path: String, baud: Int) -> DiscoveryError? {
        var t = termios()
        guard tcgetattr(fd, &t) == 0 else {
            let e = errno
            return e == ENOTTY ? .ioFailed(path: path, step: "tcgetattr", errno: e, reason: "not a serial port")
                : ioError(path, "tcgetattr", e)
        }
        cfmakeraw(&t)
        t.c_cflag |= tcflag_t(CLOCAL) | tcflag_t(CREAD)
        t.c_cflag &= ~(tcflag_t(CSTOPB) | tcflag_t(PARENB) | tcflag_t(CRTSCTS) | tcflag_t(HUPCL))
        t.c_iflag &= ~(tcflag_t(IXON) | tcflag_t(IXOFF) | tcflag_t(IXANY))
        if let speed = standardSpeed(baud) {
            cfsetispeed(&t, speed)
            cfsetospeed(&t, speed)
        }
        guard tcsetattr(fd, TCSANOW, &t) == 0 else { return ioError(path, "tcsetattr", errno) }
        return nil
    }

    static func standardSpeed(_ baud: Int) -> speed_t? {
        switch baud {
        case 9600: speed_t(B9600)
        case 19200: speed_t(B19200)
        case 38400: speed_t(B38400)
        case 57600: speed_t(B57600)
        case 115_200: speed_t(B115200)
        case 230_400: speed_t(B230400)
        case 460_800: speed_t(B460800)
        case 921_600: speed_t(B921600)
        case 1_500_000: speed_t(B1500000)
        case 2_000_000: speed_t(B2000000)
        default: nil
        }
    }
}

/// An eventfd that wakes a blocked poll(2); safe against firing after close.
final class CancelSignal: Sendable {
    let fd: Int32
    private let open = NIOLockedValueBox(true)

    init() throws(DiscoveryError) {
        fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        if fd < 0 { throw .ioFailed(path: "eventfd", step: "eventfd", errno: errno, reason: String(cString: strerror(errno))) }
    }

    func fire() {
        open.withLockedValue { isOpen in
            if isOpen { _ = eventfd_write(fd, 1) }
        }
    }

    func close() {
        open.withLockedValue { isOpen in
            if isOpen { Glibc.close(fd) }
            isOpen = false
        }
    }

    deinit { close() }
}
