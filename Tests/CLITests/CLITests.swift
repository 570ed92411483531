import Foundation
import Testing

/// The `espnow` command, run as a user would, against simulated dongles.
@Suite(.serialized) struct CLITests {
    @Test func sendListenPairWithJSONAndPcap() async throws {
        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let (rx, tx) = (air.dongles[0], air.dongles[1])
        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-test-\(UUID().uuidString).pcap").path
        defer { try? FileManager.default.removeItem(atPath: pcap) }

        let listener = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--count", "3", "--timeout", "120",
                                                            "--from", tx.mac, "--json", "--pcap", pcap])
        try await listener.waitForStderr("listening on")
        // Three text lines from stdin, broadcast, sync: the broadcast peer is registered for the call.
        let sent = try await Harness.run(["send", "--port", tx.port, "ff:ff:ff:ff:ff:ff", "--sync", "--json"],
                                         stdin: "one\ntwo\nthree\n")
        #expect(sent.status == 0, "\(sent.stderr)")
        let sends = try sent.json()
        #expect(sends.first?["event"] as? String == "peer_registered")
        let statuses = sends.filter { $0["seq"] != nil }
        #expect(statuses.count == 3)
        #expect(statuses.allSatisfy { $0["status"] as? String == "delivered" && $0["len"] != nil })

        let got = await listener.wait()
        #expect(got.status == 0, "\(got.stderr)")
        let all = try got.json()
        let packets = all.filter { $0["event"] == nil }
        #expect(all.last?["event"] as? String == "summary" && all.last?["received"] as? Int == 3)
        #expect(packets.count == 3)
        #expect(packets.map { $0["payload_text"] as? String } == ["one", "two", "three"])
        #expect(packets.map { $0["payload_hex"] as? String } == ["6f6e65", "74776f", "7468726565"])
        for p in packets {
            #expect(p["src"] as? String == tx.mac)
            #expect(p["dst"] as? String == "ff:ff:ff:ff:ff:ff")
            #expect(p["rssi"] is Int)
            #expect(p["channel"] as? Int == 1)
        }

        // The capture, parsed back.
        let data = try #require(FileManager.default.contents(atPath: pcap))
        let b = [UInt8](data)
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        #expect(b.count > 24)
        #expect(u32(0) == 0xA1B2_C3D4)
        #expect(u16(4) == 2 && u16(6) == 4)
        #expect(u32(20) == 127)
        var off = 24
        var payloads: [[UInt8]] = []
        while off + 16 <= b.count {
            let incl = u32(off + 8), orig = u32(off + 12)
            #expect(incl == orig)
            let rec = Array(b[(off + 16)..<(off + 16 + incl)])
            #expect(rec[0] == 0)  // radiotap version
            let rtLen = Int(rec[2]) | Int(rec[3]) << 8
            #expect(rtLen >= 8 && rtLen < incl)
            let frame = Array(rec[rtLen...])
            #expect(frame[0] == 0xD0)  // management, action
            #expect(Array(frame[4..<10]) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            #expect(Array(frame[24..<28]) == [0x7F, 0x18, 0xFE, 0x34])  // vendor-specific action, Espressif OUI
            #expect(frame[32] == 0xDD && Array(frame[34..<38]) == [0x18, 0xFE, 0x34, 0x04])
            let len = Int(frame[33]) - 5
            #expect(incl == rtLen + 24 + 8 + 7 + len)
            payloads.append(Array(frame[(frame.count - len)...]))
            off += 16 + incl
        }
        #expect(off == b.count)
        #expect(payloads == [Array("one".utf8), Array("two".utf8), Array("three".utf8)])

        // Unicast binary (--hex) to the listener's own MAC: no payload_text for invalid UTF-8.
        let listener2 = try Harness.Running(Harness.espnow, ["listen", "--port", rx.port, "--count", "1", "--timeout", "120", "--json"])
        try await listener2.waitForStderr("listening on")
        let hexSend = try await Harness.run(["send", "--port", tx.port, rx.mac, "fffe00", "--hex", "--sync"])
        #expect(hexSend.status == 0, "\(hexSend.stderr)")
        #expect(hexSend.stderr.contains("registered peer \(rx.mac)"))
        let one = try await listener2.wait().json().filter { $0["event"] == nil }
        #expect(one.count == 1)
        #expect(one.first?["payload_hex"] as? String == "fffe00")
        #expect(one.first?["payload_text"] == nil)
        #expect(one.first?["dst"] as? String == rx.mac)
    }

    @Test func peersAddListModDelete() async throws {
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        let port = air.dongles[0].port
        let mac = "24:6f:28:aa:bb:cc"
        #expect(try await Harness.run(["peers", "list", "--port", port, "--json"]).lines.isEmpty)
        #expect(try await Harness.run(["peers", "add", mac, "--port", port]).status == 0)
        let lmk = "00112233445566778899aabbccddeeff"
        #expect(try await Harness.run(["peers", "mod", mac, "--encrypt", "--lmk", lmk, "--port", port]).status == 0)
        let list = try await Harness.run(["peers", "list", "--port", port, "--json"]).json()
        #expect(list.count == 1)
        #expect(list.first?["mac"] as? String == mac)
        #expect(list.first?["encrypt"] as? Bool == true)
        // Adding it again is an ESP-NOW error (ESP_ERR_ESPNOW_EXIST).
        let again = try await Harness.run(["peers", "add", mac, "--port", port])
        #expect(again.status == 3)
        #expect(again.stderr.contains("ESP_ERR_ESPNOW_EXIST"))
        #expect(try await Harness.run(["peers", "del", mac, "--port", port]).status == 0)
        #expect(try await Harness.run(["peers", "list", "--port", port, "--json"]).lines.isEmpty)
        // A bad key is a usage error.
        #expect(try await Harness.run(["peers", "add", mac, "--encrypt", "--lmk", "1234", "--port", port]).status == 1)
    }

    /// (`-W 10`: a reply waits for a busy machine; the echo node always answers.)
    @Test func pingEchoNode() async throws {
        let air = try TestAir(dongles: 1, nodes: ["echo"])
        defer { air.stop() }
        let echo = try #require(air.nodes.first { $0.script == "echo" }).mac
        let r = try await Harness.run(["ping", echo, "--port", air.dongles[0].port, "-c", "4", "-i", "0.02", "-W", "10", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try r.json()
        let pings = lines.filter { $0["seq"] != nil }
        #expect(pings.count == 4)
        #expect(pings.allSatisfy { $0["status"] as? String == "reply" && $0["rtt_ms"] != nil })
        let summary = try #require(lines.last)
        #expect(summary["sent"] as? Int == 4)
        #expect(summary["replies"] as? Int == 4)

        // Human output ends with a ping(8)-like summary.
        let h = try await Harness.run(["ping", echo, "--port", air.dongles[0].port, "-c", "2", "-i", "0.02", "-W", "10"])
        #expect(h.status == 0)
        #expect(h.stdout.contains("2 packets transmitted, 2 acknowledged, 2 received"))
        #expect(h.stdout.contains("rtt min/avg/max/mdev"))

        // Nobody at that address: not acknowledged, exit 3.
        let none = try await Harness.run(["ping", "02:00:00:00:00:99", "--port", air.dongles[0].port, "-c", "2", "-i", "0.01", "-W", "0.1"])
        #expect(none.status == 3)
    }

    @Test func benchForTwoSeconds() async throws {
        let r = try await Harness.run(["bench", "--port", "sim", "--duration", "2", "--size", "100", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(try r.json().last)
        let delivered = try #require(o["delivered"] as? Int)
        let sent = try #require(o["sent"] as? Int)
        #expect(delivered > 0)
        #expect(sent >= delivered)
        #expect(o["size"] as? Int == 100)
        let lat = try #require(o["latency"] as? [String: Any])
        for k in ["min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"] { #expect(lat[k] != nil) }

        // Human output: percentile table and text histogram, no progress bar when piped.
        let h = try await Harness.run(["bench", "--port", "sim", "--count", "50", "--size", "32"])
        #expect(h.status == 0, "\(h.stderr)")
        #expect(h.stdout.contains("50 sent, 50 delivered"))
        #expect(h.stdout.contains("p99.9"))
        #expect(h.stdout.contains("│"))
        #expect(!h.stderr.contains("["))
    }

    @Test func demoRunsWithoutHardware() async throws {
        let r = try await Harness.run(["demo", "--duration", "3", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try r.json()
        #expect(lines.first?["event"] as? String == "start")
        let stats = try #require(lines.last)
        #expect(stats["event"] as? String == "stats")
        let rx = lines.filter { $0["event"] as? String == "rx" }
        #expect(rx.count == stats["received"] as? Int)
        #expect(rx.contains { $0["sensor"] != nil })
        #expect((stats["sent"] as? Int ?? 0) >= 1)
        let sources = try #require(stats["sources"] as? [[String: Any]])
        #expect(sources.contains { $0["kind"] as? String == "sensor" })

        let h = try await Harness.run(["demo", "--duration", "2"])
        #expect(h.status == 0, "\(h.stderr)")
        #expect(h.stdout.contains("°C"))
        #expect(h.stdout.contains("dongle: tx_packets"))
    }

    @Test func exitCodes() async throws {
        // Usage: a bad MAC, a bad option value, an unknown subcommand.
        #expect(try await Harness.run(["send", "zz:zz", "hi", "--port", "sim"]).status == 1)
        #expect(try await Harness.run(["listen", "--count", "0", "--port", "sim"]).status == 1)
        #expect(try await Harness.run(["frobnicate"]).status == 1)
        // Device: no such port, with the fix in one sentence.
        let missing = try await Harness.run(["info", "--port", "/dev/espnow-does-not-exist"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/dev/espnow-does-not-exist"))
        #expect(missing.stderr.split(separator: "\n").count == 1)
        // Not a serial port at all.
        #expect(try await Harness.run(["info", "--port", "/dev/null"]).status == 2)
        // Timeout: nothing arrives on a silent air.
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        #expect(try await Harness.run(["listen", "--port", air.dongles[0].port, "--count", "1", "--timeout", "0.5"]).status == 4)
        // ESP-NOW: a packet above the maximum payload is rejected before the radio.
        let big = String(repeating: "x", count: 2000)
        #expect(try await Harness.run(["send", "ff:ff:ff:ff:ff:ff", big, "--port", air.dongles[0].port]).status == 1)
    }

    @Test func infoJSONAndHelp() async throws {
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        let r = try await Harness.run(["info", "--port", air.dongles[0].port, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(try r.json().first)
        #expect(o["sta_mac"] as? String == air.dongles[0].mac)
        #expect(o["protocol"] as? Int == 2)
        #expect(o["simulated"] as? Bool == true)
        #expect((o["max_payload"] as? Int ?? 0) >= 250)
        #expect(o["stats"] is [String: Any])

        let stats = try await Harness.run(["stats", "--port", air.dongles[0].port, "--json"])
        #expect(try stats.json().first?["uptime_s"] != nil)
        let ch = try await Harness.run(["channel", "6", "--port", air.dongles[0].port, "--json"])
        #expect(try ch.json().first?["channel"] as? Int == 6)

        for sub in ["demo", "sim", "info", "send", "listen", "peers", "peers add", "pmk", "channel", "stats", "reset",
                    "ping", "bench", "devices"] {
            let h = try await Harness.run(sub.split(separator: " ").map(String.init) + ["--help"])
            #expect(h.status == 0, "\(sub) --help")
            #expect(h.stdout.contains("USAGE:"), "\(sub) --help")
        }
    }

    @Test func resetComesBack() async throws {
        let air = try TestAir(dongles: 1)
        defer { air.stop() }
        let r = try await Harness.run(["reset", "--port", air.dongles[0].port, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try r.json().first?["boot_count"] as? Int == 2)
    }
}
