import ESPNowDevice
import ESPNowWire
import NIOCore
import NIOConcurrencyHelpers

/// MicroPython's `espnow.ESPNow`, over a USB dongle, with async/await.
///
/// Spelling: `init()`/`deinit()` are `initialize()`/`deinitialize()` (Swift reserves the
/// names); snake_case becomes camelCase (`add_peer` → `addPeer`). MAC addresses and
/// messages are `[UInt8]` (bytes) like the seed's; `String` messages are sent as UTF-8.
/// Timeouts are milliseconds; a negative timeout waits forever.
public final class ESPNow: AsyncSequence, Sendable {
    public static let MAX_DATA_LEN = 250
    public static let KEY_LEN = 16
    public static let MAX_TOTAL_PEER_NUM = 20
    public static let MAX_ENCRYPT_PEER_NUM = 6
    /// The ESP-NOW v2 payload limit of this dongle (`ESP_NOW_MAX_DATA_LEN_V2` of its build),
    /// or nil when it only speaks v1.
    public var MAX_DATA_LEN_V2: Int? { device.info.supportsV2 ? device.info.maxPayload : nil }
    /// The largest message this dongle sends (250 on v1, the v2 limit on v2).
    public var maxDataLen: Int { device.info.maxPayload }

    public let device: ESPNowDevice

    struct State {
        var active = false
        var timeoutMs = 300_000
        var rxbuf = 516
        var onRecvTask: Task<Void, Never>?
        // irecv's callee-owned buffers, reused from call to call.
        var irecvMAC = [UInt8](repeating: 0, count: 6)
        var irecvMsg: [UInt8] = []
        // Stream interface: serialized packets not yet read.
        var stream: [UInt8] = []
    }

    let state = NIOLockedValueBox(State())

    public init(_ device: ESPNowDevice) {
        self.device = device
        state.withLockedValue { $0.irecvMsg.reserveCapacity(Swift.max(device.info.maxPayload, 250)) }
    }

    /// Connects to a dongle at `port` and returns its ESPNow object.
    public static func open(_ port: String, options: DeviceOptions = DeviceOptions()) async throws -> ESPNow {
        ESPNow(try await ESPNowDevice.connect(path: port, options: options))
    }

    // MARK: Configuration

    /// `init()`: `esp_now_init`, and the configured `rxbuf`.
    public func initialize() async throws {
        try await espCall { try await device.espNowInit() }
        let rx = state.withLockedValue { $0.rxbuf }
        if rx != 516 { _ = try await espCall { try await device.setRxbuf(rx) } }
        state.withLockedValue { $0.active = true }
    }

    /// `deinit()`: `esp_now_deinit` (forgets every peer) and empties the receive buffer.
    public func deinitialize() async throws {
        try await espCall { try await device.espNowDeinit() }
        state.withLockedValue { $0.active = false }
        device.packetQueue.clear()
    }

    /// `active()`: whether `initialize()` was called (and not undone).
    public func active() -> Bool { state.withLockedValue { $0.active } }

    /// `active(flag)`: `initialize()` or `deinitialize()`.
    public func active(_ flag: Bool) async throws {
        if flag { try await initialize() } else { try await deinitialize() }
    }

    /// `config(rxbuf=, timeout=, on_recv=)`. `rxbuf` is applied at once when active (the
    /// bridge can resize its buffer live), else at the next `initialize()`.
    public func config(rxbuf: Int? = nil, timeout: Int? = nil) async throws {
        if let r = rxbuf {
            guard r > 0 else { throw ValueError("rxbuf must be positive, got \(r)") }
            state.withLockedValue { $0.rxbuf = r }
            if active() {
                let now = try await espCall { try await device.setRxbuf(r) }
                state.withLockedValue { $0.rxbuf = now }
            }
        }
        if let t = timeout { state.withLockedValue { $0.timeoutMs = t } }
    }

    /// `config(on_recv=callback)`: `callback(self)` runs (one at a time, on a task) after
    /// packets arrive; it should drain with `poll()`/`irecv(0)` as the seed advises. Several
    /// arrivals may be folded into one call; no packet is lost by that (they stay queued).
    /// `nil` removes the callback.
    public func config(onRecv callback: (@Sendable (ESPNow) async -> Void)?) {
        let old = state.withLockedValue { s -> Task<Void, Never>? in
            let o = s.onRecvTask
            s.onRecvTask = nil
            return o
        }
        old?.cancel()
        guard let cb = callback else {
            device.packetQueue.setArrivalHandler(nil)
            return
        }
        let (signals, cont) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        device.packetQueue.setArrivalHandler { cont.yield() }
        let task = Task { [self] in
            if !self.device.packetQueue.isEmpty { await cb(self) }
            for await _ in signals {
                if Task.isCancelled { break }
                await cb(self)
            }
        }
        state.withLockedValue { $0.onRecvTask = task }
    }

    /// `config('param')`: `"rxbuf"` or `"timeout"`.
    public func config(_ param: String) throws -> Int {
        switch param {
        case "rxbuf": return state.withLockedValue { $0.rxbuf }
        case "timeout": return state.withLockedValue { $0.timeoutMs }
        default: throw ValueError("unknown config param '\(param)'")
        }
    }

    /// `clear(True)`: discards every received packet waiting. Returns how many.
    @discardableResult
    public func clear(_ really: Bool) throws -> Int {
        guard really else { throw ValueError("clear() needs True to guard against inadvertent use") }
        return state.withLockedValue { s in
            s.stream.removeAll()
            return device.packetQueue.clear()
        }
    }

    /// `set_pmk(pmk)`.
    public func setPMK(_ pmk: [UInt8]) async throws {
        try Check.key(pmk, "pmk")
        try await espCall { try await device.espNowSetPMK(pmk) }
    }

    // MARK: Sending

    private func checkMessage(_ msg: [UInt8]) throws {
        let limit = maxDataLen
        guard !msg.isEmpty, msg.count <= limit else {
            throw ValueError("msg must be 1...\(limit) bytes, got \(msg.count)")
        }
    }

    /// `send(mac, msg, sync=True)`. `mac` nil sends to every registered peer except
    /// broadcast and multicast ones. Sync: false if any peer did not acknowledge; async:
    /// always true. Broadcasts always report success.
    @discardableResult
    public func send(_ mac: [UInt8]?, _ msg: [UInt8], _ sync: Bool = true) async throws -> Bool {
        let peer = try mac.map { try Check.mac($0) }
        try checkMessage(msg)
        let r = try await espCall { try await device.espNowSend(peer: peer, data: msg, sync: sync) }
        return sync ? r.failures == 0 : true
    }

    @discardableResult
    public func send(_ mac: [UInt8]?, _ msg: String, _ sync: Bool = true) async throws -> Bool {
        try await send(mac, Array(msg.utf8), sync)
    }

    /// `send(msg)`: to all peers, sync.
    @discardableResult
    public func send(_ msg: [UInt8]) async throws -> Bool { try await send(nil, msg, true) }

    @discardableResult
    public func send(_ msg: String) async throws -> Bool { try await send(nil, Array(msg.utf8), true) }

    // MARK: Receiving

    private func waitTime(_ timeoutMs: Int?) -> TimeAmount? {
        let t = timeoutMs ?? state.withLockedValue { $0.timeoutMs }
        return t < 0 ? nil : .milliseconds(Int64(t))
    }

    /// `recv([timeout])`: `(mac, msg)`, or `(nil, nil)` on timeout. Cancelling the waiting
    /// task never loses a packet: one handed over is returned, otherwise it stays queued.
    public func recv(_ timeoutMs: Int? = nil) async throws -> (mac: [UInt8]?, msg: [UInt8]?) {
        guard let p = try await device.packetQueue.next(timeout: waitTime(timeoutMs)) else { return (nil, nil) }
        return (p.src.bytes, p.bytes)
    }

    /// Like `recv`, with RSSI, channel, timestamp and destination (beyond the seed).
    public func recvPacket(_ timeoutMs: Int? = nil) async throws -> ReceivedPacket? {
        try await device.packetQueue.next(timeout: waitTime(timeoutMs))
    }

    /// `irecv([timeout])`: like `recv`, but the returned arrays reuse two buffers owned by
    /// this object (no allocation per packet once the caller lets go of the previous
    /// result; a result still held is copied on write, never overwritten). On timeout the
    /// message buffer is emptied and `(nil, nil)` returned.
    public func irecv(_ timeoutMs: Int? = nil) async throws -> (mac: [UInt8]?, msg: [UInt8]?) {
        let p = try await device.packetQueue.next(timeout: waitTime(timeoutMs))
        return state.withLockedValue { s in
            s.irecvMsg.removeAll(keepingCapacity: true)
            guard let p else { return (nil, nil) }
            for i in 0..<6 { s.irecvMAC[i] = p.src[i] }
            s.irecvMsg.append(contentsOf: p.data.readableBytesView)
            return (s.irecvMAC, s.irecvMsg)
        }
    }

    /// `poll()`: whether a packet is waiting.
    public func poll() -> Bool { !device.packetQueue.isEmpty || state.withLockedValue { !$0.stream.isEmpty } }

    /// `stats()`: `(sent_packets, sent_responses, sent_failures, recv_packets,
    /// dropped_recv_packets)`; the last adds the packets the host queue had to drop.
    public func stats() async throws -> (Int, Int, Int, Int, Int) {
        let s = try await espCall { try await device.stats() }
        let hostDropped = Int(device.hostCounters.packetsDropped)
        return (Int(s.txPackets), Int(s.txResponses), Int(s.txFailures), Int(s.rxPackets), Int(s.rxDropped) + hostDropped)
    }

    /// `peers_table`: `{mac: (rssi, time_ms)}` of every sender heard.
    public var peersTable: [[UInt8]: (rssi: Int, timeMs: Int)] {
        var out: [[UInt8]: (rssi: Int, timeMs: Int)] = [:]
        for (m, v) in device.peersTable { out[m.bytes] = (Int(v.rssi), Int(v.timeMs)) }
        return out
    }

    // MARK: Iteration

    public typealias Element = (mac: [UInt8]?, msg: [UInt8]?)

    /// `for try await (mac, msg) in e`: `irecv()` with the default timeout; yields
    /// `(nil, nil)` when it expires (the seed yields None).
    public struct AsyncIterator: AsyncIteratorProtocol {
        let e: ESPNow
        public mutating func next() async throws -> Element? { try await e.irecv() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(e: self) }

    // MARK: Peers

    public typealias Peer = (mac: [UInt8], lmk: [UInt8]?, channel: Int, ifidx: Int, encrypt: Bool)

    private func peerInfo(_ mac: [UInt8], lmk: [UInt8]?, channel: Int?, ifidx: Int?, encrypt: Bool?,
                          base: PeerInfo? = nil) throws -> PeerInfo {
        let addr = try Check.mac(mac)
        var info = base ?? PeerInfo(peerAddr: addr)
        if let k = lmk, !k.isEmpty {
            try Check.key(k, "lmk")
            info.lmk = k
            info.encrypt = true  // a key given means encrypt unless told otherwise
        } else if lmk != nil {
            info.lmk = Array(repeating: 0, count: 16)
            info.encrypt = false
        }
        if let c = channel { info.channel = try Check.channel(c) }
        if let i = ifidx { info.ifidx = try Check.ifidx(i) }
        if let e = encrypt { info.encrypt = e }
        if info.encrypt {
            guard !Check.isGroup(addr) else { throw ValueError("broadcast and multicast peers cannot be encrypted") }
            guard info.lmk != Array(repeating: 0, count: 16) else { throw ValueError("encrypt needs a \(ESPNow.KEY_LEN)-byte lmk") }
        }
        return info
    }

    /// `add_peer(mac, [lmk], [channel], [ifidx], [encrypt])` (positional form).
    public func addPeer(_ mac: [UInt8], _ lmk: [UInt8]?, _ channel: Int? = nil, _ ifidx: Int? = nil,
                        _ encrypt: Bool? = nil) async throws {
        let info = try peerInfo(mac, lmk: lmk, channel: channel, ifidx: ifidx, encrypt: encrypt)
        try await espCall { try await device.espNowAddPeer(info) }
    }

    /// `add_peer(mac, lmk=, channel=, ifidx=, encrypt=)` (keyword form).
    public func addPeer(_ mac: [UInt8], lmk: [UInt8]? = nil, channel: Int? = nil, ifidx: Int? = nil,
                        encrypt: Bool? = nil) async throws {
        try await addPeer(mac, lmk, channel, ifidx, encrypt)
    }

    /// `get_peer(mac)`: `(mac, lmk, channel, ifidx, encrypt)`.
    public func getPeer(_ mac: [UInt8]) async throws -> Peer {
        let m = try Check.mac(mac)
        return Self.tuple(try await espCall { try await device.espNowGetPeer(m) })
    }

    static func tuple(_ p: PeerInfo) -> Peer {
        (p.peerAddr.bytes, p.lmk == Array(repeating: 0, count: 16) ? nil : p.lmk, Int(p.channel), Int(p.ifidx.rawValue), p.encrypt)
    }

    /// `peer_count()`: `(total, encrypted)` (MicroPython returns both).
    public func peerCount() async throws -> (total: Int, encrypted: Int) {
        try await espCall { try await device.espNowGetPeerNum() }
    }

    /// `get_peers()`: every registered peer's info.
    public func getPeers() async throws -> [Peer] {
        var out: [Peer] = []
        var head = true
        while true {
            do {
                let p = try await device.espNowFetchPeer(fromHead: head)
                out.append(Self.tuple(p))
                head = false
            } catch let e as ESPNowError where e.espName == "ESP_ERR_ESPNOW_NOT_FOUND" {
                return out
            } catch let e as ESPNowError {
                if let esp = e.espError { throw OSError(esp) }
                throw e
            }
        }
    }

    /// `mod_peer(mac, lmk, [channel], [ifidx], [encrypt])` (positional form).
    public func modPeer(_ mac: [UInt8], _ lmk: [UInt8]?, _ channel: Int? = nil, _ ifidx: Int? = nil,
                        _ encrypt: Bool? = nil) async throws {
        let m = try Check.mac(mac)
        let current = try await espCall { try await device.espNowGetPeer(m) }
        let info = try peerInfo(mac, lmk: lmk, channel: channel, ifidx: ifidx, encrypt: encrypt, base: current)
        try await espCall { try await device.espNowModPeer(info) }
    }

    /// `mod_peer(mac, param=value, ...)` (keyword form): only the given fields change.
    public func modPeer(_ mac: [UInt8], lmk: [UInt8]? = nil, channel: Int? = nil, ifidx: Int? = nil,
                        encrypt: Bool? = nil) async throws {
        try await modPeer(mac, lmk, channel, ifidx, encrypt)
    }

    /// `del_peer(mac)`.
    public func delPeer(_ mac: [UInt8]) async throws {
        let m = try Check.mac(mac)
        try await espCall { try await device.espNowDelPeer(m) }
    }

    // MARK: Beyond the seed

    /// PHY rate for one peer (`esp_now_set_peer_rate_config`).
    public func setPeerRate(_ mac: [UInt8], phymode: Int, rate: Int, ersu: Bool = false, dcm: Bool = false) async throws {
        let m = try Check.mac(mac)
        guard let pm = UInt8(exactly: phymode), let r = UInt8(exactly: rate) else { throw ValueError("phymode/rate out of range") }
        try await espCall { try await device.espNowSetPeerRateConfig(peer: m, phymode: pm, rate: r, ersu: ersu, dcm: dcm) }
    }

    /// ESP-NOW version of the dongle (1 or 2).
    public func version() async throws -> Int { Int(try await espCall { try await device.espNowGetVersion() }) }
}
