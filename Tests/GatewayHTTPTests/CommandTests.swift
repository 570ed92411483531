import BuiltProducts
import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Testing

/// `espnow gateway --port sim --http …` as a user runs it: the built binary, its simulated
/// sensors visible through the API, Ctrl-C stopping both cleanly.
@Suite("espnow gateway --http")
struct CommandTests {
    static var buildDir: URL { BuiltProducts.directory }

    final class Run: @unchecked Sendable {
        let process = Process()
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-http-\(UUID().uuidString).err")

        init(_ args: [String], environment: [String: String] = [:]) throws {
            _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
            process.executableURL = CommandTests.buildDir.appendingPathComponent("espnow")
            process.arguments = args
            var env = ProcessInfo.processInfo.environment
            env["ESPNOW_GATEWAY_TOKEN"] = nil
            process.environment = env.merging(environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: errURL)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

        func wait() async -> Int32 {
            let p = process
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in Thread { p.waitUntilExit(); c.resume() }.start() }
            return p.terminationStatus
        }
    }

    @Test func simulatedSensorsThroughTheAPI() async throws {
        let db = tempPath("cli.sqlite")
        let run = try Run(["gateway", "--port", "sim", "--http", "127.0.0.1:0", "--db", db, "--quiet"])
        var port = 0
        try await eventually("the HTTP address on stderr") {
            if let r = run.stderr.range(of: #"http://127\.0\.0\.1:(\d+)/"#, options: .regularExpression) {
                port = Int(run.stderr[r].dropFirst("http://127.0.0.1:".count).dropLast()) ?? 0
            }
            return port > 0 || !run.process.isRunning
        }
        #expect(port > 0, "stderr: \(run.stderr)")
        guard port > 0 else { return }
        try await eventually("both simulated sensors with a temperature") {
            let r = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/nodes"), timeout: .seconds(30))
            let nodes = try JSON.parse(String(buffer: try await r.body.collect(upTo: 1 << 20)))["nodes"]?.array ?? []
            return nodes.count == 2 && nodes.allSatisfy { n in n["lastValues"]?.array?.contains { $0["field"]?.string == "temperature" } == true }
        }
        let page = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"), timeout: .seconds(30))
        #expect(page.status == .ok)
        kill(run.process.processIdentifier, SIGINT)
        #expect(await run.wait() == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("gateway stopped"))
    }

    @Test func nonLoopbackWithoutATokenIsRefused() async throws {
        let run = try Run(["gateway", "--port", "sim", "--http", "0.0.0.0:0", "--db", tempPath("x.sqlite")])
        #expect(await run.wait() == 1)
        #expect(run.stderr.contains("token") && run.stderr.contains("ESPNOW_GATEWAY_TOKEN"), "stderr: \(run.stderr)")
        let short = try Run(["gateway", "--port", "sim", "--http", "0.0.0.0:0", "--db", tempPath("y.sqlite")], environment: ["ESPNOW_GATEWAY_TOKEN": "abc"])
        #expect(await short.wait() == 1)
        #expect(short.stderr.contains("at least 16"), "stderr: \(short.stderr)")
    }
}
