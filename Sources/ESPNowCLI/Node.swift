import ArgumentParser
import Foundation

/// `espnow node build`: an ESP-IDF application or an Arduino sketch into a firmware node
/// executable for `espnow-sim --node app=BINARY` (docs/NODES.md). The work is done by
/// firmware-bridge/host/node/nodebuild.py (Kconfig through ESP-IDF's kconfgen, the system
/// C compiler); this command finds it and reports its result.
struct Node: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Firmware nodes: build an ESP-IDF app or Arduino sketch to run on the simulated air.",
        subcommands: [NodeBuild.self]
    )
}

struct NodeBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build PROJECT (an ESP-IDF project directory with main/) or SKETCH.ino into a node executable.",
        discussion: """
            Prints the executable's path. Run it with `espnow-sim --node app=PATH[,mac=MAC][,channel=C][,dir=DIR]`. A function or header the node runtime does not provide fails the build with their list (docs/NODES.md).
            """
    )

    @Argument(help: "ESP-IDF project directory or Arduino sketch (.ino)")
    var path: String

    @Option(name: [.short, .long], help: "Executable to write (default: PROJECT/build-node/NAME)")
    var output: String?

    @Option(name: .customLong("build-dir"), help: "Build directory (default: PROJECT/build-node)")
    var buildDir: String?

    @Option(help: "ESP-IDF API the code is written for: 5.4 (default) or 5.5 (send callback with esp_now_send_info_t)")
    var idf: String = "5.4"

    func run() throws {
        let script = try Self.nodebuild()
        var args = [script, path]
        if let output { args += ["-o", output] }
        if let buildDir { args += ["--build-dir", buildDir] }
        guard idf == "5.4" || idf == "5.5" else { throw CLIError(.usage, "--idf \(idf): 5.4 or 5.5") }
        args += ["--idf", idf]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        do {
            try p.run()
        } catch {
            throw CLIError(.device, "cannot run python3 for the node build: \(error)")
        }
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            throw ExitCode(ExitStatus.usage.rawValue)
        }
    }

    /// `$ESPNOW_NODE_RUNTIME/nodebuild.py`, else the checkout this executable was built in
    /// (SwiftPM puts it under .build/), else one above the current directory.
    static func nodebuild() throws -> String {
        let fm = FileManager.default
        let rel = "firmware-bridge/host/node/nodebuild.py"
        if let env = ProcessInfo.processInfo.environment["ESPNOW_NODE_RUNTIME"] {
            let c = URL(fileURLWithPath: env).appendingPathComponent("nodebuild.py").path
            if fm.fileExists(atPath: c) { return c }
            throw CLIError(.usage, "ESPNOW_NODE_RUNTIME=\(env) has no nodebuild.py; point it at firmware-bridge/host/node")
        }
        var starts: [URL] = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        if let me = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.insert(URL(fileURLWithPath: me).deletingLastPathComponent(), at: 0)
        }
        for start in starts {
            var dir = start
            for _ in 0..<8 {
                let c = dir.appendingPathComponent(rel).path
                if fm.fileExists(atPath: c) { return c }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw CLIError(.usage, "the node runtime (\(rel)) was not found above this executable or the current "
                       + "directory; set ESPNOW_NODE_RUNTIME to firmware-bridge/host/node of an espnow-bridge checkout")
    }
}
