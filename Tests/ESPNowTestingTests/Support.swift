import BuiltProducts
import ESPNowTesting
import Foundation
import Testing

struct SupportError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

enum Support {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A directory for this test's pcaps and reports.
    static func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("hil-tests-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Runs a scenario text on simulated dongles (ESPNOW_PORTS is ignored), in process.
    static func run(_ yaml: String, ports: [String]? = nil) async throws -> [CaseResult] {
        let s = try Scenario.parse(yaml, file: "t.yaml")
        var r = ScenarioRunner(ports: ports)
        r.artifactsDirectory = try tempDir()
        return await r.run(s)
    }

    /// An executable built next to this test bundle (`swift build` puts products together).
    static func product(_ name: String) -> String { BuiltProducts.path(name) }

    /// Runs a program; returns (status, stdout, stderr).
    static func exec(_ path: String, _ args: [String], env: [String: String] = [:], cwd: String? = nil) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        e.removeValue(forKey: "ESPNOW_PORTS")
        for (k, v) in env { e[k] = v }
        p.environment = e
        if let c = cwd { p.currentDirectoryURL = URL(fileURLWithPath: c) }
        let out = Pipe()
        // stderr goes to a file, so only one pipe has to be drained.
        let errPath = try tempDir() + "/stderr"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: errPath)
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let e2 = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), e2)
    }
}

