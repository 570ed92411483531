#if canImport(Glibc)
import Glibc
#endif

/// Who else has a serial port open, from `/proc/*/fd` (as far as this user may look).
/// The exclusive locks only stop programs that ask for them; `cat PORT` or a terminal
/// program opened as root reads the port anyway and steals the dongle's bytes.
public enum PortUsers {
    /// A process that has the port open for reading.
    public struct Reader: Sendable, Hashable, CustomStringConvertible {
        public var pid: Int32
        public var name: String
        public var description: String { "pid \(pid), \(name)" }
        public init(pid: Int32, name: String) {
            self.pid = pid
            self.name = name
        }
    }

    /// Other processes that have the device behind `fd` open for reading. The process
    /// that created a pseudo-terminal (it holds the master: the simulator) is its other
    /// end, not a competing reader, and is left out; so is a child of this process that
    /// holds the port only through close-on-exec descriptors (forked, not yet exec'd: its
    /// copy of our descriptors goes at its exec).
    public static func foreignReaders(of fd: Int32) -> [Reader] {
        var st = stat()
        guard isatty(fd) == 1, fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFCHR else { return [] }
        let rdev = st.st_rdev
        let ptyIndex = ptySlaveIndex(fd: fd)
        let me = getpid()
        var readers: [Reader] = []
        guard let proc = opendir("/proc") else { return [] }
        defer { closedir(proc) }
        while let e = readdir(proc) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = Int32(name), pid != me else { continue }
            var reads = false
            var readsOnlyUntilExec = true
            var ownsPty = false
            forEachDescriptor(pid: pid) { fdPath, fdinfoPath in
                // Only device nodes: a stat() on other targets (network file systems) may block.
                guard readLink(fdPath)?.hasPrefix("/dev/") == true else { return }
                var s = stat()
                guard stat(fdPath, &s) == 0, (s.st_mode & S_IFMT) == S_IFCHR else { return }
                let fdinfo = readSmallFile(fdinfoPath) ?? ""
                if s.st_rdev == rdev {
                    let flags = fdinfoValue(fdinfo, "flags").flatMap { Int($0, radix: 8) } ?? Int(O_RDWR)
                    if flags & Int(O_ACCMODE) != Int(O_WRONLY) {
                        reads = true
                        if flags & Int(O_CLOEXEC) == 0 { readsOnlyUntilExec = false }
                    }
                } else if let idx = ptyIndex, let t = fdinfoValue(fdinfo, "tty-index"), Int(t) == idx {
                    ownsPty = true
                }
            }
            guard reads && !ownsPty else { continue }
            if readsOnlyUntilExec && parentPID(pid) == me { continue }
            readers.append(Reader(pid: pid, name: processName(pid)))
        }
        return readers
    }

    /// The `N` of `/dev/pts/N` for a pty slave, else nil.
    static func ptySlaveIndex(fd: Int32) -> Int? {
        guard let target = readLink("/proc/self/fd/\(fd)"), target.hasPrefix("/dev/pts/") else { return nil }
        return Int(target.dropFirst("/dev/pts/".count))
    }

    private static func forEachDescriptor(pid: Int32, _ body: (String, String) -> Void) {
        guard let dir = opendir("/proc/\(pid)/fd") else { return }  // gone, or not ours to look at
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard Int(n) != nil else { continue }
            body("/proc/\(pid)/fd/\(n)", "/proc/\(pid)/fdinfo/\(n)")
        }
    }

    private static func fdinfoValue(_ text: String, _ key: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.dropFirst(key.count + 1).trimmingCharacters(in: " \t")
        }
        return nil
    }

    static func parentPID(_ pid: Int32) -> Int32? {
        guard let status = readSmallFile("/proc/\(pid)/status") else { return nil }
        return fdinfoValue(status, "PPid").flatMap { Int32($0) }
    }

    static func processName(_ pid: Int32) -> String {
        let comm = readSmallFile("/proc/\(pid)/comm")?.trimmingCharacters(in: " \n") ?? ""
        return comm.isEmpty ? "?" : comm
    }

    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1024)
        while out.count < 16384 {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            out += buf.prefix(n)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String { self[...].trimmingCharacters(in: set) }
}
