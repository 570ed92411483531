// A dongle udev knows, owned by a broker (`espnow serve`, `espnow gateway --serve`): other
// commands reach it with `--port auto`, and the gateway follows it by its USB serial
// number. Like AutoConnectTests these run only inside `umockdev-wrapper` (the launcher in
// UdevTests.swift re-runs this suite in a child process); the `espnow` children inherit
// the preload and see the same testbed.
import ESPNowBroker
import ESPNowDevice
@testable import ESPNowDiscovery
@testable import ESPNowGateway
import ESPNowWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: UMockdevLibrary.preloadActive, "needs umockdev-wrapper"))
struct SharedDongleTests {
    static let gatewayMAC = "02:44:53:43:00:31"
    static let sensorMAC = "02:44:53:43:00:32"

    /// The `espnow` binary, built next to `espnow-sim`.
    static func espnow() throws -> String {
        let p = URL(fileURLWithPath: try SimDongle.path()).deletingLastPathComponent().appendingPathComponent("espnow").path
        guard FileManager.default.isExecutableFile(atPath: p) else { throw TimedOut(what: "espnow binary at \(p)") }
        return p
    }

    /// Runs `espnow ARGS` to the end (a hang guard kills it), with `env` added.
    static func run(_ args: [String], env: [String: String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try espnow())
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let pid = p.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + 90) { if p.isRunning { kill(pid, SIGKILL) } }
        let errData = Locked(Data())
        let t = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        t.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while t.isExecuting || !t.isFinished { usleep(10_000) }
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errData.get(), as: UTF8.self))
    }

    static func runtimeDir() throws -> String {
        let d = NSTemporaryDirectory() + "espnow-xdg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// A helper dongle's pty as a testbed node that no udev device describes: under the
    /// preload a pty's termios ioctls only work through a node with a pass-through handler.
    static func plain(_ tb: Testbed, _ name: String, _ pty: String) throws -> String {
        try tb.setNode("/dev/" + name, to: pty)
        try tb.passIoctlsThrough("/dev/" + name)
        return "/dev/" + name
    }

    /// The socket a broker names after `jtag`'s serial number.
    static func socket(in runtime: String) -> String {
        runtime + "/espnow/" + jtag.serial!.map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined() + ".sock"
    }

    /// `espnow serve --port /dev/ttyACM0` (a path, not auto) owns the dongle; `espnow info
    /// --port auto` and `espnow send --port auto` find its broker by the USB serial number
    /// instead of failing "busy".
    @Test func autoUsesTheBrokerOfADongleEspnowServeOwns() async throws {
        let sim = try SimDongle(staMAC: Self.gatewayMAC)
        let other = try SimDongle(staMAC: Self.sensorMAC, air: sim.airDir)
        defer { other.stop(); sim.stop() }
        let tb = try Testbed()
        var usb = jtag
        usb.byID = nil  // the testbed makes no /dev/serial/by-id links: auto would name a missing path
        try tb.add(usb)
        try tb.setNode("/dev/ttyACM0", to: sim.port)
        try tb.passIoctlsThrough("/dev/ttyACM0")
        let runtime = try Self.runtimeDir()
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        let env = ["XDG_RUNTIME_DIR": runtime, "ESPNOW_PORT": ""]

        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: try Self.espnow())
        serve.arguments = ["serve", "--port", "/dev/ttyACM0"]
        serve.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer { if serve.isRunning { kill(serve.processIdentifier, SIGKILL) } }
        let sock = Self.socket(in: runtime)
        try await within(60, "the broker's socket \(sock)") {
            while !FileManager.default.fileExists(atPath: sock) { try await Task.sleep(for: .milliseconds(50)) }
        }

        // The dongle is busy (the broker holds it): auto goes through the broker.
        let info = try Self.run(["info", "--port", "auto", "--json"], env: env)
        #expect(info.status == 0, "info: \(info.err)")
        #expect(info.out.contains(Self.gatewayMAC))
        let receiver = try await ESPNowDevice.connect(path: try Self.plain(tb, "ttyRECEIVER", other.port))
        try await receiver.wifiSetIfActive(.sta, true)
        try await receiver.espNowInit()
        let send = try Self.run(["send", "--port", "auto", "--sync", Self.sensorMAC, "via the broker"], env: env)
        #expect(send.status == 0, "send: \(send.err)")
        let got = try await receiver.packetQueue.next(timeout: .seconds(30))
        #expect(got?.bytes == Array("via the broker".utf8) && got?.src == MACAddress(Self.gatewayMAC))
        await receiver.close()

        kill(serve.processIdentifier, SIGTERM)
        serve.waitUntilExit()
        #expect(serve.terminationStatus == 0)
        // The broker is gone: auto now opens the dongle itself.
        let direct = try Self.run(["info", "--port", "auto", "--json"], env: env)
        #expect(direct.status == 0, "info after the broker stopped: \(direct.err)")
        #expect(direct.out.contains(Self.gatewayMAC))
    }

    /// Unplugs `added` the way the kernel and udev do.
    func unplug(_ tb: Testbed, _ added: Testbed.AddedDevice, devnode: String) {
        tb.uevent(added.tty, "remove")
        tb.remove(added.tty)
        tb.remove(added.interface)
        tb.remove(added.usb)
        unlink(tb.root + devnode)
    }

    /// The gateway follows its dongle by USB serial number: unplugged and plugged back at
    /// /dev/ttyACM5 it is reopened there (another bridge dongle that appeared at
    /// /dev/ttyACM1 meanwhile is not taken over), and every reading sent before and after
    /// is stored exactly once. With `serve`, the broker follows it and `--port auto` finds
    /// that broker.
    @Test(arguments: [false, true])
    func gatewayFollowsItsDongleBySerialNumber(serve: Bool) async throws {
        // The air outlives the gateway's dongle (a dongle owning it would remove it).
        let air = NSTemporaryDirectory() + "espnow-follow-air-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: air) }
        var sim = try SimDongle(staMAC: Self.gatewayMAC, air: air)
        let sensorSim = try SimDongle(staMAC: Self.sensorMAC, air: air)
        let stranger = try SimDongle(staMAC: "02:44:53:43:00:3f", air: air)
        defer { stranger.stop(); sensorSim.stop(); sim.stop() }
        let tb = try Testbed()
        let first = try tb.add(jtag)
        try tb.setNode("/dev/ttyACM0", to: sim.port)
        try tb.passIoctlsThrough("/dev/ttyACM0")
        let runtime = try Self.runtimeDir()
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        setenv("XDG_RUNTIME_DIR", runtime, 1)

        // What `espnow gateway --port auto` does with the dongle it found.
        let found = try #require(SerialDiscovery.device(at: "/dev/ttyACM0"))
        let tracker = try DongleTracker(device: found)
        let dongle = GatewayDongle(path: "/dev/ttyACM0", serialNumber: found.serialNumber, reconnectPath: tracker.reconnectPath)
        var config = GatewayConfig()
        config.gatewayID = "follow"
        if serve { config.serve = ServeConfig() }
        let dbPath = NSTemporaryDirectory() + "espnow-follow-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sqlite"
        defer { for s in ["", "-wal", "-shm"] { unlink(dbPath + s) } }
        let store = try SQLiteStore(path: dbPath)
        let gateway = try Gateway(config: config, store: store, dongles: [dongle])
        let run = Task { try await gateway.run() }
        defer { run.cancel() }
        @Sendable func connected() -> Bool? { gateway.stats.dongles["/dev/ttyACM0"]?.connected }
        try await within(60, "the gateway listening") {
            while connected() != true { try await Task.sleep(for: .milliseconds(50)) }
        }

        let sensor = try await ESPNowDevice.connect(path: try Self.plain(tb, "ttySENSOR", sensorSim.port))
        try await sensor.wifiSetIfActive(.sta, true)
        try await sensor.espNowInit()
        let gw = try #require(MACAddress(Self.gatewayMAC))
        try await sensor.espNowAddPeer(PeerInfo(peerAddr: gw))
        /// Sends readings `seqs`, each until the gateway's dongle acknowledged it (while it
        /// is being restored it is not listening yet).
        func send(_ seqs: ClosedRange<UInt32>) async throws {
            for seq in seqs {
                let payload: [UInt8] = [0x53, 1, UInt8(seq & 0xFF), UInt8(seq >> 8 & 0xFF), 0, 0, 0x66, 0x08, 50, 9]
                try await within(60, "reading \(seq) acknowledged") {
                    while try await sensor.espNowSend(peer: gw, data: payload, sync: true).failures > 0 {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
        }
        try await send(1...40)
        try await within(60, "40 stored") { while gateway.stats.stored < 40 { try await Task.sleep(for: .milliseconds(50)) } }
        if serve {
            let info = try Self.run(["info", "--port", "auto", "--json"], env: ["XDG_RUNTIME_DIR": runtime, "ESPNOW_PORT": ""])
            #expect(info.status == 0 && info.out.contains(Self.gatewayMAC), "info through the gateway's broker: \(info.err)")
        }

        // Unplugged; another bridge dongle appears; then ours comes back at another path.
        unplug(tb, first, devnode: "/dev/ttyACM0")
        sim.stop()
        if !serve {
            // (Through a broker the gateway hears of it as its clients do: a LOG line.)
            try await within(60, "the gateway noticing the unplug") {
                while connected() != false { try await Task.sleep(for: .milliseconds(20)) }
            }
        }
        var strangerUSB = jtag
        strangerUSB.serial = "F4:12:FA:99:99:99"
        strangerUSB.port = "1-7"
        strangerUSB.tty = "ttyACM1"
        strangerUSB.byID = nil
        let s = try tb.add(strangerUSB)
        try tb.setNode("/dev/ttyACM1", to: stranger.port)
        try tb.passIoctlsThrough("/dev/ttyACM1")
        tb.uevent(s.tty, "add")
        sim = try SimDongle(staMAC: Self.gatewayMAC, air: air)
        var again = jtag
        again.port = "3-2"
        again.tty = "ttyACM5"
        again.byID = nil
        let back = try tb.add(again)
        try tb.setNode("/dev/ttyACM5", to: sim.port)
        try tb.passIoctlsThrough("/dev/ttyACM5")
        tb.uevent(back.tty, "add")

        try await send(41...80)
        try await within(60, "80 stored") { while gateway.stats.stored < 80 { try await Task.sleep(for: .milliseconds(50)) } }
        if !serve { #expect(gateway.devices.withLockedValue { $0["/dev/ttyACM0"]?.path } == "/dev/ttyACM5") }
        run.cancel()
        _ = try? await run.value
        await sensor.close()

        let check = try SQLiteStore(path: dbPath)
        let packets = try await check.packets(node: MACAddress(Self.sensorMAC), limit: 1000)
        #expect(packets.compactMap(\.seq).sorted() == Array(1...Int64(80)))
        #expect(gateway.stats.stored == 80)
        // The stranger was never opened by the gateway: its dongle still answers a fresh host.
        let strangerClient = try await ESPNowDevice.connect(path: "/dev/ttyACM1")
        #expect(try await strangerClient.wifiGetIfActive(.sta) == false)
        await strangerClient.close()
        await check.close()
        unsetenv("XDG_RUNTIME_DIR")
    }
}

final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
}
