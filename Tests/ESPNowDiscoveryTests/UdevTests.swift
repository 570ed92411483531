// Enumeration, classification, probing and hotplug through real libudev, against umockdev
// testbeds. These run only inside `umockdev-wrapper` (the preload must be in the process
// from the start); under a plain `swift test` the launcher test at the bottom re-runs this
// suite in a child process under umockdev-wrapper and requires it to pass.
@testable import ESPNowDiscovery
import ESPNowWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

typealias Fake = Testbed.FakeUSBSerial

let jtag = Fake(port: "1-1", vid: "303a", pid: "1001", serial: "F4:12:FA:00:11:22", manufacturer: "Espressif",
                product: "USB JTAG/serial debug unit", interface: 0, tty: "ttyACM0",
                byID: "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_F4:12:FA:00:11:22-if00")
let tinyusb = Fake(port: "1-2", vid: "303a", pid: "4001", serial: "123456", manufacturer: "Espressif Systems",
                   product: "Espressif Device", interface: 0, tty: "ttyACM1", byID: nil)
let cp210x = Fake(port: "1-3", vid: "10c4", pid: "ea60", serial: "0001", manufacturer: "Silicon Labs",
                  product: "CP2102 USB to UART Bridge Controller", interface: 0, tty: "ttyUSB0",
                  byID: "/dev/serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0",
                  driver: "cp210x")
let ch340 = Fake(port: "1-4.1", vid: "1a86", pid: "7523", serial: nil, manufacturer: nil, product: "USB Serial",
                 interface: 0, tty: "ttyUSB1", byID: nil, driver: "ch341")
let ch9102 = Fake(port: "1-4.2", vid: "1a86", pid: "55d4", serial: "54FC012345", manufacturer: nil,
                  product: "USB Single Serial", interface: 0, tty: "ttyACM2", byID: nil)
let ftdi = Fake(port: "2-1", vid: "0403", pid: "6010", serial: "FT2XYZ", manufacturer: "FTDI",
                product: "Dual RS232-HS", interface: 1, tty: "ttyUSB2", byID: nil, driver: "ftdi_sio")
let arduino = Fake(port: "2-2", vid: "2341", pid: "0043", serial: "75833353", manufacturer: "Arduino (www.arduino.cc)",
                   product: "Uno", interface: 0, tty: "ttyACM3", byID: nil)

@Suite(.serialized, .enabled(if: UMockdevLibrary.preloadActive, "needs umockdev-wrapper"))
struct UdevTests {
    @Test func enumeratesAndClassifiesUSBSerialPorts() throws {
        let tb = try Testbed()
        for f in [arduino, ftdi, ch9102, ch340, cp210x, tinyusb] { try tb.add(f) }
        try tb.add(jtag, udevProperties: false)  // sysfs attributes only: read from the USB parent
        // A tty without a USB parent (a 16550 UART) is not listed.
        try tb.addDevice(subsystem: "tty", name: "ttyS0", parent: nil, attributes: [], properties: [("DEVNAME", "/dev/ttyS0")])

        let all = try SerialDiscovery.devices()
        #expect(all.map(\.devnode) == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyACM2", "/dev/ttyUSB0", "/dev/ttyUSB1",
                                        "/dev/ttyUSB2", "/dev/ttyACM3"])
        #expect(all.map(\.chip) == [.espressifUSBSerialJTAG, .espressifTinyUSB, .ch9102, .cp210x, .ch340, .ftdi, .other])

        let j = try #require(all.first)
        #expect(j.vidPid == "303a:1001" && j.serialNumber == "F4:12:FA:00:11:22")
        #expect(j.manufacturer == "Espressif" && j.product == "USB JTAG/serial debug unit")
        #expect(j.interfaceNumber == 0 && j.usbPort == "1-1")
        #expect(j.byIDLink == "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_F4:12:FA:00:11:22-if00")
        #expect(j.syspath.hasSuffix("/1-1/1-1:1.0/ttyACM0"))

        let f = try #require(all.first { $0.chip == .ftdi })
        #expect(f.interfaceNumber == 1 && f.serialNumber == "FT2XYZ" && f.product == "Dual RS232-HS")
        let c = try #require(all.first { $0.chip == .ch340 })
        #expect(c.serialNumber == nil && c.physicalID == "port:1-4.1:if0" && c.byIDLink == nil)
        #expect(all.first { $0.chip == .cp210x }?.byIDLink?.hasSuffix("_0001-if00-port0") == true)

        #expect(try SerialDiscovery.devices(matching: .likelyESP32).count == 6)
        #expect(try SerialDiscovery.devices(matching: DeviceFilter(chips: [.ch340, .ch9102])).map(\.devnode)
                == ["/dev/ttyACM2", "/dev/ttyUSB1"])
        #expect(try SerialDiscovery.devices(matching: DeviceFilter(serialNumber: "0001")).map(\.devnode) == ["/dev/ttyUSB0"])
    }

    @Test func probeTellsTheBridgeApartFromOtherDevices() async throws {
        // Real endpoints first (before the testbed redirects /dev): the simulated dongle's pty,
        // a silent pty, and a pty whose "firmware" boots with a protocol-v2 HELLO.
        let sim = try SimDongle(staMAC: "02:44:53:43:00:07")
        defer { sim.stop() }
        let silent = try PTY()
        let foreign = try PTY()
        foreign.write(foreignHelloEvent(version: 3, fw: (3, 0, 0)))

        let tb = try Testbed()
        try tb.add(jtag)
        try tb.add(cp210x)
        try tb.add(ch340)
        try tb.setNode("/dev/ttyACM0", to: sim.port)
        try tb.setNode("/dev/ttyUSB0", to: silent.slave)
        try tb.setNode("/dev/ttyUSB1", to: foreign.slave)

        let devices = try SerialDiscovery.devices(matching: .likelyESP32)
        #expect(devices.map(\.devnode) == ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB1"])
        let t0 = ContinuousClock.now
        let results = await SerialProbe.probe(devices, options: ProbeOptions(timeout: .seconds(5)))
        let elapsed = ContinuousClock.now - t0
        print("three concurrent probes took \(elapsed)")  // a figure, not a pass/fail bound

        let byNode = Dictionary(uniqueKeysWithValues: results.map { ($0.device.devnode, $0.outcome) })
        guard case .bridge(let h)? = byNode["/dev/ttyACM0"] else {
            Issue.record("ttyACM0 (simulator) should be a bridge: \(String(describing: byNode["/dev/ttyACM0"]))"); return
        }
        #expect(h.staMAC == MACAddress("02:44:53:43:00:07") && h.chipName == "simulator")
        #expect(byNode["/dev/ttyUSB0"] == .noAnswer(bytesReceived: 0, validFrames: 0))
        guard case .foreignProtocol(let f)? = byNode["/dev/ttyUSB1"] else {
            Issue.record("ttyUSB1 should be a foreign-version bridge: \(String(describing: byNode["/dev/ttyUSB1"]))"); return
        }
        #expect(f.protoVersion == 3)
        // The silent device received the flush byte and one HELLO request, nothing else.
        let sent = silent.drain()
        #expect(sent.first == 0 && (try? Message(wire: Array(sent.dropFirst())))?.code == CommandCode.hello.rawValue)
    }

    @Test func hotplugReportsArrivalAndDepartureWithSerialAndFollowsAReplug() async throws {
        let tb = try Testbed()
        let monitor = try DeviceMonitor()

        // A non-USB tty and a non-matching event produce nothing; the dongle arrives.
        let s0 = try tb.addDevice(subsystem: "tty", name: "ttyS0", parent: nil, attributes: [],
                                  properties: [("DEVNAME", "/dev/ttyS0")])
        tb.uevent(s0, "add")
        let first = try tb.add(jtag)
        tb.uevent(first.tty, "change")
        tb.uevent(first.tty, "add")
        let arrived = try await within(30, "arrival") { await monitor.next { _ in true } }
        #expect(arrived?.action == .arrived)
        #expect(arrived?.device.devnode == "/dev/ttyACM0" && arrived?.device.serialNumber == "F4:12:FA:00:11:22")
        #expect(arrived?.device.chip == .espressifUSBSerialJTAG)

        // Unplug: the event is delivered and still names the serial number.
        tb.uevent(first.tty, "remove")
        tb.remove(first.tty)
        tb.remove(first.interface)
        tb.remove(first.usb)
        let left = try await within(30, "departure") { await monitor.next { _ in true } }
        #expect(left?.action == .left && left?.device.devnode == "/dev/ttyACM0")
        #expect(left?.device.serialNumber == "F4:12:FA:00:11:22")

        // Another device comes and goes, then the dongle returns on another port and path.
        let other = try tb.add(cp210x)
        tb.uevent(other.tty, "add")
        var again = jtag
        again.port = "3-2"
        again.tty = "ttyACM5"
        let back = try tb.add(again)
        tb.uevent(back.tty, "add")
        let otherEvent = try await within(30, "cp210x") { await monitor.next { _ in true } }
        #expect(otherEvent?.device.chip == .cp210x)
        let returned = try await within(30, "return") { await monitor.next { $0.action == .arrived } }
        let r = try #require(returned)
        #expect(r.device.devnode == "/dev/ttyACM5" && r.device.usbPort == "3-2")
        #expect(r.device.isSamePhysicalDevice(as: try #require(left?.device)))
        #expect(!r.device.isSamePhysicalDevice(as: try #require(otherEvent?.device)))
        monitor.stop()
    }

    @Test func monitorReportsExistingDevicesAndFilters() async throws {
        let tb = try Testbed()
        try tb.add(cp210x)
        try tb.add(arduino)
        let monitor = try DeviceMonitor(filter: .likelyESP32, reportExisting: true)
        let a = try await within(30, "existing") { await monitor.next { _ in true } }
        #expect(a?.action == .arrived && a?.device.chip == .cp210x)
        // An Arduino arriving is filtered out; the FTDI after it is reported.
        var uno2 = arduino
        uno2.port = "2-3"
        uno2.tty = "ttyACM7"
        tb.uevent(try tb.add(uno2).tty, "add")
        tb.uevent(try tb.add(ftdi).tty, "add")
        let b = try await within(30, "ftdi") { await monitor.next { _ in true } }
        #expect(b?.device.chip == .ftdi && b?.device.devnode == "/dev/ttyUSB2")
        monitor.stop()
    }

    @Test func monitorStopsOnTaskCancellationAndOnStop() async throws {
        let tb = try Testbed()
        _ = tb
        let monitor = try DeviceMonitor()
        let task = Task { () -> Int in
            var n = 0
            for await _ in monitor { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        let n = try await within(30, "cancellation") { await task.value }
        #expect(n == 0)

        let m2 = try DeviceMonitor()
        let t2 = Task { () -> Bool in
            for await _ in m2 { return false }
            return true
        }
        m2.stop()
        #expect(try await within(30, "stop") { await t2.value })
    }
}

/// Under a plain `swift test` (no preload), runs each umockdev suite (``UdevTests``,
/// ``AutoConnectTests``, ``SharedDongleTests``) in a child process under umockdev-wrapper, one after the other (a
/// process holds one testbed at a time), and requires every one of its tests to pass.
@Suite struct UMockdevLauncher {
    static var wrapper: String? {
        ["/usr/bin/umockdev-wrapper", "/usr/local/bin/umockdev-wrapper"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Set in the child so that it never launches itself again.
    static let childMarker = "ESPNOW_UDEV_TESTS_CHILD"

    /// The suites that need the preload. Each filter names exactly one suite of this
    /// module; none of them matches the launcher (which is disabled in the child anyway).
    static let suites = ["UdevTests", "AutoConnectTests", "SharedDongleTests"]

    @Test(.enabled(if: !UMockdevLibrary.preloadActive && ProcessInfo.processInfo.environment[childMarker] == nil))
    func udevSuitesPassUnderUMockdevWrapper() async throws {
        guard let wrapper = Self.wrapper else {
            Issue.record("umockdev-wrapper not found: apt-get install umockdev (the udev tests cannot run without it)")
            return
        }
        for suite in Self.suites {
            try await runChild(wrapper: wrapper, suite: suite)
        }
    }

    /// Waits for the child without holding one of the few cooperative threads (the other
    /// suites run meanwhile), and collects its output in a file rather than a pipe: a
    /// simulator the child left behind would keep a pipe open, and reading it to the end
    /// would never return.
    func runChild(wrapper: String, suite: String) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: wrapper)
        p.arguments = [CommandLine.arguments[0], "--testing-library", "swift-testing",
                       "--filter", "ESPNowDiscoveryTests.\(suite)/"]
        var env = ProcessInfo.processInfo.environment
        env[Self.childMarker] = "1"
        p.environment = env
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("espnow-udev-\(suite)-\(getpid()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let fh = try FileHandle(forWritingTo: log)
        p.standardOutput = fh
        p.standardError = fh
        let status: Int32 = try await withCheckedThrowingContinuation { c in
            p.terminationHandler = { ended in c.resume(returning: ended.terminationStatus) }
            do {
                try p.run()
            } catch {
                p.terminationHandler = nil
                c.resume(throwing: error)
                return
            }
            // Watchdog: a hung child fails the test instead of hanging it.
            let pid = p.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + 300) { if p.isRunning { kill(pid, SIGKILL) } }
        }
        try? fh.close()
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        print(text)
        #expect(status == 0, "\(suite) under umockdev-wrapper failed:\n\(text)")
        #expect(text.contains("Suite \(suite) passed") || text.contains("Suite \"\(suite)\" passed"),
                "\(suite) did not run:\n\(text)")
    }
}
