import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Reads the tty on a thread of its own and passes the bytes through a socket pair to the
/// SwiftNIO channel. SwiftNIO expects every readiness report to yield bytes; on a tty that
/// another process also reads (`cat PORT`, root ignoring TIOCEXCL) a report can find the
/// bytes already taken, which NIO does not tolerate. Here that is noticed, the culprit
/// named, and the link ended with ``SerialError/foreignReader(path:reader:)``.
final class ReadPump: @unchecked Sendable {
    /// The end the channel reads (non-blocking; the channel owns it).
    let channelFD: Int32
    private let ttyFD: Int32  // our own dup of the port, closed by the thread
    private let pumpFD: Int32  // our end of the pair, closed by the thread
    private let path: String
    private let failure: NIOLockedValueBox<SerialError?>
    /// Completed when the thread has closed its descriptors (the port's lock is then free).
    let exited: EventLoopPromise<Void>

    /// `tty` stays the caller's; the pump reads a duplicate of it.
    init(tty: Int32, path: String, failure: NIOLockedValueBox<SerialError?>, eventLoop: any EventLoop) throws(SerialError) {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw .configurationFailed(path: path, step: "socketpair", errno: errno)
        }
        let dup = fcntl(tty, F_DUPFD_CLOEXEC, 0)
        guard dup >= 0 else {
            let e = errno
            close(pair[0])
            close(pair[1])
            throw .configurationFailed(path: path, step: "dup", errno: e)
        }
        _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
        // A small buffer between the thread and the channel: when the channel stops reading
        // (backpressure) the thread soon stops reading the tty, and the dongle pushes back.
        var size: Int32 = 16384
        _ = setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(pair[0], SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        channelFD = pair[0]
        pumpFD = pair[1]
        ttyFD = dup
        self.path = path
        self.failure = failure
        exited = eventLoop.makePromise()
    }

    /// Before `start()`: nothing to wait for.
    func discard() {
        close(ttyFD)
        close(pumpFD)
        close(channelFD)
        exited.succeed()
    }

    func start() {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let pump = Unmanaged<ReadPump>.fromOpaque(arg!).takeRetainedValue()
            pump.run()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            failure.withLockedValue { $0 = $0 ?? .configurationFailed(path: path, step: "pthread_create", errno: rc) }
            close(ttyFD)
            close(pumpFD)  // the channel sees end of input and closes
            exited.succeed()
        } else {
            pthread_detach(thread)
        }
    }

    private func run() {
        defer {
            close(ttyFD)
            close(pumpFD)
            exited.succeed()
        }
        var buf = [UInt8](repeating: 0, count: 4096)
        var spurious = 0
        var lastLook = monotonicSeconds()
        while true {
            // A reader that opened the port while nothing was flowing is found by looking
            // now and then (a /proc scan every few seconds at most).
            let t = monotonicSeconds()
            if t - lastLook >= Self.lookInterval {
                lastLook = t
                if let who = PortUsers.foreignReaders(of: ttyFD).first {
                    failure.withLockedValue { $0 = $0 ?? .foreignReader(path: path, reader: who) }
                    return
                }
            }
            var fds = [pollfd(fd: ttyFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: pumpFD, events: Int16(POLLIN), revents: 0)]
            let r = poll(&fds, 2, Int32(Self.lookInterval * 1000))
            if r < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }  // the channel closed its end
            let ev = Int32(fds[0].revents)
            guard ev != 0 else { continue }
            let n = read(ttyFD, &buf, buf.count)
            if n > 0 {
                spurious = 0
                guard writeAll(buf, n) else { return }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN && ev & Int32(POLLIN) != 0 && ev & Int32(POLLHUP | POLLERR) == 0 {
                // Readable, yet nothing to read: someone else took the bytes.
                spurious += 1
                let readers = PortUsers.foreignReaders(of: ttyFD)
                if let who = readers.first {
                    failure.withLockedValue { $0 = $0 ?? .foreignReader(path: path, reader: who) }
                    return
                }
                if spurious >= 3 {
                    failure.withLockedValue { $0 = $0 ?? .foreignReader(path: path, reader: nil) }
                    return
                }
                continue
            }
            return  // EOF, EIO, HUP: the device is gone
        }
    }

    static let lookInterval = 2.0

    private func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Blocking write of `n` bytes to the channel's end; false once the channel is gone.
    private func writeAll(_ b: [UInt8], _ n: Int) -> Bool {
        var off = 0
        while off < n {
            let w = b.withUnsafeBytes { send(pumpFD, $0.baseAddress! + off, n - off, Int32(MSG_NOSIGNAL)) }
            if w < 0 {
                if errno == EINTR { continue }
                return false
            }
            off += w
        }
        return true
    }
}
