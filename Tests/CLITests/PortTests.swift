import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Finding the dongle: the scan without udev, the config file's names, `id:SERIAL`.
@Suite(.serialized) struct PortTests {
    static func tmp(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// A fake root with the two simulated dongles where a scan without udev looks: one as
    /// /dev/ttyUSB0, one only known to /sys/class/tty as a USB serial port (ttyXRUSB0, a
    /// name no /dev prefix rule covers), plus a by-id link carrying a USB serial number.
    static func fakeRoot(_ air: TestAir, byID: String? = nil) throws -> String {
        let root = try tmp("root")
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(root)/dev", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(root)/sys/class/tty/ttyXRUSB0", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(root)/sys/class/tty/ttyS0", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: "\(root)/dev/ttyUSB0", withDestinationPath: air.dongles[0].port)
        try fm.createSymbolicLink(atPath: "\(root)/dev/ttyXRUSB0", withDestinationPath: air.dongles[1].port)
        try fm.createSymbolicLink(atPath: "\(root)/sys/class/tty/ttyXRUSB0/device",
                                  withDestinationPath: "../../../devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0")
        // A serial port that is not USB: not probed.
        try fm.createSymbolicLink(atPath: "\(root)/dev/ttyS0", withDestinationPath: "/dev/null")
        try fm.createSymbolicLink(atPath: "\(root)/sys/class/tty/ttyS0/device", withDestinationPath: "../../../devices/platform/serial8250")
        if let serial = byID {
            try fm.createDirectory(atPath: "\(root)/dev/serial/by-id", withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: "\(root)/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_\(serial)-if00",
                                      withDestinationPath: "../../ttyXRUSB0")
        }
        return root
    }

    @Test func scanWithoutUdevFindsDevAndSysPorts() async throws {
        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let root = try Self.fakeRoot(air)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["ESPNOW_NO_UDEV": "1", "ESPNOW_SCAN_ROOT": root, "ESPNOW_PORT": ""]
        let r = try await Harness.run(["devices", "--json"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(rows.compactMap { $0["port"] as? String }.sorted() == ["\(root)/dev/ttyUSB0", "\(root)/dev/ttyXRUSB0"])
        #expect(rows.allSatisfy { $0["bridge"] as? Bool == true })
        #expect(Set(rows.compactMap { $0["sta_mac"] as? String }) == Set(air.dongles.map(\.mac)))
        // `--port auto` sees both, so it asks which.
        let auto = try await Harness.run(["info", "--port", "auto"], environment: env)
        #expect(auto.status == 2)
        #expect(auto.stderr.contains("several bridge dongles") && auto.stderr.contains("\(root)/dev/ttyXRUSB0"), "\(auto.stderr)")
    }

    @Test func configFileNamesAndSerialNumbers() async throws {
        let air = try TestAir(dongles: 2)
        defer { air.stop() }
        let root = try Self.fakeRoot(air, byID: "AB12CD")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let home = try Self.tmp("config")
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: "\(home)/espnow", withIntermediateDirectories: true)
        try """
            # the bench dongle by USB serial number, the other by path
            port = "bench"
            country = "JP"
            [ports]
            bench = "id:AB12CD"
            desk = "\(air.dongles[0].port)"
            """.write(toFile: "\(home)/espnow/config.toml", atomically: true, encoding: .utf8)
        let env = ["ESPNOW_NO_UDEV": "1", "ESPNOW_SCAN_ROOT": root, "XDG_CONFIG_HOME": home, "ESPNOW_PORT": ""]
        // No --port: the config's default, a name for id:AB12CD, which is dongle 1.
        let info = try await Harness.run(["info", "--json"], environment: env)
        #expect(info.status == 0, "\(info.stderr)")
        let o = try #require(try info.json().first)
        #expect(o["sta_mac"] as? String == air.dongles[1].mac)
        #expect((o["port"] as? String)?.hasSuffix("_AB12CD-if00") == true)
        // The config's country is set when a command starts.
        let cc = try #require(try (try await Harness.run(["country", "--json"], environment: env)).json().first)
        #expect(cc["country"] as? String == "JP")
        let desk = try await Harness.run(["info", "--port", "desk", "--json"], environment: env)
        #expect(try desk.json().first?["sta_mac"] as? String == air.dongles[0].mac)
        let byID = try await Harness.run(["info", "--port", "id:AB12CD", "--json"], environment: env)
        #expect(try byID.json().first?["sta_mac"] as? String == air.dongles[1].mac)
        let missing = try await Harness.run(["info", "--port", "id:NOPE"], environment: env)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no attached dongle has USB serial number NOPE"))

        // A broken file names itself and the key.
        try "channel = 99\n".write(toFile: "\(home)/espnow/config.toml", atomically: true, encoding: .utf8)
        let broken = try await Harness.run(["info", "--port", air.dongles[0].port], environment: env)
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("\(home)/espnow/config.toml: channel must be an integer 1...14"), "\(broken.stderr)")
    }
}
