import ArgumentParser
import Foundation

struct Sim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start simulated dongles (and scripted nodes) on one simulated air, until Ctrl-C.",
        discussion: """
            Runs espnow-sim (docs/SIMULATOR.md) and prints each dongle's port, so that other espnow commands can use it: `espnow info --port /dev/pts/N`. --json prints the simulator's own JSON lines. Nodes: echo[,channel=C] | sensor[,interval=MS][,to=MAC] | flood[,len=N][,rate=R][,to=MAC] (interval in milliseconds).
            """)

    @Option(name: [.short, .long], help: "Number of dongles.")
    var dongles: Int = 1

    @Option(name: .customLong("node"), help: ArgumentHelp("A scripted node (repeatable), e.g. sensor,interval=500 (milliseconds between readings) or echo.", valueName: "SPEC"))
    var nodes: [String] = []

    @Flag(help: "Airtime elapses as on a real radio (default: instant).")
    var realtime = false

    @Option(help: ArgumentHelp("Stable symlinks DIR/dongle0, DIR/dongle1, ... to the ports.", valueName: "DIR"))
    var linkDir: String?

    @Option(help: ArgumentHelp("A scene file (JSON, docs/SIMULATOR.md).", valueName: "FILE"))
    var scene: String?

    @Option(help: "Seed for MACs and randomness (default: the scene's `seed`, else 1).")
    var seed: Int?

    @Option(name: .customLong("for"), help: ArgumentHelp("Stop after this many seconds (decimals accepted).", valueName: "SECONDS"))
    var seconds: Double?

    @Flag(help: "Print the simulator's JSON lines.")
    var json = false

    func validate() throws {
        if scene == nil && !(1...64).contains(dongles) { throw ValidationError("--dongles must be 1...64") }
        if let s = seconds, !(s > 0) { throw ValidationError("--for must be positive") }
        if let s = scene, !FileManager.default.fileExists(atPath: s) { throw ValidationError("scene file \(s) does not exist") }
    }

    func run() async throws {
        var args: [String] = []
        var expect = 0
        if let s = scene {
            args += ["--scene", s]
            expect = try Self.sceneRadios(s)
        } else {
            args += ["--dongles", "\(dongles)"]
            expect = dongles + nodes.count
        }
        // A scene carries its own seed; only an explicit --seed overrides it.
        if let s = seed { args += ["--seed", "\(s)"] } else if scene == nil { args += ["--seed", SimDefaults.seed] }
        for n in nodes { args += ["--node", n] }
        if scene != nil { expect += nodes.count }
        if realtime { args.append("--realtime") }
        if let l = linkDir { args += ["--link-dir", l] }
        let air = try await SimAir.start(arguments: args, expect: expect)
        let json = json
        Interrupt.arm()                 // the lines below invite a Ctrl-C before the loop runs
        if json {
            for r in air.radios.sorted(by: { $0.index < $1.index }) { Out.line(r.raw) }
        } else {
            var rows = [["#", "KIND", "STA MAC", "CHANNEL", "PORT"]]
            for r in air.radios.sorted(by: { $0.index < $1.index }) {
                rows.append(["\(r.index)", r.isDongle ? "dongle" : (r.script ?? "node"), r.staMAC?.description ?? "?",
                             r.channel.map { "\($0)" } ?? "-", r.link ?? r.port ?? "-"])
            }
            for l in table(rows) { Out.line(l) }
            if let d = air.dongles.first {
                Out.line("")
                Out.line("try: espnow info --port \(d.link ?? d.port ?? "")    (Ctrl-C stops the simulator)")
            }
        }
        let seconds = seconds
        try await Interrupt.loop {
            try await withThrowingTaskGroup(of: Void.self) { g in
                g.addTask {
                    for await line in air.laterLines {
                        Out.line(json ? line : "simulator: \(line)")
                    }
                    // Ctrl-C on a terminal reaches the simulator too, which then stops cleanly
                    // (status 0, or ended by the signal): that is the end the user asked for.
                    if Task.isCancelled || air.stoppedByRequest() { return }
                    throw CLIError(.device, "the simulator stopped unexpectedly (status \(air.process.terminationStatus))")
                }
                g.addTask {
                    if let s = seconds {
                        try await Task.sleep(for: .seconds(s))
                    } else {
                        while true { try await Task.sleep(for: .seconds(3600)) }
                    }
                }
                try await g.next()
                g.cancelAll()
            }
        }
        await air.stop()
    }

    /// Radios a scene declares (dongles + nodes), to know when the simulator is ready.
    static func sceneRadios(_ path: String) throws -> Int {
        guard let d = FileManager.default.contents(atPath: path),
              let o = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else {
            throw CLIError(.usage, "scene file \(path) is not a JSON object (see docs/SIMULATOR.md)")
        }
        let dongles = (o["dongles"] as? Int) ?? (o["dongles"] as? [Any])?.count ?? 0
        let nodes = (o["nodes"] as? [Any])?.count ?? 0
        return dongles + nodes
    }
}
