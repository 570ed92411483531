// What the gateway's test targets (GatewayTests, GatewayHTTPTests) share: the tests'
// PostgreSQL server and databases, the two store back-ends, scratch paths.
import ESPNowGateway
import Foundation
import Logging
import PostgresNIO

/// The tests' PostgreSQL: the server `make test` started (`ESPNOW_TEST_PG_DIR`, through
/// tools/pgtest.sh), else one started here with the same script. A missing server or
/// script is a failure, never a skip.
public enum TestPG {
    public static let script: String = {
        // Tests/GatewayTestSupport/TestPG.swift → repository root.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/pgtest.sh").path
    }()

    /// Runs tools/pgtest.sh; returns its stdout. posix_spawn + waitpid: the server it starts
    /// outlives it, and this must not depend on Foundation's child monitoring.
    @discardableResult
    public static func run(_ args: [String]) throws -> String {
        let out = "/tmp/espnow-pgtest-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(out) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        try closeInheritedDescriptors(&actions)
        let argv = ["/bin/sh", script] + args
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, &cargs, environ)
        guard rc == 0 else { throw StoreError("cannot run \(script): errno \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw StoreError("tools/pgtest.sh \(args.joined(separator: " ")) failed (wait status \(status)); is the postgresql package installed?")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The shared server's directory (started once per test process if make did not).
    public static let sharedDir: Result<String, any Error> = {
        if let d = ProcessInfo.processInfo.environment["ESPNOW_TEST_PG_DIR"], !d.isEmpty { return .success(d) }
        let dir = "/tmp/espnow-pg-\(getpid())"
        do {
            try run(["start", dir])
            atexit { _ = try? TestPG.run(["destroy", "/tmp/espnow-pg-\(getpid())"]) }
            return .success(dir)
        } catch {
            return .failure(error)
        }
    }()

    public static func url(dir: String, database: String) -> String { "postgres://\(user)@/\(database)?host=\(dir)" }
    public static var user: String { getuid() == 0 ? "postgres" : (ProcessInfo.processInfo.environment["USER"] ?? "postgres") }

    /// A new empty database on the shared server: tests run in parallel without seeing
    /// each other's rows.
    public static func freshDatabase(dir: String? = nil) async throws -> String {
        let dir = try dir ?? sharedDir.get()
        let name = "t\(UInt64.random(in: 0...UInt64.max))"
        var cfg = PostgresConnection.Configuration(unixSocketPath: "\(dir)/.s.PGSQL.5432", username: user, password: nil, database: "postgres")
        cfg.options.connectTimeout = .seconds(10)
        let c = try await PostgresConnection.connect(configuration: cfg, id: 1, logger: Logger(label: "test"))
        try await c.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Logger(label: "test"))
        try await c.close()
        return url(dir: dir, database: name)
    }
}

/// The two stores every gateway test runs against.
public enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    public var description: String { rawValue }

    public func makeStore() async throws -> any GatewayStore {
        switch self {
        case .sqlite: return try SQLiteStore(path: tempPath("db.sqlite"))
        case .postgres: return try PostgresStore(url: try await TestPG.freshDatabase())
        }
    }
}

public func tempPath(_ name: String) -> String {
    let dir = "/tmp/espnow-gw-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return "\(dir)/\(name)"
}

/// tools/pgtest.sh leaves a server running that outlives the test process's children. Left
/// to posix_spawn's default it would inherit every descriptor this process has open at that
/// moment (pipes and Foundation's child-exit socket of simulators started concurrently), and
/// keep them open: a reader of such a pipe never sees EOF and Foundation never sees that child
/// exit. So the child closes everything above stderr (glibc's addclosefrom_np, looked up at
/// run time because Swift's Glibc module does not import it).
func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let sym = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
        throw StoreError("posix_spawn_file_actions_addclosefrom_np not found (glibc >= 2.34 needed)")
    }
    let rc = unsafeBitCast(sym, to: AddCloseFrom.self)(&actions, 3)
    guard rc == 0 else { throw StoreError("posix_spawn_file_actions_addclosefrom_np: errno \(rc)") }
}
