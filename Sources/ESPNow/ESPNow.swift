import ESPNowDevice
import ESPNowWire
import NIOCore
import NIOConcurrencyHelpers

/// MicroPython's `espnow.ESPNow`, over a USB dongle, with async/await.
///
/// Spelling: `init()`/`deinit()` are `initialize()`/`deinitialize()` (Swift reserves the
/// names); snake_case becomes camelCase (`add_peer` → `addPeer`). MAC addresses and
/// messages are `[UInt8]` (bytes) like the seed's; `String` messages are sent as UTF-8.
/// Timeouts are milliseconds; a negative timeout waits forever. Both the seed's spellings
/// and today's MicroPython's are accepted (docs/API.md lists them).
public final class ESPNow: AsyncSequence, Sendable {
    /// ESP-NOW v1's payload limit (`ESP_NOW_MAX_DATA_LEN`). The connected dongle's limit
    /// is the instance property ``MAX_DATA_LEN``.
    public static let MAX_DATA_LEN_V1 = 250
    public static let KEY_LEN = 16
    public static let ADDR_LEN = 6
    public static let MAX_TOTAL_PEER_NUM = 20
    public static let MAX_ENCRYPT_PEER_NUM = 6

    /// `espnow.RATE_*` (`wifi_phy_rate_t`, the long-preamble variants for 1/2/5.5/11 Mbps
    /// as MicroPython chooses them), for `config(rate:)`.
    public static let RATE_LORA_250K = 0x29
    public static let RATE_LORA_500K = 0x2A
    public static let RATE_1M = 0x00
    public static let RATE_2M = 0x01
    public static let RATE_5M = 0x02
    public static let RATE_6M = 0x0B
    public static let RATE_11M = 0x03
    public static let RATE_12M = 0x0A
    public static let RATE_24M = 0x09
    public static let RATE_54M = 0x0C

    /// `espnow.MAX_DATA_LEN`: the connected dongle's payload limit, as MicroPython's is its
    /// firmware's (250 on v1; the build's `ESP_NOW_MAX_DATA_LEN_V2`, e.g. 1470, on v2).
    public var MAX_DATA_LEN: Int { device.info.maxPayload }
    /// The ESP-NOW v2 payload limit of this dongle, or nil when it only speaks v1.
    public var MAX_DATA_LEN_V2: Int? { device.info.supportsV2 ? device.info.maxPayload : nil }
    /// Same as ``MAX_DATA_LEN``.
    public var maxDataLen: Int { MAX_DATA_LEN }

    /// Bytes MicroPython's receive buffer spends on each packet besides the message:
    /// magic (1), length (2), time (4), RSSI (1), sender MAC (6).
    public static let recvPacketOverhead = 14
    /// MicroPython's default `rxbuf`: two packets of the largest size (528 for 250-byte
    /// payloads, 2968 for 1470).
    public static func defaultRxbuf(maxPayload: Int) -> Int { 2 * (recvPacketOverhead + maxPayload) }
    /// The smallest `rxbuf` the bridge firmware accepts.
    public static let minRxbuf = 64

    public let device: ESPNowDevice

    struct State {
        var active = false
        var timeoutMs = 300_000
        var rxbuf: Int
        var onRecvTask: Task<Void, Never>?
        /// A packet taken from the queue that `recvinto`'s buffer could not hold: the next
        /// receive returns it first.
        var held: ReceivedPacket?
        // irecv's callee-owned buffers, reused from call to call.
        var irecvMAC = [UInt8](repeating: 0, count: 6)
        var irecvMsg: [UInt8] = []
        // Stream interface: serialized packets not yet read.
        var stream: [UInt8] = []
    }

    let state: NIOLockedValueBox<State>
    let irqErrorCount = NIOLockedValueBox(0)

    public init(_ device: ESPNowDevice) {
        self.device = device
        state = NIOLockedValueBox(State(rxbuf: Self.defaultRxbuf(maxPayload: device.info.maxPayload)))
        state.withLockedValue { $0.irecvMsg.reserveCapacity(Swift.max(device.info.maxPayload, Self.MAX_DATA_LEN_V1)) }
    }

    /// Connects to a dongle at `port` and returns its ESPNow object.
    public static func open(_ port: String, options: DeviceOptions = DeviceOptions()) async throws -> ESPNow {
        ESPNow(try await ESPNowDevice.connect(path: port, options: options))
    }

    // MARK: Configuration

    /// `init()` / `active(True)`: sizes the dongle's receive buffer to `config('rxbuf')`,
    /// then `esp_now_init`. The buffer goes first so that a refusal leaves ESP-NOW as it
    /// was; `active()` is true exactly when the dongle's ESP-NOW is initialised by this call.
    public func initialize() async throws {
        let rx = state.withLockedValue { $0.rxbuf }
        let now = try await espCall { try await device.setRxbuf(rx) }
        state.withLockedValue { $0.rxbuf = now }
        try await espCall { try await device.espNowInit() }
        state.withLockedValue { $0.active = true }
    }

    /// `deinit()`: `esp_now_deinit` (forgets every peer), empties the receive buffer and
    /// removes the `irq` callback, as MicroPython does.
    public func deinitialize() async throws {
        try await espCall { try await device.espNowDeinit() }
        installCallback(nil)
        state.withLockedValue {
            $0.active = false
            $0.held = nil
        }
        device.packetQueue.clear()
    }

    /// `active()`: whether `initialize()` was called (and not undone).
    public func active() -> Bool { state.withLockedValue { $0.active } }

    /// `active(flag)`: `initialize()` or `deinitialize()`.
    public func active(_ flag: Bool) async throws {
        if flag { try await initialize() } else { try await deinitialize() }
    }

    /// `config(rxbuf=, timeout=, timeout_ms=, rate=)`. Every argument is checked before
    /// anything changes. `rxbuf` (bytes, ≥ 64, ≤ 2^32 − 1; the dongle caps it at its build's
    /// maximum and `config('rxbuf')` then reports the size in force) is applied at once when
    /// active (the bridge resizes its buffer live), else at the next `initialize()`.
    /// `timeout`/`timeoutMs` (the seed's and today's name of the same setting) is the
    /// default receive timeout. `rate` (`RATE_*`, a `wifi_phy_rate_t`) is set with
    /// `esp_wifi_config_espnow_rate` on every active interface, as MicroPython does; with
    /// none active it raises `OSError(2, "ENOENT")`.
    public func config(rxbuf: Int? = nil, timeout: Int? = nil, timeoutMs: Int? = nil, rate: Int? = nil) async throws {
        if let r = rxbuf {
            guard r >= Self.minRxbuf, UInt32(exactly: r) != nil else {
                throw ValueError("rxbuf must be \(Self.minRxbuf)...\(UInt32.max) bytes, got \(r)")
            }
        }
        if timeout != nil && timeoutMs != nil && timeout != timeoutMs {
            throw ValueError("timeout and timeout_ms name the same setting; got \(timeout!) and \(timeoutMs!)")
        }
        let phyRate = try rate.map { r -> UInt8 in
            guard let v = UInt8(exactly: r) else {
                throw OSError(ESPError(rawValue: 0x102), detail: "rate must be a wifi_phy_rate_t (RATE_*), got \(r)")
            }
            return v
        }
        if let r = rxbuf {
            if active() {
                let now = try await espCall { try await device.setRxbuf(r) }
                state.withLockedValue { $0.rxbuf = now }
            } else {
                state.withLockedValue { $0.rxbuf = r }
            }
        }
        if let t = timeoutMs ?? timeout { state.withLockedValue { $0.timeoutMs = t } }
        if let r = phyRate {
            // The interfaces that are active (MicroPython's Wi-Fi mode); none is ENOENT.
            let sta = try await espCall { try await device.wifiGetIfActive(.sta) }
            let ap = try await espCall { try await device.wifiGetIfActive(.ap) }
            guard sta || ap else { throw OSError(errnum: 2, errstring: "ENOENT") }
            if sta { try await espCall { try await device.wifiConfigESPNowRate(.sta, rate: r) } }
            if ap { try await espCall { try await device.wifiConfigESPNowRate(.ap, rate: r) } }
        }
    }

    /// `config(on_recv=callback)` (the seed's spelling of ``irq(_:)``; called per arrival,
    /// so a callback draining with `poll()`/`irecv(0)` finds nothing on the later calls).
    public func config(onRecv callback: (@Sendable (ESPNow) async -> Void)?) {
        installCallback(callback.map { cb in { @Sendable e in await cb(e) } })
    }

    /// `irq(callback)`: `callback(self)` is called once per packet that arrives, as
    /// MicroPython schedules it (one call at a time, on a task); it reads with `irecv(0)`
    /// (one packet, or all waiting until `(nil, nil)` as MicroPython's docs advise: later
    /// calls then find nothing). An error thrown by the callback is logged (the device's
    /// logger) and counted in ``irqErrors``; the callback stays installed. `nil` removes it.
    public func irq(_ callback: (@Sendable (ESPNow) async throws -> Void)?) {
        installCallback(callback)
    }

    /// Errors thrown by the `irq` callback so far.
    public var irqErrors: Int { irqErrorCount.withLockedValue { $0 } }

    private func installCallback(_ callback: (@Sendable (ESPNow) async throws -> Void)?) {
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
        // One call owed per arrival; packets already waiting are owed one each too.
        let owed = NIOLockedValueBox(0)
        let (signals, cont) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        device.packetQueue.setArrivalHandler {
            owed.withLockedValue { $0 += 1 }
            cont.yield()
        }
        let waiting = device.packetQueue.count + (state.withLockedValue { $0.held } == nil ? 0 : 1)
        owed.withLockedValue { $0 += waiting }
        if waiting > 0 { cont.yield() }
        let task = Task { [self] in
            for await _ in signals {
                while !Task.isCancelled, owed.withLockedValue({ n -> Bool in
                    guard n > 0 else { return false }
                    n -= 1
                    return true
                }) {
                    await self.runCallback(cb)
                }
                if Task.isCancelled { break }
            }
        }
        state.withLockedValue { $0.onRecvTask = task }
    }

    private func runCallback(_ cb: @Sendable (ESPNow) async throws -> Void) async {
        do {
            try await cb(self)
        } catch {
            irqErrorCount.withLockedValue { $0 += 1 }
            device.options.logger.warning("irq callback threw", metadata: ["error": "\(error)"])
        }
    }

    /// `config('param')`: `"rxbuf"`, `"timeout_ms"` (or the seed's `"timeout"`).
    public func config(_ param: String) throws -> Int {
        switch param {
        case "rxbuf": return state.withLockedValue { $0.rxbuf }
        case "timeout", "timeout_ms": return state.withLockedValue { $0.timeoutMs }
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

    /// ESP-IDF refuses an empty or over-long message with `ESP_ERR_ESPNOW_ARG` (MicroPython
    /// raises that OSError); refused here before the wire.
    private func checkMessage(_ msg: [UInt8]) throws {
        let limit = MAX_DATA_LEN
        try Check.espnowArg(!msg.isEmpty && msg.count <= limit, "msg must be 1...\(limit) bytes, got \(msg.count)")
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

    /// `asend(mac, msg, sync=True)` (aioespnow): `send` is already async.
    @discardableResult
    public func asend(_ mac: [UInt8]?, _ msg: [UInt8], _ sync: Bool = true) async throws -> Bool {
        try await send(mac, msg, sync)
    }

    /// `asend(msg)`.
    @discardableResult
    public func asend(_ msg: [UInt8]) async throws -> Bool { try await send(nil, msg, true) }

    // MARK: Receiving

    private func waitTime(_ timeoutMs: Int?) -> TimeAmount? {
        let t = timeoutMs ?? state.withLockedValue { $0.timeoutMs }
        return t < 0 ? nil : .milliseconds(Int64(t))
    }

    /// The next packet: one `recvinto` handed back first, then the queue's.
    private nonisolated(nonsending) func nextPacket(_ timeoutMs: Int?) async throws -> ReceivedPacket? {
        if let h = state.withLockedValue({ s -> ReceivedPacket? in
            defer { s.held = nil }
            return s.held
        }) {
            return h
        }
        return try await device.packetQueue.next(timeout: waitTime(timeoutMs))
    }

    /// Takes a packet without waiting (the stream interface).
    func tryNextPacket(_ s: inout State) -> ReceivedPacket? {
        if let h = s.held {
            s.held = nil
            return h
        }
        return device.packetQueue.tryNext()
    }

    /// `recv([timeout_ms])`: `(mac, msg)`, or `(nil, nil)` on timeout. Cancelling the
    /// waiting task never loses a packet: one handed over is returned, otherwise it stays queued.
    public nonisolated(nonsending) func recv(_ timeoutMs: Int? = nil) async throws -> (mac: [UInt8]?, msg: [UInt8]?) {
        guard let p = try await nextPacket(timeoutMs) else { return (nil, nil) }
        return (p.src.bytes, p.bytes)
    }

    /// Like `recv`, with RSSI, channel, timestamp and destination (beyond the seed).
    public nonisolated(nonsending) func recvPacket(_ timeoutMs: Int? = nil) async throws -> ReceivedPacket? {
        try await nextPacket(timeoutMs)
    }

    /// `irecv([timeout_ms])`: like `recv`, but the returned arrays reuse two buffers owned by
    /// this object (no allocation per packet once the caller lets go of the previous
    /// result; a result still held is copied on write, never overwritten). On timeout the
    /// message buffer is emptied and `(nil, nil)` returned.
    public nonisolated(nonsending) func irecv(_ timeoutMs: Int? = nil) async throws -> (mac: [UInt8]?, msg: [UInt8]?) {
        // A packet already queued: taken and copied under one lock, without suspending.
        if let r = state.withLockedValue({ s in tryNextPacket(&s).map { Self.fillIrecv(&s, $0) } }) { return r }
        let p = try await nextPacket(timeoutMs)
        return state.withLockedValue { s in
            guard let p else {
                s.irecvMsg.removeAll(keepingCapacity: true)
                return (nil, nil)
            }
            return Self.fillIrecv(&s, p)
        }
    }

    private static func fillIrecv(_ s: inout State, _ p: ReceivedPacket) -> (mac: [UInt8]?, msg: [UInt8]?) {
        s.irecvMsg.removeAll(keepingCapacity: true)
        for i in 0..<6 { s.irecvMAC[i] = p.src[i] }
        s.irecvMsg.append(contentsOf: p.data.readableBytesView)
        return (s.irecvMAC, s.irecvMsg)
    }

    /// `recvinto(data[, timeout_ms])`: `data` is `[peer, msg]` as in MicroPython, `msg` a
    /// buffer whose size is the capacity (e.g. `[UInt8](repeating: 0, count: e.MAX_DATA_LEN)`).
    /// Stores the sender in `data[0]` and the message in `data[1]` (which then has the
    /// message's length); returns the length, or 0 on timeout. A message larger than the
    /// buffer raises ValueError as MicroPython does, but the packet is kept: the next
    /// receive returns it.
    public nonisolated(nonsending) func recvinto(_ data: inout [[UInt8]], _ timeoutMs: Int? = nil) async throws -> Int {
        guard data.count >= 2 else { throw ValueError("recvinto needs a list of at least 2 buffers, got \(data.count)") }
        let capacity = data[1].count
        guard let p = try await nextPacket(timeoutMs) else { return 0 }
        let n = p.data.readableBytes
        guard n <= capacity else {
            state.withLockedValue { $0.held = p }
            throw ValueError("ESPNow.recv(): buffer error: the message is \(n) bytes, the buffer \(capacity)")
        }
        data[0] = p.src.bytes
        data[1].removeAll(keepingCapacity: true)
        data[1].append(contentsOf: p.data.readableBytesView)
        return n
    }

    /// `arecv()` (aioespnow): `recv` waiting as long as it takes (no timeout argument).
    public nonisolated(nonsending) func arecv() async throws -> (mac: [UInt8]?, msg: [UInt8]?) { try await recv(-1) }

    /// `airecv()` (aioespnow): `irecv` waiting as long as it takes.
    public nonisolated(nonsending) func airecv() async throws -> (mac: [UInt8]?, msg: [UInt8]?) { try await irecv(-1) }

    /// `any()`: whether a packet is waiting (today's name of the seed's `poll()`).
    public func any() -> Bool { poll() }

    /// `poll()`: whether a packet is waiting.
    public func poll() -> Bool { !device.packetQueue.isEmpty || state.withLockedValue { !$0.stream.isEmpty || $0.held != nil } }

    /// `stats()`: `(sent_packets, sent_responses, sent_failures, recv_packets,
    /// dropped_recv_packets)`, counted as MicroPython counts them: a packet is received
    /// when it reached the buffer the application reads, so one the dongle's buffer or the
    /// host's queue had to drop is only in `dropped_recv_packets` (the dongle's
    /// `rx_packets` counts every packet heard; its drops and the host's are taken out).
    public func stats() async throws -> (Int, Int, Int, Int, Int) {
        let s = try await espCall { try await device.stats() }
        let hostDropped = Int(device.hostCounters.packetsDropped)
        let dropped = Int(s.rxDropped) + hostDropped
        let received = Swift.max(0, Int(s.rxPackets) - dropped)
        return (Int(s.txPackets), Int(s.txResponses), Int(s.txFailures), received, dropped)
    }

    /// `peers_table`: `{mac: (rssi, time_ms)}` of every sender heard; `time_ms` is
    /// ``ticks_ms()`` when the packet reached the host.
    public var peersTable: [[UInt8]: (rssi: Int, timeMs: Int)] {
        var out: [[UInt8]: (rssi: Int, timeMs: Int)] = [:]
        for (m, v) in device.peersTable { out[m.bytes] = (Int(v.rssi), Int(v.timeMs)) }
        return out
    }

    /// MicroPython's `time.ticks_ms()` for ``peersTable``: milliseconds of the host's
    /// monotonic clock (`CLOCK_MONOTONIC`: counts from the machine's boot, never goes
    /// back; not wall time, and unlike the chip's it does not wrap).
    public static func ticks_ms() -> Int { Int(NIODeadline.now().uptimeNanoseconds / 1_000_000) }

    // MARK: Iteration

    public typealias Element = (mac: [UInt8]?, msg: [UInt8]?)

    /// `async for mac, msg in e` (aioespnow): waits for each packet, never yields
    /// `(nil, nil)`; ends only by throwing (cancellation, a closed or lost link).
    public struct AsyncIterator: AsyncIteratorProtocol {
        let e: ESPNow
        public mutating func next() async throws -> Element? {
            let r = try await e.airecv()
            return r.mac == nil ? nil : r  // only if the queue ends a wait-forever without an error
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(e: self) }

    // MARK: Peers

    /// `(mac, lmk, channel, ifidx, encrypt)`; `lmk` is always the 16 key bytes (zeros when
    /// none was set), as MicroPython returns it.
    public typealias Peer = (mac: [UInt8], lmk: [UInt8], channel: Int, ifidx: Int, encrypt: Bool)

    /// The arguments of `add_peer`/`mod_peer`, checked before anything touches the wire.
    struct PeerArgs {
        var addr: MACAddress
        var lmk: [UInt8]?
        var channel: UInt8?
        var ifidx: WiFiInterface?
        var encrypt: Bool?
    }

    /// As MicroPython: a non-empty `lmk` must be 16 bytes (ValueError) and turns encryption
    /// on, an empty one turns it off (the key itself is then left as it was); a channel
    /// outside 0...14, an ifidx other than STA_IF/AP_IF (OSError ESP_ERR_ESPNOW_ARG, which
    /// ESP-IDF would return).
    private func peerArgs(_ mac: [UInt8], lmk: [UInt8]?, channel: Int?, ifidx: Int?, encrypt: Bool?) throws -> PeerArgs {
        let addr = try Check.mac(mac)
        if let k = lmk, !k.isEmpty { try Check.key(k, "lmk") }
        return PeerArgs(addr: addr, lmk: lmk, channel: try channel.map { try Check.peerChannel($0) },
                        ifidx: try ifidx.map { try Check.ifidx($0) }, encrypt: encrypt)
    }

    /// Applies checked arguments to a peer record (a new one, or the current one for mod_peer).
    private func peerInfo(_ a: PeerArgs, base: PeerInfo? = nil) throws -> PeerInfo {
        var info = base ?? PeerInfo(peerAddr: a.addr)
        if let k = a.lmk {
            info.encrypt = !k.isEmpty
            if !k.isEmpty { info.lmk = k }
        }
        if let c = a.channel { info.channel = c }
        if let i = a.ifidx { info.ifidx = i }
        if let e = a.encrypt { info.encrypt = e }
        try Check.espnowArg(!(info.encrypt && Check.isGroup(a.addr)), "broadcast and multicast peers cannot be encrypted")
        return info
    }

    /// `add_peer(mac, [lmk], [channel], [ifidx], [encrypt])` (positional form).
    public func addPeer(_ mac: [UInt8], _ lmk: [UInt8]?, _ channel: Int? = nil, _ ifidx: Int? = nil,
                        _ encrypt: Bool? = nil) async throws {
        let info = try peerInfo(try peerArgs(mac, lmk: lmk, channel: channel, ifidx: ifidx, encrypt: encrypt))
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
        (p.peerAddr.bytes, p.lmk, Int(p.channel), Int(p.ifidx.rawValue), p.encrypt)
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
        let args = try peerArgs(mac, lmk: lmk, channel: channel, ifidx: ifidx, encrypt: encrypt)
        let current = try await espCall { try await device.espNowGetPeer(args.addr) }
        try await espCall { try await device.espNowModPeer(try peerInfo(args, base: current)) }
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
        guard let pm = UInt8(exactly: phymode), let r = UInt8(exactly: rate) else {
            throw OSError(.espnowArg, detail: "phymode \(phymode) / rate \(rate) out of range")
        }
        try await espCall { try await device.espNowSetPeerRateConfig(peer: m, phymode: pm, rate: r, ersu: ersu, dcm: dcm) }
    }

    /// ESP-NOW version of the dongle (1 or 2).
    public func version() async throws -> Int { Int(try await espCall { try await device.espNowGetVersion() }) }
}
