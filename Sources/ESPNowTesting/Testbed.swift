import ESPNow
import ESPNowDevice
import ESPNowSimulator
import ESPNowWire
import Foundation
import Logging
import NIOConcurrencyHelpers

/// How a device under test is run when the bed is simulated.
public enum SimulatedNode: Sendable, Hashable {
    /// A firmware node: an executable built by `espnow node build` (docs/NODES.md).
    case firmware(app: String)
    /// A scripted node of the simulator: `echo`, `sensor,interval=500`, `flood,len=32`...
    case scripted(String)
}

/// A device under test as a suite declares it: the same declaration serves a simulated bed
/// (the node runs on the simulated air) and a hardware bed (the board is found by `mac`).
public struct DeviceSpec: Sendable {
    public var name: String
    /// Required on hardware; a firmware node takes it as its factory MAC; scripted nodes ignore it.
    public var mac: MACAddress?
    public var simulated: SimulatedNode?
    /// The channel a simulated node comes up on.
    public var channel: Int?

    public init(_ name: String, mac: MACAddress? = nil, simulated: SimulatedNode? = nil, channel: Int? = nil) {
        self.name = name
        self.mac = mac
        self.simulated = simulated
        self.channel = channel
    }
}

public struct TestbedOptions: Sendable {
    /// Dongles the suite drives (the instruments).
    public var dongles = 1
    public var devices: [DeviceSpec] = []
    /// Channel of every dongle (and of simulated nodes without their own).
    public var channel: Int?
    /// Seed of the simulated air (MACs, loss): runs repeat given the same traffic.
    public var seed: UInt64? = 1
    /// Simulated airtime follows the wall clock (firmware nodes that talk to the host need it).
    public var realtime = false
    /// Real dongles; nil: simulated. Defaults to `$ESPNOW_PORTS`.
    public var ports: [String]? = TestbedOptions.environmentPorts

    /// The dongles `$ESPNOW_PORTS` lists (comma or space separated), nil when it is unset or empty.
    public static var environmentPorts: [String]? { SimulatedDongles.realPorts }
    /// Where a failed test's pcap goes: `$ESPNOW_TEST_ARTIFACTS`, else the temporary directory.
    public var artifactsDirectory: String = ProcessInfo.processInfo.environment["ESPNOW_TEST_ARTIFACTS"]
        ?? FileManager.default.temporaryDirectory.path
    /// Names the pcap file.
    public var name = "testbed"
    /// The device clients' log level (connections and reconnections are `info`).
    public var logLevel: Logger.Level = .warning

    public init(dongles: Int = 1, devices: [DeviceSpec] = [], channel: Int? = nil) {
        self.dongles = dongles
        self.devices = devices
        self.channel = channel
    }
}

/// A device under test on the bed.
public struct DUT: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var mac: MACAddress
    /// Its radio index on the simulated air (nil on hardware).
    public var radio: Int?
    public var description: String { "\(name) (\(mac))" }
}

/// A dongle of the bed: the instrument that sends and listens.
public struct BedDongle: Sendable {
    public var index: Int
    public var espnow: ESPNow
    public var mac: MACAddress
    public var port: String
}

public enum TestbedError: Error, CustomStringConvertible, Equatable {
    /// An expectation did not hold: what was expected, and what was seen instead.
    case expectation(String)
    /// A fault the bed cannot produce (real hardware has no control socket).
    case notAvailableOnHardware(String)
    case setup(String)

    public var description: String {
        switch self {
        case .expectation(let s): s
        case .notAvailableOnHardware(let f): "\(f) is not available on hardware (real dongles from ESPNOW_PORTS); run the test on the simulator"
        case .setup(let s): s
        }
    }
}

/// Dongles and devices under test on their own air (simulated, unless `ESPNOW_PORTS` names real
/// dongles), with every packet the dongles hear captured for expectations, statistics and a pcap.
public final class Testbed: Sendable {
    public let options: TestbedOptions
    public let dongles: [BedDongle]
    public let devices: [DUT]
    /// The simulated air (nil on hardware).
    public let air: SimulatedAir?
    public var isHardware: Bool { air == nil }

    let capture = CaptureLog()
    /// Link events of each dongle (restored state, unplugs), for faults that wait for them.
    let linkEvents = CaptureLog()
    private let readers: [Task<Void, Never>]
    private let mark = NIOLockedValueBox(0)
    private let peers = NIOLockedValueBox<Set<String>>([])
    private let closed = NIOLockedValueBox(false)

    private init(options: TestbedOptions, dongles: [BedDongle], devices: [DUT], air: SimulatedAir?) {
        self.options = options
        self.dongles = dongles
        self.devices = devices
        self.air = air
        let log = capture
        let events = linkEvents
        let watchers = dongles.map { d in
            Task {
                for await e in d.espnow.device.events {
                    switch e {
                    case .restored: events.append(dongle: d.index, from: .broadcast, to: .broadcast, payload: Array("restored".utf8), rssi: 0, channel: 0)
                    case .unplugged: events.append(dongle: d.index, from: .broadcast, to: .broadcast, payload: Array("unplugged".utf8), rssi: 0, channel: 0)
                    default: break
                    }
                }
            }
        }
        readers = watchers + dongles.map { d in
            Task {
                let me = d.mac
                while true {
                    // Waits without a timeout; ends when the bed cancels it (or the queue ends).
                    let next: ReceivedPacket?
                    do { next = try await d.espnow.device.packetQueue.next(timeout: nil) } catch { return }
                    guard let p = next else { continue }
                    let to: MACAddress = switch p.dst {
                    case .broadcast: .broadcast
                    case .other: p.dstAddr ?? .broadcast
                    default: me
                    }
                    log.append(dongle: d.index, from: p.src, to: to, payload: p.bytes, rssi: Int(p.rssi), channel: Int(p.channel))
                }
            }
        }
    }

    /// Starts the air (or opens the real dongles) and brings every dongle up (STA active,
    /// ESP-NOW initialised, on `options.channel`).
    public static func start(_ options: TestbedOptions = TestbedOptions()) async throws -> Testbed {
        var air: SimulatedAir?
        var ports: [String]
        var duts: [DUT] = []
        if let real = options.ports {
            guard real.count >= options.dongles else {
                throw TestbedError.setup("ESPNOW_PORTS lists \(real.count) dongles, the test needs \(options.dongles)")
            }
            ports = Array(real.prefix(options.dongles))
            for d in options.devices {
                guard let mac = d.mac else {
                    throw TestbedError.setup("device \(d.name) has no MAC: on hardware the board under test is found by its MAC")
                }
                duts.append(DUT(name: d.name, mac: mac, radio: nil))
            }
        } else {
            var o = AirOptions(dongles: options.dongles)
            o.seed = options.seed
            o.realtime = options.realtime
            o.channel = options.channel
            for d in options.devices {
                guard let sim = d.simulated else {
                    throw TestbedError.setup("device \(d.name) has no simulated form (firmware app or scripted node): it can only be tested on hardware")
                }
                var spec: String
                switch sim {
                case .firmware(let app):
                    spec = "app=\(app)"
                    if let m = d.mac { spec += ",mac=\(m)" }
                case .scripted(let s): spec = s
                }
                if let c = d.channel ?? options.channel { spec += ",channel=\(c)" }
                o.nodes.append(spec)
            }
            let a = try await SimulatedAir.start(o)
            air = a
            ports = a.dongles.compactMap(\.port)
            for (d, r) in zip(options.devices, a.nodes) {
                guard let mac = r.staMAC ?? d.mac else {
                    a.shutdown()
                    throw TestbedError.setup("the simulator did not announce the MAC of \(d.name)")
                }
                duts.append(DUT(name: d.name, mac: mac, radio: r.index))
            }
        }
        var opened: [BedDongle] = []
        do {
            for (i, port) in ports.enumerated() {
                var dev = DeviceOptions()
                dev.logger.logLevel = options.logLevel
                let e = try await ESPNow.open(port, options: dev)
                opened.append(BedDongle(index: i, espnow: e, mac: .broadcast, port: port))
                let w = WLAN(.sta, e)
                try await w.active(true)
                if let c = options.channel { try await w.config(channel: c) }
                try await e.initialize()
                let mac: [UInt8] = try await w.config("mac")
                opened[i].mac = MACAddress(bytes: mac) ?? .broadcast
            }
        } catch {
            for d in opened { await d.espnow.device.close() }
            air?.shutdown()
            throw TestbedError.setup("cannot bring up the dongles: \(error)")
        }
        return Testbed(options: options, dongles: opened, devices: duts, air: air)
    }

    /// The device under test named `name`.
    public func device(_ name: String) throws -> DUT {
        guard let d = devices.first(where: { $0.name == name }) else {
            throw TestbedError.setup("no device named \(name) on the bed (devices: \(devices.map(\.name).joined(separator: ", ")))")
        }
        return d
    }

    /// Every packet the dongles heard so far, in arrival order.
    public var packets: [CapturedPacket] { capture.packets }

    /// Later expectations ignore every packet heard before now.
    public func ignoreEarlierPackets() { let n = capture.count; mark.withLockedValue { $0 = n } }
    var markIndex: Int { mark.withLockedValue { $0 } }
    /// Later expectations look at packet `index` and after.
    func advanceMark(to index: Int) { mark.withLockedValue { $0 = max($0, index) } }

    // MARK: Sending

    /// Sends `payload` from dongle `from` to `to` (a peer is added on first use); returns
    /// whether the frame was acknowledged (always true for broadcast).
    @discardableResult
    public func send(_ payload: [UInt8], to: MACAddress, from dongle: Int = 0) async throws -> Bool {
        let d = try self.dongle(dongle)
        if to != .broadcast {
            let key = "\(dongle)/\(to)"
            if !peers.withLockedValue({ $0.contains(key) }) {
                try await d.espnow.addPeer(to.bytes)
                peers.withLockedValue { _ = $0.insert(key) }
            }
        }
        return try await d.espnow.send(to == .broadcast ? nil : to.bytes, payload, true)
    }

    @discardableResult
    public func send(_ payload: [UInt8], to dut: DUT, from dongle: Int = 0) async throws -> Bool {
        try await send(payload, to: dut.mac, from: dongle)
    }

    @discardableResult
    public func send(_ text: String, to dut: DUT, from dongle: Int = 0) async throws -> Bool {
        try await send(Array(text.utf8), to: dut.mac, from: dongle)
    }

    func dongle(_ i: Int) throws -> BedDongle {
        guard dongles.indices.contains(i) else { throw TestbedError.setup("no dongle \(i) on the bed (it has \(dongles.count))") }
        return dongles[i]
    }

    // MARK: Ending

    /// Writes the capture to `ARTIFACTS/NAME-PID-N.pcap` and returns the path.
    @discardableResult
    public func savePcap(suffix: String = "") throws -> String {
        let safe = options.name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        let path = "\(options.artifactsDirectory)/\(String(safe))\(suffix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pcap"
        try PcapFile.write(capture.packets, to: path)
        return path
    }

    /// Closes the dongles and stops the air. Idempotent.
    public func shutdown() async {
        guard !closed.withLockedValue({ c in defer { c = true }; return c }) else { return }
        for r in readers { r.cancel() }
        for d in dongles { await d.espnow.device.close() }
        for r in readers { await r.value }
        air?.shutdown()
    }
}

/// Runs `body` on a fresh bed and shuts it down; when `body` throws, the air traffic is kept
/// as a pcap and its path is added to the error.
public func withTestbed<T: Sendable>(_ options: TestbedOptions = TestbedOptions(),
                                     _ body: (Testbed) async throws -> T) async throws -> T {
    let bed = try await Testbed.start(options)
    do {
        let r = try await body(bed)
        await bed.shutdown()
        return r
    } catch {
        await bed.shutdown()
        throw TestFailure(underlying: error, pcap: try? bed.savePcap())
    }
}

/// A failure of a test run by ``withTestbed(_:_:)``: the error and the pcap kept for it.
public struct TestFailure: Error, CustomStringConvertible {
    public var underlying: any Error
    public var pcap: String?
    public var description: String { "\(underlying)" + (pcap.map { " [air traffic kept in \($0)]" } ?? "") }
}
