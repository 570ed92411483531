import ESPNowWire
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// One line `espnow-sim` printed: a dongle (with its port) or a scripted node.
struct SimRadio: Sendable {
    var index: Int
    var port: String?
    var link: String?
    var script: String?
    var staMAC: MACAddress?
    var apMAC: MACAddress?
    var channel: Int?
    var raw: String

    init?(line: String) {
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              obj["event"] == nil, let i = obj["index"] as? Int else { return nil }
        index = i
        port = obj["port"] as? String
        link = obj["link"] as? String
        script = obj["script"] as? String
        staMAC = (obj["sta_mac"] as? String).flatMap(MACAddress.init)
        apMAC = (obj["ap_mac"] as? String).flatMap(MACAddress.init)
        channel = obj["channel"] as? Int
        raw = line
    }

    var isDongle: Bool { port != nil }
}

/// Every simulator this process started, so that any way out (normal exit, error,
/// Ctrl-C, SIGTERM) stops them.
enum Children {
    private static let pids = NIOLockedValueBox<Set<pid_t>>([])
    static func add(_ p: pid_t) { pids.withLockedValue { _ = $0.insert(p) } }
    static func remove(_ p: pid_t) { pids.withLockedValue { _ = $0.remove(p) } }
    static func terminateAll() {
        for p in pids.withLockedValue({ $0 }) { kill(p, SIGTERM) }
    }
}

/// A running `espnow-sim` coordinator: a simulated air with dongles and scripted nodes.
final class SimAir: Sendable {
    let process: Process
    let radios: [SimRadio]
    /// Lines the simulator printed after the ready lines (events: reboot, crash, ...).
    let laterLines: AsyncStream<String>
    private let sceneFile: String?

    var dongles: [SimRadio] { radios.filter(\.isDongle).sorted { $0.index < $1.index } }
    var nodes: [SimRadio] { radios.filter { !$0.isDongle }.sorted { $0.index < $1.index } }

    private init(process: Process, radios: [SimRadio], laterLines: AsyncStream<String>, sceneFile: String?) {
        self.process = process
        self.radios = radios
        self.laterLines = laterLines
        self.sceneFile = sceneFile
    }

    /// Locates `espnow-sim`: `$ESPNOW_SIM_PATH`, next to this executable (SwiftPM builds
    /// both into the same directory), then `$PATH`.
    static func executablePath() throws -> String {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["ESPNOW_SIM_PATH"], !env.isEmpty {
            guard fm.isExecutableFile(atPath: env) else {
                throw CLIError(.device, "ESPNOW_SIM_PATH=\(env) is not an executable; unset it or point it at espnow-sim")
            }
            return env
        }
        if let me = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let c = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("espnow-sim").path
            if fm.isExecutableFile(atPath: c) { return c }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let c = "\(dir)/espnow-sim"
            if fm.isExecutableFile(atPath: c) { return c }
        }
        throw CLIError(.device, "the simulator espnow-sim was not found next to espnow or on PATH; build it with "
                       + "`swift build --product espnow-sim` (or `make demo`), or set ESPNOW_SIM_PATH")
    }

    /// Starts `espnow-sim ARGS` and waits (up to `timeout`) for `expect` ready lines.
    static func start(arguments: [String], expect: Int, sceneFile: String? = nil,
                      timeout: Duration = .seconds(15)) async throws -> SimAir {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executablePath())
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        do {
            try p.run()
        } catch {
            throw CLIError(.device, "cannot start the simulator espnow-sim: \(error)")
        }
        Children.add(p.processIdentifier)
        let (later, laterCont) = AsyncStream.makeStream(of: String.self)
        let handle = out.fileHandleForReading
        // Reads the simulator's stdout on its own thread (blocking reads stay off the
        // cooperative pool); hands the ready lines over once, then streams the rest.
        let radios: [SimRadio]? = await withCheckedContinuation { (c: CheckedContinuation<[SimRadio]?, Never>) in
            let once = NIOLockedValueBox<CheckedContinuation<[SimRadio]?, Never>?>(c)
            let t = Thread {
                var buffer = Data()
                var ready: [SimRadio] = []
                var handedOver = false
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                        buffer.removeSubrange(buffer.startIndex...nl)
                        if !handedOver, let r = SimRadio(line: line) {
                            ready.append(r)
                            if ready.count >= expect {
                                handedOver = true
                                let r = ready
                                once.withLockedValue { $0.take() }?.resume(returning: r)
                            }
                        } else if handedOver {
                            laterCont.yield(line)
                        }
                    }
                }
                laterCont.finish()
                once.withLockedValue { $0.take() }?.resume(returning: nil)
            }
            t.name = "espnow-sim-reader"
            t.start()
            // Give up if the simulator never becomes ready.
            let pid = p.processIdentifier
            Task {
                try? await Task.sleep(for: timeout)
                if once.withLockedValue({ $0 != nil }) { kill(pid, SIGTERM) }
            }
        }
        guard let radios else {
            p.waitUntilExit()
            Children.remove(p.processIdentifier)
            if let s = sceneFile { try? FileManager.default.removeItem(atPath: s) }
            throw CLIError(.device, "the simulator espnow-sim exited before it was ready (status \(p.terminationStatus)); "
                           + "run it by hand to see why: espnow-sim \(arguments.joined(separator: " "))")
        }
        return SimAir(process: p, radios: radios, laterLines: later, sceneFile: sceneFile)
    }

    /// Stops the simulator (its dongles' ptys close) and waits for it.
    func stop() async {
        let p = process
        // Unconditionally: `isRunning` can lag behind, and the pid is ours until it is reaped below.
        kill(p.processIdentifier, SIGTERM)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let t = Thread {
                p.waitUntilExit()
                c.resume()
            }
            t.start()
        }
        Children.remove(p.processIdentifier)
        if let s = sceneFile { try? FileManager.default.removeItem(atPath: s) }
    }

    /// Writes a scene (JSON) to a private temporary file, for `start(sceneFile:)`.
    static func writeScene(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("espnow-scene-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json").path
        do {
            try json.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw CLIError(.io, "cannot write the simulator scene to \(path): \(error)")
        }
        return path
    }
}
