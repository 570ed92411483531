// `auto` and reconnections that follow the physical dongle (ESPNowAutoConnect, DongleTracker,
// ESPNowDevice's reconnect hook), against umockdev testbeds whose ttys are symlinks to
// simulated dongles. Like UdevTests, these run only inside `umockdev-wrapper`: the launcher
// test in UdevTests.swift re-runs this suite in a child process.
import ESPNowAutoConnect
import ESPNowDevice
@testable import ESPNowDiscovery
import ESPNowWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Probes that give a simulated dongle on a busy machine time to answer (the default
/// 500 ms suits a real board); only the silent ports' probes take this long.
let patientProbe = ProbeOptions(timeout: .seconds(3))

@Suite(.serialized, .enabled(if: UMockdevLibrary.preloadActive, "needs umockdev-wrapper"))
struct AutoConnectTests {
    static let dongleMAC = "02:44:53:43:00:21"

    /// Unplugs `added` the way the kernel and udev do: remove uevent, sysfs and /dev gone.
    func unplug(_ tb: Testbed, _ added: Testbed.AddedDevice, devnode: String) {
        tb.uevent(added.tty, "remove")
        tb.remove(added.tty)
        tb.remove(added.interface)
        tb.remove(added.usb)
        unlink(tb.root + devnode)
    }

    /// The next device event satisfying `match` (the test is the stream's only reader).
    func nextEvent(_ d: ESPNowDevice, _ what: String,
                   _ match: @escaping @Sendable (ClientEvent) -> Bool) async throws -> ClientEvent {
        let events = d.events
        return try await within(30, what) {
            for await e in events where match(e) { return e }
            throw TimedOut(what: "\(what) (event stream ended)")
        }
    }

    @Test func autoPicksTheOnlyBridgeAndOtherwiseListsTheCandidates() async throws {
        let simA = try SimDongle(staMAC: "02:44:53:43:00:0a")
        let simB = try SimDongle(staMAC: "02:44:53:43:00:0b")
        defer {
            simA.stop()
            simB.stop()
        }
        let silent = try PTY()

        let tb = try Testbed()
        // Only a non-bridge port: `auto` names it and its probe outcome.
        try tb.add(cp210x)
        try tb.setNode("/dev/ttyUSB0", to: silent.slave)
        do {
            _ = try await SerialDiscovery.onlyBridge(probe: patientProbe)
            Issue.record("a silent CP210x is not a bridge")
        } catch {
            guard case .noBridge(let c) = error else { Issue.record("\(error)"); return }
            #expect(c.map(\.device.devnode) == ["/dev/ttyUSB0"])
            #expect(error.description.contains(try #require(cp210x.byID)))
            #expect(error.description.contains("no answer to HELLO"))
        }

        // One bridge among other ports: that one, by its device node, with its HELLO.
        try tb.add(jtag)
        try tb.setNode("/dev/ttyACM0", to: simA.port)
        try tb.add(arduino)  // not a bridge either
        let (only, hello) = try await SerialDiscovery.onlyBridge(probe: patientProbe)
        #expect(only.devnode == "/dev/ttyACM0" && only.serialNumber == jtag.serial)
        #expect(hello.staMAC == MACAddress("02:44:53:43:00:0a"))
        #expect(try await AutoConnect.resolve("auto", probe: patientProbe).path == "/dev/ttyACM0")
        // An explicit path udev knows (here its by-id link) resolves to the same dongle.
        #expect(try await AutoConnect.resolve(try #require(jtag.byID)).device?.physicalID == only.physicalID)
        #expect(try await AutoConnect.resolve("/dev/pts/0").device == nil)

        // Two bridges: a clear error naming both.
        try tb.add(ch9102)
        try tb.setNode("/dev/ttyACM2", to: simB.port)
        do {
            _ = try await AutoConnect.connect(port: "auto", probe: patientProbe)
            Issue.record("two bridges are attached: auto must refuse")
        } catch let e as AutoPortError {
            guard case .several(let b) = e else { Issue.record("\(e)"); return }
            #expect(Set(b.map(\.device.devnode)) == ["/dev/ttyACM0", "/dev/ttyACM2"])
            #expect(e.description.contains(try #require(jtag.byID)) && e.description.contains("/dev/ttyACM2"))
        }
    }

    @Test func trackerFollowsTheSerialNumberToAnotherNode() async throws {
        let tb = try Testbed()
        let first = try tb.add(jtag)
        let device = try #require(try SerialDiscovery.devices().first)

        // Present: answered at once, with where it is.
        let present = try DongleTracker(device: device)
        #expect(try await within(30, "present") { await present.path(after: "/dev/ttyACM0") } == "/dev/ttyACM0")
        present.stop()

        unplug(tb, first, devnode: "/dev/ttyACM0")
        // Absent (created after the unplug): waits, ignores another device (other serial,
        // same kind), and answers with the dongle's new node when it comes back.
        let tracker = try DongleTracker(device: device)
        let answer = Task { await tracker.path(after: "/dev/ttyACM0") }
        var other = jtag
        other.serial = "F4:12:FA:99:99:99"
        other.port = "1-7"
        other.tty = "ttyACM1"
        other.byID = nil
        tb.uevent(try tb.add(other).tty, "add")
        var again = jtag
        again.port = "3-2"
        again.tty = "ttyACM5"
        tb.uevent(try tb.add(again).tty, "add")
        #expect(try await within(30, "return") { await answer.value } == "/dev/ttyACM5")
        #expect(tracker.currentPath == "/dev/ttyACM5" && tracker.lastSeen?.usbPort == "3-2")

        // Cancellation and stop() end a wait for a dongle that does not come back.
        let lost = try DongleTracker(physicalID: "usb:303a:1001:NOT-THERE:if0")
        let cancelled = Task { await lost.path(after: "/dev/ttyACM9") }
        cancelled.cancel()
        #expect(try await within(30, "cancelled wait") { await cancelled.value } == nil)
        let stopped = Task { await lost.path(after: "/dev/ttyACM9") }
        lost.stop()
        #expect(try await within(30, "stopped wait") { await stopped.value } == nil)
    }

    @Test func reconnectFollowsTheDongleToItsNewPathAndRestoresItsState() async throws {
        var sim = try SimDongle(staMAC: Self.dongleMAC)
        defer { sim.stop() }
        let tb = try Testbed()
        let first = try tb.add(jtag)
        try tb.setNode("/dev/ttyACM0", to: sim.port)
        try tb.passIoctlsThrough("/dev/ttyACM0")

        var options = DeviceOptions()
        options.reconnectInterval = .milliseconds(20)
        let d = try await AutoConnect.connect(port: "auto", options: options, probe: patientProbe)
        #expect(d.path == "/dev/ttyACM0")
        #expect(d.info.staMAC == MACAddress(Self.dongleMAC))
        let peer = try #require(MACAddress("02:44:53:43:00:99"))
        try await d.wifiSetIfActive(.sta, true)
        try await d.espNowInit()
        try await d.espNowAddPeer(PeerInfo(peerAddr: peer, channel: 0))
        #expect(try await d.espNowIsPeerExist(peer))

        // Unplug: the simulated dongle loses power (its pty goes), udev removes the node.
        unplug(tb, first, devnode: "/dev/ttyACM0")
        sim.stop()
        _ = try await nextEvent(d, "unplugged") { if case .unplugged = $0 { true } else { false } }
        await #expect(throws: ESPNowError.self) { try await d.espNowGetPeerNum() }

        // Replug into another socket: a fresh dongle (same serial number) at /dev/ttyACM5.
        sim = try SimDongle(staMAC: Self.dongleMAC)
        var again = jtag
        again.port = "3-2"
        again.tty = "ttyACM5"
        again.byID = nil
        let back = try tb.add(again)
        try tb.setNode("/dev/ttyACM5", to: sim.port)
        try tb.passIoctlsThrough("/dev/ttyACM5")
        tb.uevent(back.tty, "add")

        let restored = try await nextEvent(d, "restored") { if case .restored = $0 { true } else { false } }
        guard case .restored(let steps, let failed) = restored else { return }
        #expect(failed.isEmpty && steps >= 3)
        #expect(d.path == "/dev/ttyACM5")
        #expect(!FileManager.default.fileExists(atPath: "/dev/ttyACM0"))
        #expect(d.hostCounters.reconnects == 1)
        #expect(d.hostCounters.reboots == 0)  // the new dongle's boot HELLO is part of the reconnection
        // The new dongle booted empty: the peer is there because the client restored it.
        #expect(try await d.espNowIsPeerExist(peer))
        #expect(try await d.espNowGetPeerNum().total == 1)
        #expect(try await d.wifiGetIfActive(.sta))
        await d.close()
    }

    @Test func closeEndsTheWaitForADongleThatDoesNotComeBack() async throws {
        let sim = try SimDongle(staMAC: Self.dongleMAC)
        defer { sim.stop() }
        let tb = try Testbed()
        let first = try tb.add(jtag)
        try tb.setNode("/dev/ttyACM0", to: sim.port)
        try tb.passIoctlsThrough("/dev/ttyACM0")
        var options = DeviceOptions()
        options.reconnectInterval = .milliseconds(20)
        let d = try await AutoConnect.connect(port: "/dev/ttyACM0", options: options)

        unplug(tb, first, devnode: "/dev/ttyACM0")
        sim.stop()
        _ = try await nextEvent(d, "unplugged") { if case .unplugged = $0 { true } else { false } }
        try await within(30, "close") { await d.close() }
        await #expect {
            try await d.ping()
        } throws: { e in
            if case ESPNowError.closed = e { true } else { false }
        }
    }
}
