import Foundation
import GatewayTestSupport
import Testing

/// The server tools/pgtest.sh starts outlives the call, so it must hold none of this
/// process's descriptors: a pipe it kept open never reaches EOF for its reader, and a
/// Foundation child-exit socket it kept open makes Process.waitUntilExit spin forever.
@Suite("test PostgreSQL server")
struct TestPGTests {
    @Test func serverInheritsNoDescriptorOfTheTestProcess() throws {
        // An ordinary inheritable pipe, as Foundation's Pipe and child-exit socket are.
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let pipeTarget = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fds[1])")

        let dir = "/tmp/espnow-pg-fd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try TestPG.run(["start", dir])
        defer { _ = try? TestPG.run(["destroy", dir]) }

        let pidLine = try String(contentsOfFile: "\(dir)/data/postmaster.pid", encoding: .utf8)
            .split(separator: "\n").first.map(String.init) ?? ""
        let postmaster = try #require(Int32(pidLine.trimmingCharacters(in: .whitespaces)))
        let held = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(postmaster)/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(postmaster)/fd/\($0)")
        }
        #expect(!held.isEmpty, "the server's descriptors could not be read")
        #expect(!held.contains(pipeTarget), "the server holds the test process's pipe \(pipeTarget): \(held)")
    }
}
