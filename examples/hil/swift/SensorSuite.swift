import ESPNowTesting
import ESPNowWire
import Foundation
import Testing

/// The suite of examples/hil/sensor.yaml written with ESPNowTesting: the sensor firmware of
/// examples/hil/sensor-node as a firmware node (or, with ESPNOW_PORTS and SENSOR_MAC, the
/// real board), one bed per test so Swift Testing runs them in parallel.
@Suite struct SensorSuite {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// The node executable, built once per run with `espnow node build`.
    static let app: Result<String, SensorSuiteError> = {
        let project = here.deletingLastPathComponent().appendingPathComponent("sensor-node").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("hil-sensor-\(getpid())").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: espnowTool())
        p.arguments = ["node", "build", project, "--build-dir", out]
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { return .failure(SensorSuiteError("cannot run espnow: \(error)")) }
        let path = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, let line = path.split(separator: "\n").last else {
            return .failure(SensorSuiteError("espnow node build \(project) failed (status \(p.terminationStatus))"))
        }
        return .success(String(line))
    }()

    static func espnowTool() -> String {
        var dir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            .deletingLastPathComponent()
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("espnow").path) { return dir.appendingPathComponent("espnow").path }
            dir = dir.deletingLastPathComponent()
        }
        return "espnow"
    }

    static let sensorMAC = MACAddress(ProcessInfo.processInfo.environment["SENSOR_MAC"] ?? "02:00:00:00:00:10")!

    func bed(_ name: String) throws -> TestbedOptions {
        var o = TestbedOptions(dongles: 1, devices: [DeviceSpec("sensor", mac: Self.sensorMAC, simulated: .firmware(app: try Self.app.get()))],
                               channel: 1)
        o.realtime = true  // the node talks to a host program: its clock follows the wall clock
        o.name = name
        return o
    }

    /// A reading: 'S', 1, seq u32, slot_ms u32, temp_centi i16.
    struct Reading {
        var seq: UInt32, slot: UInt32, temp: Int16
        init?(_ p: CapturedPacket) {
            let b = p.payload
            guard b.count == 12, b[0] == 0x53, b[1] == 1 else { return nil }
            func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * $1) } }
            seq = u32(2)
            slot = u32(6)
            temp = Int16(bitPattern: UInt16(b[10]) | UInt16(b[11]) << 8)
        }
    }

    static let reading = PacketMatch(from: sensorMAC, what: "a reading ('S', 1, 12 bytes)") { Reading($0) != nil }
    static func reply(_ bytes: [UInt8]) -> PacketMatch {
        PacketMatch(from: sensorMAC, what: "reply \(bytes.map { String(format: "%02x", $0) }.joined())") { $0.payload == bytes }
    }

    @Test func uplinkFormat() async throws {
        try await withTestbed(try bed("uplink")) { bed in
            let p = try await bed.expectPacket(Self.reading, within: .seconds(30))
            let r = try #require(Reading(p))
            #expect(p.to == .broadcast && r.seq >= 1 && (2000...2599).contains(r.temp))
        }
    }

    @Test func cadence() async throws {
        try await withTestbed(try bed("cadence")) { bed in
            let rs = try await bed.expectPackets(5, Self.reading, within: .seconds(60)).compactMap(Reading.init)
            for (a, b) in zip(rs, rs.dropFirst()) {
                #expect(b.seq == a.seq + 1 && b.slot == a.slot + 200)
            }
        }
    }

    @Test func downlinkSetsTheInterval() async throws {
        try await withTestbed(try bed("downlink")) { bed in
            let sensor = try bed.device("sensor")
            bed.ignoreEarlierPackets()
            try await bed.expectDelivered([0x49, 0xF4, 0x01], to: sensor)  // 'I', 500 ms
            try await bed.expectPacket(Self.reply([0x4B, 0xF4, 0x01]))
            // Readings from here on follow the new interval.
            bed.ignoreEarlierPackets()
            let rs = try await bed.expectInOrder([Self.reading, Self.reading], within: .seconds(30)).compactMap(Reading.init)
            #expect(rs.count == 2 && rs[1].seq == rs[0].seq + 1 && rs[1].slot == rs[0].slot + 500)
            try await bed.expectDelivered([0x49, 0x0A, 0x00], to: sensor)  // 10 ms: refused
            try await bed.expectPacket(Self.reply([0x45, 0x0A, 0x00]))
        }
    }

    @Test func underTwentyPercentLoss() async throws {
        try await withTestbed(try bed("loss")) { bed in
            let sensor = try bed.device("sensor")
            try await bed.inject(.loss(sensor, 0.2))
            _ = try await bed.expectPackets(20, Self.reading, within: .seconds(120))
            let st = bed.statistics(from: sensor) { Reading($0).map { Int($0.seq) } }
            print("hil sensor under 20% loss: \(st)")
            #expect(st.received >= 20 && st.duplicates == 0)
            // The application retries an idempotent downlink.
            for _ in 0..<3 { try await bed.send([0x49, 0xC8, 0x00], to: sensor) }
            try await bed.expectPacket(Self.reply([0x4B, 0xC8, 0x00]), within: .seconds(30))
        }
    }

    @Test func afterADongleReboot() async throws {
        try await withTestbed(try bed("reboot")) { bed in
            let sensor = try bed.device("sensor")
            try await bed.expectPacket(Self.reading, within: .seconds(30))
            try await bed.inject(.rebootDongle(0))
            bed.ignoreEarlierPackets()
            _ = try await bed.expectPackets(3, Self.reading, within: .seconds(60))
            try await bed.expectDelivered([0x49, 0xC8, 0x00], to: sensor)
            try await bed.expectPacket(Self.reply([0x4B, 0xC8, 0x00]))
        }
    }
}

struct SensorSuiteError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
