@testable import ESPNowDiscovery
import ESPNowWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ClassificationTests {
    @Test func vidPidClassification() {
        let cases: [(UInt16, UInt16, BridgeChip)] = [
            (0x303A, 0x1001, .espressifUSBSerialJTAG), (0x303A, 0x4001, .espressifTinyUSB),
            (0x303A, 0x0002, .espressifTinyUSB), (0x10C4, 0xEA60, .cp210x), (0x1A86, 0x7523, .ch340),
            (0x1A86, 0x55D4, .ch9102), (0x0403, 0x6001, .ftdi), (0x0403, 0x6010, .ftdi), (0x0403, 0x6014, .ftdi),
            (0x0403, 0x6015, .ftdi), (0x0403, 0x6011, .other), (0x10C4, 0xEA70, .other), (0x2341, 0x0043, .other),
        ]
        for (v, p, want) in cases { #expect(BridgeChip(vendorID: v, productID: p) == want, "\(hex4(v)):\(hex4(p))") }
        #expect(BridgeChip.espressifTinyUSB.isEspressif && !BridgeChip.cp210x.isEspressif)
        #expect(BridgeChip.ch9102.isCommonUARTBridge && !BridgeChip.other.isCommonUARTBridge)
    }

    func dev(_ node: String, _ vid: UInt16, _ pid: UInt16, serial: String? = nil, port: String = "1-1") -> SerialDevice {
        SerialDevice(devnode: node, syspath: "/sys/x/" + node, sysname: String(node.dropFirst(5)), vendorID: vid,
                     productID: pid, serialNumber: serial, interfaceNumber: 0, usbPort: port)
    }

    @Test func sortingPutsLikelyESP32FirstInNaturalOrder() {
        let d = [dev("/dev/ttyACM10", 0x2341, 0x0043), dev("/dev/ttyUSB0", 0x1A86, 0x7523),
                 dev("/dev/ttyACM10", 0x303A, 0x1001), dev("/dev/ttyACM2", 0x303A, 0x1001)]
        let s = SerialDiscovery.sorted(d).map { "\($0.devnode) \($0.vidPid)" }
        #expect(s == ["/dev/ttyACM2 303a:1001", "/dev/ttyACM10 303a:1001", "/dev/ttyUSB0 1a86:7523",
                      "/dev/ttyACM10 2341:0043"])
    }

    @Test func filters() {
        let a = dev("/dev/ttyACM0", 0x303A, 0x1001, serial: "S1"), b = dev("/dev/ttyUSB0", 0x0403, 0x6001, serial: "F1"),
            c = dev("/dev/ttyACM1", 0x2341, 0x0043)
        #expect([a, b, c].filter(DeviceFilter.likelyESP32.matches) == [a, b])
        #expect([a, b, c].filter(DeviceFilter.all.matches) == [a, b, c])
        #expect([a, b, c].filter(DeviceFilter(chips: [.ftdi]).matches) == [b])
        #expect([a, b, c].filter(DeviceFilter(serialNumber: "S1").matches) == [a])
    }

    @Test func physicalIdentityFollowsSerialAcrossPaths() {
        let first = dev("/dev/ttyACM0", 0x303A, 0x1001, serial: "AA:BB", port: "1-1")
        let back = dev("/dev/ttyACM3", 0x303A, 0x1001, serial: "AA:BB", port: "1-4")
        let other = dev("/dev/ttyACM0", 0x303A, 0x1001, serial: "CC:DD", port: "1-1")
        #expect(first.isSamePhysicalDevice(as: back))
        #expect(!first.isSamePhysicalDevice(as: other))
        #expect(first.physicalID == "usb:303a:1001:AA:BB:if0")
        // No serial number (CH340): the USB socket identifies it.
        #expect(dev("/dev/ttyUSB0", 0x1A86, 0x7523, port: "3-2").physicalID == "port:3-2:if0")
    }

    @Test func devpathAndEscapes() {
        let c = UdevReader.usbComponents(fromDevpath: "/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.4/1-1.4:1.2/tty/ttyACM0")
        #expect(c?.port == "1-1.4" && c?.interface == 2)
        #expect(UdevReader.usbComponents(fromDevpath: "/devices/virtual/tty/ttyS0") == nil)
        #expect(UdevReader.decoded("Silicon\\x20Labs\\x20") == "Silicon Labs")
    }

    @Test func errorsNameTheDeviceAndTheFix() {
        let p = DiscoveryError.permissionDenied(path: "/dev/ttyACM0").description
        #expect(p.contains("/dev/ttyACM0") && p.contains("99-espnow-bridge.rules") && p.contains("udevadm"))
        let b = DiscoveryError.busy(path: "/dev/ttyUSB1").description
        #expect(b.contains("/dev/ttyUSB1") && b.contains("busy"))
    }
}

/// Probing over real pseudo-terminals (no udev involved).
@Suite struct ProbeTests {
    @Test func simulatedDongleAnswersHello() async throws {
        let sim = try SimDongle(staMAC: "02:44:53:43:00:01")
        defer { sim.stop() }
        let r = await SerialProbe.probe(path: sim.port, options: ProbeOptions(timeout: .seconds(20)))
        guard case .bridge(let h) = r else { Issue.record("expected a bridge, got \(r)"); return }
        #expect(h.staMAC == MACAddress("02:44:53:43:00:01"))
        #expect(h.protocolVersion == WireProtocol.version && h.chipName == "simulator" && h.transportName == "simulator pty")
        #expect(h.maxPayload >= 250 && (h.espnowVersion == 1 || h.espnowVersion == 2))
        // A second probe works too (the first did not leave the port in a bad state).
        #expect(await SerialProbe.probe(path: sim.port, options: ProbeOptions(timeout: .seconds(20))).isBridge)
    }

    @Test func silentPortIsNotABridgeAndGotExactlyDelimiterPlusHello() async throws {
        let pty = try PTY()
        let t0 = ContinuousClock.now
        let r = await SerialProbe.probe(path: pty.slave, options: ProbeOptions(timeout: .milliseconds(300)))
        let elapsed = ContinuousClock.now - t0
        #expect(r == .noAnswer(bytesReceived: 0, validFrames: 0))
        // It waited for the whole timeout (an upper bound would only measure the machine's load).
        #expect(elapsed >= .milliseconds(290), "took \(elapsed)")
        let sent = pty.drain()
        #expect(sent.first == 0x00)
        let m = try Message(wire: Array(sent.dropFirst()))
        #expect(m.kind == .request && m.code == CommandCode.hello.rawValue)
    }

    @Test func chattyForeignPortIsNotABridge() async throws {
        let pty = try PTY()
        pty.write(Array("rst:0x1 (POWERON),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nhello world\r\n".utf8))
        let r = await SerialProbe.probe(path: pty.slave, options: ProbeOptions(timeout: .milliseconds(200)))
        guard case .noAnswer(let n, let frames) = r else { Issue.record("got \(r)"); return }
        #expect(n > 40 && frames == 0)
    }

    @Test func foreignProtocolVersionIsReportedAsSuch() async throws {
        let pty = try PTY()
        for fw: (UInt8, UInt8, UInt8) in [(3, 1, 0), (3, 0, 0), (1, 13, 10)] {
            pty.write(foreignHelloEvent(version: fw.0, fw: fw))
            let r = await SerialProbe.probe(path: pty.slave, options: ProbeOptions(timeout: .seconds(2)))
            guard case .foreignProtocol(let f) = r else { Issue.record("fw \(fw): got \(r)"); continue }
            #expect(f.protoVersion == fw.0 && f.fwMajor == fw.0 && f.fwMinor == fw.1 && f.fwPatch == fw.2)
            #expect(r.description.contains("reflash"))
        }
    }

    @Test func busyMissingAndNonTTYPortsFailClearly() async throws {
        let pty = try PTY()
        let holder = open(pty.slave, O_RDWR | O_NOCTTY)
        #expect(holder >= 0)
        defer { close(holder) }
        #expect(flock(holder, LOCK_EX | LOCK_NB) == 0)
        #expect(await SerialProbe.probe(path: pty.slave) == .failed(.busy(path: pty.slave)))
        #expect(await SerialProbe.probe(path: "/dev/ttyNOPE99") == .failed(.gone(path: "/dev/ttyNOPE99")))
        guard case .failed(.ioFailed(_, "tcgetattr", _, let reason)) = await SerialProbe.probe(path: "/dev/null") else {
            Issue.record("/dev/null should not probe as a serial port"); return
        }
        #expect(reason == "not a serial port")
    }

    @Test func cancellationEndsAProbePromptly() async throws {
        let pty = try PTY()
        let slave = pty.slave
        let t0 = ContinuousClock.now
        let task = Task { await SerialProbe.probe(path: slave, options: ProbeOptions(timeout: .seconds(30))) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let r = await task.value
        // .cancelled (not .noAnswer after 30 s) shows cancellation, not the timeout, ended it.
        #expect(r == .failed(.cancelled(path: slave)))
        print("cancelled probe returned after \(ContinuousClock.now - t0)")
    }
}
