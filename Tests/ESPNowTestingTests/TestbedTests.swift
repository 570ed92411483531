import ESPNowSimulator
import ESPNowTesting
import ESPNowWire
import Foundation
import Testing

/// The Swift side of the kit: expectations, statistics, faults, pcaps, isolation, hardware mode.
@Suite struct TestbedTests {
    static func options(_ devices: [DeviceSpec], seed: UInt64 = 1) throws -> TestbedOptions {
        var o = TestbedOptions(dongles: 1, devices: devices)
        o.ports = nil  // simulated even when ESPNOW_PORTS is set
        o.seed = seed
        o.artifactsDirectory = try Support.tempDir()
        return o
    }

    @Test func expectationsOnAnEcho() async throws {
        try await withTestbed(try Self.options([DeviceSpec("echo", simulated: .scripted("echo"))])) { bed in
            let echo = try bed.device("echo")
            try await bed.expectDelivered(Array("a".utf8), to: echo)
            try await bed.send("b", to: echo)
            try await bed.send("c", to: echo)
            let text: (String) -> PacketMatch = { t in PacketMatch(from: echo.mac, what: "\"\(t)\"") { $0.payload == Array(t.utf8) } }
            let inOrder = try await bed.expectInOrder([text("a"), text("b"), text("c")])
            #expect(inOrder.map(\.payload) == ["a", "b", "c"].map { Array($0.utf8) })
            #expect(inOrder.allSatisfy { $0.to == bed.dongles[0].mac && $0.from == echo.mac })
            // Claimed packets do not satisfy a second expectation.
            try await bed.expectNoPacket(from: echo, within: .milliseconds(200))
            for i in 0..<5 { try await bed.send("n\(i)", to: echo) }
            let five = try await bed.expectPackets(5, PacketMatch(from: echo.mac) { $0.payload.first == UInt8(ascii: "n") })
            #expect(five.count == 5)
            let rt = try await bed.roundTrips(4, to: echo, request: { Array("rt\($0)".utf8) },
                                              reply: { i, p in p.payload == Array("rt\(i)".utf8) })
            #expect(rt.sent == 4 && rt.answered == 4 && rt.roundTrips.count == 4)
            print("echo round trips: \(rt)")
        }
    }

    @Test func failureNamesTheExpectationAndWhatWasHeard() async throws {
        let bed = try await Testbed.start(try Self.options([DeviceSpec("echo", simulated: .scripted("echo"))]))
        let echo = try bed.device("echo")
        try await bed.send("hello", to: echo)
        do {
            try await bed.expectPacket(from: echo, within: .seconds(3), what: "text \"bye\"") { $0.payload == Array("bye".utf8) }
            Issue.record("the expectation held")
        } catch let e as TestbedError {
            #expect(e.description.hasPrefix("expected a packet from echo (\(echo.mac)) with text \"bye\" within 3.0 s; heard instead: #0 from echo"))
            #expect(e.description.contains("5 bytes \"hello\""))
        }
        await bed.shutdown()
    }

    @Test func pcapIsKeptWhenTheBodyThrows() async throws {
        let o = try Self.options([DeviceSpec("echo", simulated: .scripted("echo"))])
        do {
            try await withTestbed(o) { bed in
                let echo = try bed.device("echo")
                for t in ["one", "two"] { try await bed.send(t, to: echo) }
                _ = try await bed.expectPackets(2, PacketMatch(from: echo.mac))
                try await bed.expectPacket(from: echo, within: .milliseconds(300)) { _ in true }
            }
            Issue.record("no failure")
        } catch let f as TestFailure {
            let path = try #require(f.pcap)
            #expect(path.hasPrefix(o.artifactsDirectory))
            let d = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(d.prefix(4) == [0xD4, 0xC3, 0xB2, 0xA1])
            #expect(d[20..<24] == [127, 0, 0, 0])
            // Two records, each the payload after the vendor element header.
            var off = 24, payloads: [String] = []
            while off + 16 <= d.count {
                let len = Int(d[off + 8]) | Int(d[off + 9]) << 8
                let rec = Array(d[(off + 16)..<(off + 16 + len)])
                #expect(rec[9] == 0xD0)  // after the 9-byte radiotap header: an action frame
                payloads.append(String(decoding: rec[(9 + 24 + 8 + 7)...], as: UTF8.self))
                off += 16 + len
            }
            #expect(payloads == ["one", "two"])
            #expect(f.description.contains("expected a packet from echo") && f.description.contains(path))
        }
    }

    @Test func lossStatisticsFromNumberedReadings() async throws {
        try await withTestbed(try Self.options([DeviceSpec("sensor", simulated: .scripted("sensor,interval=10"))], seed: 5)) { bed in
            let s = try bed.device("sensor")
            let seqOf: @Sendable (CapturedPacket) -> Int? = { p in p.payload.count == 10 ? Int(p.payload[2]) | Int(p.payload[3]) << 8 : nil }
            // Readings sent before the loss was set may still be on their way (a busy machine
            // starts the bed slowly): count only readings numbered well after it.
            try await bed.expectPacket(PacketMatch(from: s.mac) { seqOf($0) != nil }, within: .seconds(60))
            try await bed.inject(.loss(s, 0.5))
            let after = (bed.packets.compactMap(seqOf).max() ?? 0) + 50
            let seq: (CapturedPacket) -> Int? = { p in seqOf(p).flatMap { $0 > after ? $0 : nil } }
            _ = try await bed.expectPackets(40, PacketMatch(from: s.mac) { p in seqOf(p).map { $0 > after } ?? false }, within: .seconds(120))
            let st = bed.statistics(from: s, sequence: seq)
            // Half of the broadcasts are lost on the link: some numbers are missing, every
            // number between the first and the last is either heard or counted lost.
            #expect(st.received >= 40 && st.lost > 0 && st.duplicates == 0)
            let heard = bed.packets.compactMap(seq)
            #expect(st.received + st.lost == heard.max()! - heard.min()! + 1)
            print("sensor under 50% loss: \(st)")
        }
    }

    /// Four beds at once, each with its own sensor and echo: none hears the others' air.
    @Test(arguments: 0..<4) func bedsInParallelHaveTheirOwnAir(n: Int) async throws {
        let devices = [DeviceSpec("echo", simulated: .scripted("echo")), DeviceSpec("sensor", simulated: .scripted("sensor,interval=20"))]
        try await withTestbed(try Self.options(devices, seed: UInt64(100 + n))) { bed in
            let echo = try bed.device("echo"), sensor = try bed.device("sensor")
            for k in 0..<10 { try await bed.send("bed\(n)-\(k)", to: echo) }
            _ = try await bed.expectPackets(10, PacketMatch(from: echo.mac))
            _ = try await bed.expectPackets(5, PacketMatch(from: sensor.mac))
            let mine: Set<MACAddress> = [echo.mac, sensor.mac]
            #expect(bed.packets.allSatisfy { mine.contains($0.from) })
            #expect(bed.packets.filter { $0.from == echo.mac }.allSatisfy { $0.payload.starts(with: Array("bed\(n)-".utf8)) })
        }
    }

    /// Hardware mode: the bed is given ports (as from ESPNOW_PORTS) — here a simulator's
    /// ptys standing in for real dongles, with a scripted echo as the board found by its MAC.
    @Test func hardwareModeOnSimulatorPtys() async throws {
        let air = try await SimulatedAir.start(AirOptions(dongles: 1, nodes: ["echo"]))
        defer { air.shutdown() }
        let boardMAC = try #require(air.nodes.first?.staMAC)
        var o = TestbedOptions(dongles: 1, devices: [DeviceSpec("board", mac: boardMAC, simulated: .scripted("echo"))])
        o.ports = air.dongles.compactMap(\.port)
        o.artifactsDirectory = try Support.tempDir()
        let bed = try await Testbed.start(o)
        #expect(bed.isHardware && bed.air == nil)
        let board = try bed.device("board")
        #expect(board.mac == boardMAC && board.radio == nil)
        try await bed.expectDelivered(Array("hw".utf8), to: board)
        try await bed.expectPacket(from: board) { $0.payload == Array("hw".utf8) }
        for f in [Fault.loss(board, 0.2), .bitErrors(dongle: 0, 1e-4), .lossBurst(.milliseconds(10)), .unplugDongle(0), .rebootDevice(board)] {
            do {
                try await bed.inject(f)
                Issue.record("\(f) was injected on hardware")
            } catch let e as TestbedError {
                #expect(e == .notAvailableOnHardware(f.description))
                #expect(e.description.contains("is not available on hardware"))
            }
        }
        // A pty has no modem lines: a dongle reset is reported as not available either.
        await #expect(throws: TestbedError.self) { try await bed.inject(.rebootDongle(0)) }
        // What a dongle can do itself works on hardware.
        try await bed.inject(.channel(dongle: 0, 1))
        await bed.shutdown()

        var noMAC = o
        noMAC.devices = [DeviceSpec("anonymous", simulated: .scripted("echo"))]
        await #expect(throws: TestbedError.setup("device anonymous has no MAC: on hardware the board under test is found by its MAC")) {
            _ = try await Testbed.start(noMAC)
        }
    }
}
