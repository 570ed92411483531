import BuiltProducts
import ESPNowWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A client speaking the protocol by hand on a blocking Unix socket: for clients that
/// misbehave (stop reading, send garbage) in ways the device client never would.
final class RawClient: @unchecked Sendable {
    let fd: Int32
    private var splitter = FrameSplitter(accepting: .fromDevice)

    init(socket path: String) throws {
        fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let b = Array(path.utf8)
            for (i, c) in b.enumerated() where i < raw.count - 1 { raw[i] = c }
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // Small receive buffer: a client that stops reading fills it quickly.
        var size: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { Glibc.close(fd) }

    func write(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            off += n
        }
    }

    func send(_ frame: Frame) throws { write(try frame.encoded()) }

    /// Reads what is there (waiting up to `timeoutMs` for the first byte) and returns the
    /// frames it completes.
    func read(timeoutMs: Int32 = 20_000) -> [Frame] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMs) > 0 else { return [] }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return [] }
        var out: [Frame] = []
        buf.withUnsafeBytes { raw in
            splitter.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n])) { r in
                if case .success(let v) = r { out.append(v.copy()) }
            }
        }
        return out
    }

    /// Reads until a response with `id` arrives (hang guard: `tries` reads).
    func response(id: UInt16, tries: Int = 10) -> Frame? {
        for _ in 0..<tries {
            if let f = read().first(where: { $0.kind == .response && $0.id == id }) { return f }
        }
        return nil
    }

    static func err(_ f: Frame) -> Int32 {
        guard f.body.count >= 4 else { return Int32.min }
        return Int32(bitPattern: UInt32(f.body[0]) | UInt32(f.body[1]) << 8 | UInt32(f.body[2]) << 16 | UInt32(f.body[3]) << 24)
    }
}

/// The built `espnow` binary next to the test bundle.
let espnowBinary = BuiltProducts.path("espnow")
