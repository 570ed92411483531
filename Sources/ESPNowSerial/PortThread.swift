import ESPNowWire
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// One thread per open port that owns its descriptor: it reads, splits and decodes the
/// frames and hands them to the owner right there (no second thread, no copy through a
/// socket), and finishes writes the port could not take at once. Writers write the port
/// directly from their own thread, in the order they call (one lock), so a request leaves
/// without waking anybody. Reading stops while the owner asks (backpressure): the tty's
/// buffer fills and the dongle pushes back.
///
/// The thread is also a `TaskExecutor`: a task that prefers it (a receive loop) runs between
/// reads on the thread that read its packets, so a packet reaches it without waking another
/// thread. Jobs that arrive once the port is closed go to the global executor.
///
/// A tty that another process also reads (`cat PORT`, root ignoring TIOCEXCL) can report
/// readable and then have nothing to read: that is noticed, the culprit named, and the link
/// ended with ``SerialError/foreignReader(path:reader:)``.
final class PortThread: @unchecked Sendable {
    private let fd: Int32
    /// A socket pair that ends the thread's poll: read end polled, write end written by `wake`.
    private let wakeFD: Int32
    private let wakeWriteFD: Int32
    private let path: String
    private let onInbound: InboundHandler
    private let onClose: @Sendable (SerialError) -> Void
    /// Completed when the thread has closed the port (its lock is then free for the next opener).
    let exited: EventLoopPromise<Void>

    private struct Shared {
        /// Bytes accepted by `write` that the port has not taken yet, in order.
        var pending: [UInt8] = []
        var pendingStart = 0
        var reading = true
        var closing = false
        /// False once the thread closed the descriptors: nothing may touch them any more.
        var open = true
        var failure: SerialError?
        /// The thread sleeps in poll(2) and must be woken for a change it would not see.
        var asleep = false
        /// Tasks' jobs to run on the thread (see ``enqueue(_:)``).
        var jobs: [UnownedJob] = []
        var thread: pthread_t?
    }

    private let shared = NIOLockedValueBox(Shared())

    /// Takes ownership of `fd` (closed by the thread, or by `start()` when no thread can be made).
    init(fd: Int32, path: String, eventLoop: any EventLoop, onInbound: @escaping InboundHandler,
         onClose: @escaping @Sendable (SerialError) -> Void) throws(SerialError) {
        var p: [Int32] = [-1, -1]
        // Close-on-exec from the start: a child started meanwhile must not hold it.
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        guard socketpair(AF_UNIX, type, 0, &p) == 0 else {
            throw .configurationFailed(path: path, step: "socketpair", errno: errno)
        }
        self.fd = fd
        wakeFD = p[0]
        wakeWriteFD = p[1]
        self.path = path
        self.onInbound = onInbound
        self.onClose = onClose
        exited = eventLoop.makePromise()
    }

    func start() throws(SerialError) {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let me = Unmanaged<PortThread>.fromOpaque(arg!).takeRetainedValue()
            me.run()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            shared.withLockedValue { s in
                s.open = false
                Glibc.close(fd)
                Glibc.close(wakeFD)
                Glibc.close(wakeWriteFD)
            }
            exited.succeed()
            throw .configurationFailed(path: path, step: "pthread_create", errno: rc)
        }
        pthread_detach(thread)
    }

    // MARK: - Any thread

    /// Writes `bytes` after everything written before. Never blocks and never calls back:
    /// what the port cannot take now is finished by the thread. After the link ended the
    /// bytes go nowhere (the owner has been, or is about to be, told through `onClose`).
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        shared.withLockedValue { s in
            guard s.open, !s.closing else { return }
            var done = 0
            if s.pending.isEmpty {
                // A refusal (EIO: the device is gone) is for the thread to find when it polls.
                done = writeSome(bytes).written
                if done == bytes.count { return }
            }
            s.pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[done...]))
            wake(&s)
        }
    }

    /// Stops or resumes reading the port.
    func setReading(_ on: Bool) {
        shared.withLockedValue { s in
            guard s.reading != on else { return }
            s.reading = on
            wake(&s)
        }
    }

    /// Ends the link: the owner gets `.closed`. Returns once the port is closed.
    func close() async {
        shared.withLockedValue { s in
            s.closing = true
            wake(&s)
        }
        try? await exited.futureResult.get()
    }

    /// Runs `body` with the descriptor while it is open (modem lines, baud rate).
    func withOpenDescriptor<T>(_ body: (Int32) throws -> T) rethrows -> T? {
        try shared.withLockedValue { s in s.open && !s.closing ? try body(fd) : nil }
    }

    /// Under the lock: the socket write that ends the thread's poll (only while it polls).
    private func wake(_ s: inout Shared) {
        guard s.asleep, s.open else { return }
        s.asleep = false
        var one: UInt8 = 1
        _ = Glibc.write(wakeWriteFD, &one, 1)
    }

    // MARK: - The thread

    /// Whether the caller runs on this port's thread.
    var isCurrent: Bool { shared.withLockedValue { $0.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false } }

    private func run() {
        shared.withLockedValue { $0.thread = pthread_self() }
        Self.nameThisThread()
        var buf = [UInt8](repeating: 0, count: 65536)
        var decoder = InboundDecoder()
        var items: [InboundDecoder.Item] = []
        var batch: [LinkInbound] = []
        let allocator = ByteBufferAllocator()
        var spurious = 0
        var lastLook = monotonicSeconds()
        var fds = [pollfd(fd: fd, events: 0, revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        var jobs: [UnownedJob] = []
        let me = asUnownedTaskExecutor()
        loop: while true {
            shared.withLockedValue { swap(&$0.jobs, &jobs) }
            for j in jobs { j.runSynchronously(on: me) }
            jobs.removeAll(keepingCapacity: true)
            let (reading, writing, closing, more) = shared.withLockedValue { s in
                s.asleep = s.jobs.isEmpty
                return (s.reading, !s.pending.isEmpty, s.closing, !s.jobs.isEmpty)
            }
            if closing { break }
            // A reader that opened the port while nothing was flowing is found by looking
            // now and then (a /proc scan every few seconds at most).
            let t = monotonicSeconds()
            if t - lastLook >= Self.lookInterval {
                lastLook = t
                if let who = PortUsers.foreignReaders(of: fd).first {
                    fail(.foreignReader(path: path, reader: who))
                    break
                }
            }
            fds[0].events = Int16((reading ? POLLIN : 0) | (writing ? POLLOUT : 0))
            fds[0].revents = 0
            fds[1].revents = 0
            // Jobs waiting: look at the port without sleeping, then run them.
            let r = poll(&fds, 2, more ? 0 : Int32(Self.lookInterval * 1000))
            shared.withLockedValue { $0.asleep = false }
            if r < 0 {
                if errno == EINTR { continue }
                break
            }
            if fds[1].revents != 0 {
                var v = (UInt64(0), UInt64(0))
                _ = read(wakeFD, &v, 16)
            }
            let ev = Int32(fds[0].revents)
            if ev & Int32(POLLOUT) != 0 && !flush() { break }
            // A hang-up is looked at even while reading is paused: the device is gone.
            guard ev & Int32(POLLIN | POLLHUP | POLLERR) != 0 else { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                spurious = 0
                items.removeAll(keepingCapacity: true)
                let arena = buf.withUnsafeBytes { b in
                    decoder.decode(UnsafeRawBufferPointer(rebasing: b[0..<n]), allocator: allocator, into: &items)
                }
                InboundDecoder.deliver(items, arena) { batch.append($0) }
                onInbound(batch)
                batch.removeAll(keepingCapacity: true)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN && ev & Int32(POLLIN) != 0 && ev & Int32(POLLHUP | POLLERR) == 0 {
                // Readable, yet nothing to read: someone else took the bytes.
                spurious += 1
                if let who = PortUsers.foreignReaders(of: fd).first {
                    fail(.foreignReader(path: path, reader: who))
                    break
                }
                if spurious >= 3 {
                    fail(.foreignReader(path: path, reader: nil))
                    break
                }
                continue
            }
            break  // EOF, EIO, HUP: the device is gone
        }
        let (reason, left): (SerialError, [UnownedJob]) = shared.withLockedValue { s in
            s.open = false
            s.thread = nil
            Glibc.close(fd)
            Glibc.close(wakeFD)
            Glibc.close(wakeWriteFD)
            defer { s.jobs = [] }
            return (s.closing ? .closed(path: path) : s.failure ?? .unplugged(path: path), s.jobs)
        }
        for j in left { globalConcurrentExecutor.enqueue(ExecutorJob(j)) }
        onClose(reason)
        exited.succeed()
    }

    /// "espnow-port" in `top -H`, `ps -L`, perf and debuggers (Glibc's pthread_setname_np is
    /// not imported into Swift; the kernel's own file does the same).
    private static func nameThisThread() {
        let f = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard f >= 0 else { return }
        let name = Array("espnow-port".utf8)
        _ = name.withUnsafeBytes { Glibc.write(f, $0.baseAddress, $0.count) }
        Glibc.close(f)
    }

    private func fail(_ e: SerialError) {
        shared.withLockedValue { $0.failure = $0.failure ?? e }
    }

    /// Writes what is pending; false when the port refuses for good.
    private func flush() -> Bool {
        shared.withLockedValue { s in
            let (n, refused) = s.pending.withUnsafeBytes { writeSome(UnsafeRawBufferPointer(rebasing: $0[s.pendingStart...])) }
            s.pendingStart += n
            guard s.pendingStart == s.pending.count else { return !refused }
            s.pending.removeAll(keepingCapacity: true)
            s.pendingStart = 0
            return true
        }
    }

    /// Writes as much of `bytes` as the port takes now (retrying interrupted writes).
    /// `refused`: it stopped on an error other than a full buffer (EAGAIN).
    private func writeSome(_ bytes: UnsafeRawBufferPointer) -> (written: Int, refused: Bool) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return (done, !(n < 0 && errno == EAGAIN))
            }
        }
        return (done, false)
    }

    static let lookInterval = 2.0

    private func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

extension PortThread: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        let queued = shared.withLockedValue { s -> Bool in
            guard s.open else { return false }
            s.jobs.append(j)
            wake(&s)
            return true
        }
        if !queued { globalConcurrentExecutor.enqueue(ExecutorJob(j)) }
    }
}
