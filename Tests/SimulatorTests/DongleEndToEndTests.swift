// End to end through the host build of the firmware: two `espnow-sim` dongles
// sharing one simulated air, each driven over its pseudo-terminal with raw
// termios exactly as a USB serial port would be.
import ESPNowWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where `swift build` put the simulated dongle (next to the test bundle).
private func simulatorPath() throws -> String {
    if let env = ProcessInfo.processInfo.environment["ESPNOW_SIM_PATH"] { return env }
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundleDir, bundleDir.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("espnow-sim").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw SimError("espnow-sim not found next to \(bundleDir.path); run `swift build` first")
}

struct SimError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// One simulated dongle process and its serial port, opened with raw termios.
final class SimDongle {
    let process = Process()
    let port: String
    let staMAC: MACAddress
    let fd: Int32
    private var splitter = FrameSplitter(accepting: [.response, .event])
    private var pending: [Message] = []
    private var nextID: UInt16 = 1

    init(airDir: String, staMAC mac: String, apMAC: String) throws {
        process.executableURL = URL(fileURLWithPath: try simulatorPath())
        // 200 ms for the peer process's ACK: the 5 ms default fails unicasts whenever a
        // busy machine does not run the peer in time.
        process.arguments = ["--air-dir", airDir, "--sta-mac", mac, "--ap-mac", apMAC, "--ack-timeout-ms", "200"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        // The dongle prints one JSON line once its port is ready.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw SimError("espnow-sim exited before printing its port") }
            line.append(chunk)
        }
        let json = try JSONSerialization.jsonObject(with: line.prefix { $0 != UInt8(ascii: "\n") }) as? [String: Any]
        guard let port = json?["port"] as? String, let sta = json?["sta_mac"] as? String,
              let parsed = MACAddress(sta) else { throw SimError("bad ready line: \(String(decoding: line, as: UTF8.self))") }
        self.port = port
        self.staMAC = parsed
        fd = open(port, O_RDWR | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw SimError("open \(port): errno \(errno)") }
        var tio = termios()
        tcgetattr(fd, &tio)
        cfmakeraw(&tio)
        tcsetattr(fd, TCSANOW, &tio)
        // Flush any half frame on the device side before the first request.
        _ = [UInt8(0)].withUnsafeBytes { write(fd, $0.baseAddress, 1) }
    }

    deinit {
        close(fd)
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    func send(_ command: CommandCode, _ fields: [String: FieldValue] = [:]) throws -> UInt16 {
        let id = nextID
        nextID &+= 1
        let wire = try Message.request(command, id: id, fields).encoded()
        let n = wire.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == wire.count else { throw SimError("short write to \(port)") }
        return id
    }

    /// Reads until a frame matching `predicate` arrives (others are kept for later).
    func expect(timeout: Double = 5, _ what: String, _ predicate: (Message) -> Bool) throws -> Message {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let i = pending.firstIndex(where: predicate) { return pending.remove(at: i) }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw SimError("timed out waiting for \(what); got \(pending)") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, Int32(left * 1000) + 1)
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                for result in splitter.feed(buf[0..<n]) {
                    if case .success(let frame) = result { pending.append(try Message(frame: frame)) }
                }
            }
        }
    }

    func call(_ command: CommandCode, _ fields: [String: FieldValue] = [:]) throws -> Message {
        let id = try send(command, fields)
        return try expect("\(command) response") { $0.kind == .response && $0.id == id }
    }

    var linkCounters: LinkCounters { splitter.counters }
}

@Suite("simulated dongle over a pty", .serialized)
struct DongleEndToEndTests {
    let airDir = FileManager.default.temporaryDirectory
        .appendingPathComponent("espnow-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path

    @Test func helloAddPeerSendAndReceive() throws {
        let a = try SimDongle(airDir: airDir, staMAC: "02:00:00:00:0a:01", apMAC: "02:00:00:00:0a:02")
        let b = try SimDongle(airDir: airDir, staMAC: "02:00:00:00:0b:01", apMAC: "02:00:00:00:0b:02")
        defer { try? FileManager.default.removeItem(atPath: airDir) }

        let hello = try a.call(.hello)
        #expect(hello.err == .ok)
        #expect(hello.fields["proto_version"] == .uint(UInt64(WireProtocol.version)))
        #expect(hello.fields["sta_mac"] == .mac(a.staMAC))
        #expect(hello.fields["max_payload"] == .uint(1470))

        for dongle in [a, b] {
            #expect(try dongle.call(.wifiSetIfActive, ["ifidx": .uint(0), "active": .uint(1)]).err == .ok)
            #expect(try dongle.call(.espnowInit).err == .ok)
        }
        let addPeer: [String: FieldValue] = [
            "peer_addr": .mac(b.staMAC), "lmk": .bytes(Array(repeating: 0, count: 16)),
            "channel": .uint(0), "ifidx": .uint(0), "encrypt": .uint(0),
        ]
        #expect(try a.call(.espnowAddPeer, addPeer).err == .ok)
        #expect(try a.call(.espnowAddPeer, addPeer).err == ESPError(rawValue: 0x306B))  // ESP_ERR_ESPNOW_EXIST

        // Sync unicast: status event first, then the response with the outcome.
        let payload = Array("hello from A".utf8)
        let id = try a.send(.espnowSend, ["peer_addr": .mac(b.staMAC), "flags": .uint(1), "data": .bytes(payload)])
        let status = try a.expect("SEND_STATUS") { $0.kind == .event && $0.code == EventCode.sendStatus.rawValue }
        #expect(status.fields["req_id"] == .uint(UInt64(id)))
        #expect(status.fields["peer_addr"] == .mac(b.staMAC))
        #expect(status.fields["status"] == .uint(0))
        let response = try a.expect("sync send response") { $0.kind == .response && $0.id == id }
        #expect(response.err == .ok)
        #expect(response.fields["statuses"] == .uint(1))
        #expect(response.fields["failures"] == .uint(0))

        let recv = try b.expect("RECV on B") { $0.kind == .event && $0.code == EventCode.recv.rawValue }
        #expect(recv.fields["src_addr"] == .mac(a.staMAC))
        #expect(recv.fields["dst"] == .uint(0))
        #expect(recv.fields["data"] == .bytes(payload))
        #expect(recv.fields["channel"] == .uint(1))

        // Unicast to a MAC nobody has: the radio gets no ACK, the status says so.
        let ghost = try #require(MACAddress("02:00:00:00:0c:01"))
        var ghostPeer = addPeer
        ghostPeer["peer_addr"] = .mac(ghost)
        #expect(try a.call(.espnowAddPeer, ghostPeer).err == .ok)
        let failed = try a.call(.espnowSend, ["peer_addr": .mac(ghost), "flags": .uint(1), "data": .bytes([1])])
        #expect(failed.fields["failures"] == .uint(1))

        #expect(a.linkCounters.dropped == 0)
        #expect(b.linkCounters.dropped == 0)
    }

    @Test func broadcastReachesEveryDongleAndResetSendsHello() throws {
        let a = try SimDongle(airDir: airDir, staMAC: "02:00:00:00:1a:01", apMAC: "02:00:00:00:1a:02")
        let b = try SimDongle(airDir: airDir, staMAC: "02:00:00:00:1b:01", apMAC: "02:00:00:00:1b:02")
        let c = try SimDongle(airDir: airDir, staMAC: "02:00:00:00:1c:01", apMAC: "02:00:00:00:1c:02")
        defer { try? FileManager.default.removeItem(atPath: airDir) }
        for dongle in [a, b, c] {
            #expect(try dongle.call(.wifiSetIfActive, ["ifidx": .uint(0), "active": .uint(1)]).err == .ok)
            #expect(try dongle.call(.espnowInit).err == .ok)
        }
        let bcast = try #require(MACAddress("ff:ff:ff:ff:ff:ff"))
        #expect(try a.call(.espnowAddPeer, [
            "peer_addr": .mac(bcast), "lmk": .bytes(Array(repeating: 0, count: 16)),
            "channel": .uint(0), "ifidx": .uint(0), "encrypt": .uint(0),
        ]).err == .ok)
        let sent = try a.call(.espnowSend, ["peer_addr": .mac(bcast), "flags": .uint(0), "data": .bytes(Array("all".utf8))])
        #expect(sent.err == .ok)
        for receiver in [b, c] {
            let recv = try receiver.expect("broadcast RECV") { $0.kind == .event && $0.code == EventCode.recv.rawValue }
            #expect(recv.fields["dst"] == .uint(2))
            #expect(recv.fields["src_addr"] == .mac(a.staMAC))
        }

        // RESET: answered, then a HELLO event with a new boot counter and reason ESP_RST_SW.
        let boot = try b.expect("boot HELLO") { $0.kind == .event && $0.code == EventCode.hello.rawValue }
        #expect(boot.fields["reset_reason"] == .uint(1))  // ESP_RST_POWERON
        let before = try b.call(.hello).fields["boot_count"]
        #expect(try b.call(.reset).err == .ok)
        let hello = try b.expect("HELLO after reset") { $0.kind == .event && $0.code == EventCode.hello.rawValue }
        #expect(hello.fields["reset_reason"] == .uint(3))
        #expect(hello.fields["boot_count"] != before)
        // State is gone after the reboot, as on a real board.
        #expect(try b.call(.espnowGetPeerNum).err == ESPError(rawValue: 0x3065))  // ESP_ERR_ESPNOW_NOT_INIT
    }
}
