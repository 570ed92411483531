import ESPNowDevice
import ESPNowSerial
import ESPNowWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// Broker-wide counters.
public struct BrokerCounters: Sendable, Hashable {
    public var clientsAccepted: UInt64 = 0
    public var clientsRefused: UInt64 = 0
    public var clientsAttached = 0
    /// Sum over clients: frames dropped at the framing level, rejected bodies, refusals...
    public var clientLink = LinkCounters()
    public var refused: UInt64 = 0
    public var busy: UInt64 = 0
    public var replayed: UInt64 = 0
    /// Dropped for slow clients (all clients together), by what: received packets, other
    /// events, log lines.
    public var droppedPacketsForClients: UInt64 = 0
    public var droppedEventsForClients: UInt64 = 0
    public var droppedLogsForClients: UInt64 = 0
    public var droppedForClients: UInt64 { droppedPacketsForClients + droppedEventsForClients + droppedLogsForClients }
    /// Peers deleted because the last client using them left.
    public var peersReleased: UInt64 = 0
    public init() {}
}

/// Owns one dongle (through an ``ESPNowDevice``: its retransmission, recovery and restore)
/// and serves the bridge protocol to any number of clients (PROTOCOL.md "Multiplexing").
/// Each client is its own host session; the broker maps their request ids to its own and
/// back, fans received packets and events out, routes each SEND_STATUS to its sender,
/// reference-counts peers and refuses calls that would disturb the other clients.
public final class Broker: Sendable {
    public let configuration: BrokerConfiguration
    let logger: Logger

    struct Route {
        var client: UInt64
        var clientID: UInt16
        var seen = 0
        var expected: Int?
    }

    struct PeerShare {
        var holders: Set<UInt64> = []
        var kept = false
        var fields: [String: FieldValue]
    }

    struct State {
        var device: ESPNowDevice?
        var hello: [String: FieldValue] = [:]
        var clients: [UInt64: ClientSession] = [:]
        var nextClient: UInt64 = 1
        /// The broker's request id → the client request it forwards (for SEND_STATUS).
        var routes: [UInt16: Route] = [:]
        var peers: [MACAddress: PeerShare] = [:]
        var deviceUp = true
        var counters = BrokerCounters()
        /// Counters of clients that have left, so totals survive them.
        var goneClients = ClientCounters()
        var listeners: [any Channel] = []
        var socketPath: String?
        var closed = false
    }

    let state = NIOLockedValueBox(State())
    private let dongleEventsPair = AsyncStream.makeStream(of: DeviceEvent.self, bufferingPolicy: .bufferingNewest(64))

    init(configuration: BrokerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The dongle's connection events (unplugged, replugged, rebooted, restored, ...) as the
    /// broker sees them, for the program that runs the broker: its clients are only told
    /// through HELLO and LOG events. One consumer; ends when the broker closes. The newest
    /// 64 are kept for a consumer that falls behind.
    public var dongleEvents: AsyncStream<DeviceEvent> { dongleEventsPair.stream }

    /// Opens the dongle, binds the listeners and returns the running broker.
    public static func start(_ configuration: BrokerConfiguration,
                             logger: Logger = Logger(label: "espnow.broker")) async throws -> Broker {
        try configuration.validate()
        let b = Broker(configuration: configuration, logger: logger)
        var o = DeviceOptions()
        o.serial = configuration.device.serial
        o.autoReconnect = configuration.device.autoReconnect
        o.reconnectPath = configuration.device.reconnectPath
        o.logger = logger
        o.eventTap = { [weak b] f in b?.tap(f) ?? false }
        let device: ESPNowDevice
        do {
            device = try await ESPNowDevice.connect(path: configuration.devicePath, options: o)
        } catch {
            throw BrokerError.device("\(error)")
        }
        b.state.withLockedValue { $0.device = device }
        do {
            try await b.refreshHello()
            try await b.listen()
        } catch {
            await b.close()
            throw error
        }
        Task { [weak b] in
            for await e in device.events {
                guard let b else { return }
                b.deviceEvent(e)
                b.dongleEventsPair.continuation.yield(e)
            }
            b?.dongleEventsPair.continuation.finish()
        }
        return b
    }

    /// The device client the broker uses (for its owner's own calls: they count as the
    /// broker's, not a client's).
    public var device: ESPNowDevice { state.withLockedValue { $0.device! } }

    /// Where TCP is listening (the bound port when 0 was asked for).
    public var tcpAddress: SocketAddress? {
        state.withLockedValue { s in s.listeners.compactMap { $0.localAddress }.first { $0.protocol != .unix } }
    }

    /// The Unix socket served on, if any.
    public var socketPath: String? { state.withLockedValue { $0.socketPath } }

    public var counters: BrokerCounters {
        state.withLockedValue { s in
            var c = s.counters
            var all = s.goneClients
            for cl in s.clients.values { Self.add(cl.counters, to: &all) }
            c.clientLink = all.link
            c.refused = all.refused
            c.busy = all.busy
            c.replayed = all.replayed
            c.droppedPacketsForClients = all.droppedPackets
            c.droppedEventsForClients = all.droppedEvents
            c.droppedLogsForClients = all.droppedLogs
            c.clientsAttached = s.clients.count
            return c
        }
    }

    static func add(_ c: ClientCounters, to t: inout ClientCounters) {
        t.link.frames += c.link.frames
        t.link.badCRC += c.link.badCRC
        t.link.badCOBS += c.link.badCOBS
        t.link.oversize += c.link.oversize
        t.link.truncated += c.link.truncated
        t.link.badVersion += c.link.badVersion
        t.link.badKind += c.link.badKind
        t.link.badBody += c.link.badBody
        t.requests += c.requests
        t.replayed += c.replayed
        t.busy += c.busy
        t.refused += c.refused
        t.droppedPackets += c.droppedPackets
        t.droppedEvents += c.droppedEvents
        t.droppedLogs += c.droppedLogs
    }

    /// Stops listening, disconnects every client and closes the dongle.
    public func close() async {
        let (listeners, clients, device) = state.withLockedValue { s -> ([any Channel], [ClientSession], ESPNowDevice?) in
            s.closed = true
            let r = (s.listeners, Array(s.clients.values), s.device)
            s.listeners = []
            return r
        }
        for l in listeners { try? await l.close() }
        for c in clients { try? await c.channel.close() }
        await device?.close()
        if let p = socketPath { unlink(p) }
        dongleEventsPair.continuation.finish()
    }

    // MARK: - Listening

    private func listen() async throws {
        let tls: NIOSSLContext?
        do {
            tls = try configuration.makeServerTLS()
        } catch {
            throw BrokerError.configuration("TLS: \(error)")
        }
        var socket = configuration.socketPath
        if socket == nil && configuration.defaultSocket {
            let mac = String(device.info.staMAC.description.filter { $0 != ":" })
            socket = BrokerConfiguration.defaultSocketPath(name: configuration.socketName ?? mac)
        }
        if let p = socket {
            try Self.prepareSocketDirectory(p)
            let ch = try await bind { try await $0.bind(unixDomainSocketPath: p, cleanupExistingSocketFile: true).get() }
            // Owner and group (the dongle's group, as the udev rule gives it) only.
            chmod(p, 0o660)
            var st = stat()
            if stat(configuration.devicePath, &st) == 0 { _ = chown(p, uid_t.max, st.st_gid) }
            state.withLockedValue { s in
                s.listeners.append(ch)
                s.socketPath = p
            }
            logger.notice("serving", metadata: ["socket": "\(p)"])
        }
        if let h = configuration.tcpHost {
            let ch = try await bind(tls: tls) { try await $0.bind(host: h, port: self.configuration.tcpPort).get() }
            state.withLockedValue { $0.listeners.append(ch) }
            logger.notice("serving", metadata: ["tcp": "\(ch.localAddress?.description ?? h)", "tls": "\(tls != nil)"])
        }
    }

    private func bind(tls: NIOSSLContext? = nil, _ body: (ServerBootstrap) async throws -> any Channel) async throws -> any Channel {
        // Clients live on the dongle link's event loop: responses and fanned-out events are
        // written without a thread hop.
        let group = MultiThreadedEventLoopGroup.singleton
        let childGroup: any EventLoopGroup = device.linkEventLoop ?? group
        let bootstrap = ServerBootstrap(group: group, childGroup: childGroup)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { [weak self] ch in
                ch.eventLoop.makeCompletedFuture {
                    guard let self else { throw ChannelError.ioOnClosedChannel }
                    if let t = tls { try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: t)) }
                    try ch.pipeline.syncOperations.addHandler(ClientHandler(broker: self))
                }
            }
        do {
            return try await body(bootstrap)
        } catch {
            throw BrokerError.listen("\(error)")
        }
    }

    static func prepareSocketDirectory(_ path: String) throws {
        guard let slash = path.lastIndex(of: "/") else { return }
        let dir = String(path[..<slash])
        guard !dir.isEmpty else { return }
        var st = stat()
        if stat(dir, &st) == 0 { return }
        if mkdir(dir, 0o770) != 0 && errno != EEXIST {
            throw BrokerError.listen("cannot create \(dir): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: - Clients

    /// A new connection; nil when over the connection limit (the caller closes it).
    func attach(_ channel: any Channel) -> ClientSession? {
        state.withLockedValue { s -> ClientSession? in
            guard !s.closed, s.clients.count < configuration.maxClients else {
                s.counters.clientsRefused += 1
                return nil
            }
            let n = s.nextClient
            s.nextClient += 1
            let c = ClientSession(number: n, channel: channel, window: configuration.clientWindow,
                                  eventLimit: configuration.clientQueueLimit, authenticated: configuration.token == nil)
            s.clients[n] = c
            s.counters.clientsAccepted += 1
            return c
        }
    }

    /// The client left: its peers are released (deleted when nobody else uses them and it
    /// did not ask to keep them).
    func detach(_ client: ClientSession) {
        client.markClosed()
        let (release, device) = state.withLockedValue { s -> ([MACAddress], ESPNowDevice?) in
            guard s.clients.removeValue(forKey: client.number) != nil else { return ([], nil) }
            Self.add(client.counters, to: &s.goneClients)
            // Closing: the dongle is being released as a whole, its device client closed.
            if s.closed { return ([], nil) }
            var out: [MACAddress] = []
            for (mac, var share) in s.peers where share.holders.contains(client.number) {
                share.holders.remove(client.number)
                if share.holders.isEmpty && !share.kept {
                    s.peers[mac] = nil
                    out.append(mac)
                } else {
                    s.peers[mac] = share
                }
            }
            return (out, s.device)
        }
        for mac in release {
            device?.forward(.espnowDelPeer, ["peer_addr": .mac(mac)], record: true) { [weak self] r in
                guard let self else { return }
                if case .failure(let e) = r {
                    logger.warning("could not delete a departed client's peer", metadata: ["peer": "\(mac)", "error": "\(e)"])
                } else {
                    state.withLockedValue { $0.counters.peersReleased += 1 }
                }
            }
        }
        logger.info("client left", metadata: ["client": "\(client.number)", "peers_released": "\(release.count)"])
    }

    /// Clients that see events.
    private var audience: [ClientSession] { state.withLockedValue { Array($0.clients.values) } }

    // MARK: - Requests

    /// Handles one decoded input of `client`, on its channel's event loop.
    func handle(_ input: ClientInput, from client: ClientSession) {
        switch input {
        case .dropped:
            break  // counted by the decoder
        case .reject(let id, let crc, let code, let err):
            if admitted(client, id, crc, code) { client.respond(id: id, code: code, err: err) }
        case .open(let id, let crc, let flags, let token):
            guard admitted(client, id, crc, BrokerWire.openCode) else { return }
            if let t = configuration.token, !constantTimeEqual(t, token) {
                logger.warning("client refused: wrong token", metadata: ["client": "\(client.number)"])
                client.respond(id: id, code: BrokerWire.openCode, err: .bridgeRefused)
                client.channel.close(promise: nil)
                return
            }
            client.state.withLockedValue { s in
                s.authenticated = true
                s.keepPeers = flags & BrokerWire.keepPeersFlag != 0
            }
            client.respond(id: id, code: BrokerWire.openCode, err: .ok)
        case .filter(let id, let crc, let sources):
            guard admitted(client, id, crc, BrokerWire.filterCode) else { return }
            guard client.authenticated else {
                client.respond(id: id, code: BrokerWire.filterCode, err: .bridgeRefused)
                return
            }
            client.state.withLockedValue { $0.sources = sources.isEmpty ? nil : Set(sources) }
            client.respond(id: id, code: BrokerWire.filterCode, err: .ok)
        case .request(let id, let crc, let code, let fields):
            guard admitted(client, id, crc, code.rawValue) else { return }
            guard client.authenticated else {
                client.respond(id: id, code: code.rawValue, err: .bridgeRefused)
                return
            }
            request(id: id, code: code, fields: fields, from: client)
        }
    }

    /// Replay / duplicate / window checks; true when the request is to be answered now.
    private func admitted(_ client: ClientSession, _ id: UInt16, _ crc: UInt32, _ code: UInt8) -> Bool {
        switch client.admit(id: id, crc: crc, startsSession: code == CommandCode.hello.rawValue) {
        case .admit: return true
        case .replay(let wire): client.resend(wire)
        case .duplicate: break
        case .busy: client.respondUnrecorded(id: id, code: code, err: .bridgeBusy)
        case .stale: client.respondUnrecorded(id: id, code: code, err: .bridgeStale)
        }
        return false
    }

    private func request(id: UInt16, code: CommandCode, fields: [String: FieldValue], from client: ClientSession) {
        switch code {
        case .hello:
            client.respond(id: id, code: code.rawValue, err: .ok, outputs: clientHello())
            return
        case .setBaud:
            client.notice("broker: SET_BAUD is not possible through a broker (the broker owns the serial link)")
            client.respond(id: id, code: code.rawValue, err: .notSupported)
            return
        case .reset, .espnowDeinit, .wifiSetChannel, .wifiSetCountryCode:
            let others = state.withLockedValue { $0.clients.count } - 1
            if others > 0 && !configuration.allowAdmin {
                client.notice("broker: \(code.name) refused: \(others) other client(s) share this dongle "
                              + "(start the broker with --allow-admin to permit it)")
                client.respond(id: id, code: code.rawValue, err: .bridgeRefused)
                return
            }
        case .espnowAddPeer:
            if case .mac(let mac)? = fields["peer_addr"] {
                let shared = state.withLockedValue { s -> Bool in
                    guard var share = s.peers[mac], share.fields == fields else { return false }
                    share.holders.insert(client.number)
                    if client.keepPeers { share.kept = true }
                    s.peers[mac] = share
                    return true
                }
                if shared {
                    client.respond(id: id, code: code.rawValue, err: .ok)
                    return
                }
            }
        case .espnowDelPeer:
            if case .mac(let mac)? = fields["peer_addr"] {
                enum Verdict { case forward, released, refused }
                let v = state.withLockedValue { s -> Verdict in
                    guard var share = s.peers[mac], !share.holders.isEmpty else { return .forward }
                    if share.holders == [client.number] { return .forward }
                    guard share.holders.contains(client.number) else { return .refused }
                    share.holders.remove(client.number)
                    s.peers[mac] = share
                    return .released
                }
                switch v {
                case .forward: break
                case .released:
                    client.respond(id: id, code: code.rawValue, err: .ok)
                    return
                case .refused:
                    client.notice("broker: ESPNOW_DEL_PEER \(mac) refused: the peer is used by other clients")
                    client.respond(id: id, code: code.rawValue, err: .bridgeRefused)
                    return
                }
            }
        default:
            break
        }
        forward(id: id, code: code, fields: fields, from: client)
    }

    private func forward(id: UInt16, code: CommandCode, fields: [String: FieldValue], from client: ClientSession) {
        guard let device = state.withLockedValue({ $0.device }) else {
            client.respond(id: id, code: code.rawValue, err: .bridgeNoDevice)
            return
        }
        let number = client.number
        let isSend = code == .espnowSend
        let brokerID = NIOLockedValueBox<UInt16?>(nil)
        var assigned: (@Sendable (UInt16) -> Void)?
        if isSend {
            let routes = state
            assigned = { devID in
                brokerID.withLockedValue { $0 = devID }
                routes.withLockedValue { s in s.routes[devID] = Route(client: number, clientID: id) }
            }
        }
        let completion: @Sendable (Result<[String: FieldValue], ESPNowError>) -> Void = { [weak self] result in
            guard let self else { return }
            self.completed(result, id: id, code: code, fields: fields, client: client, brokerID: brokerID.withLockedValue { $0 })
        }
        device.forward(code, fields, record: true, assigned: assigned, completion: completion)
    }

    private func completed(_ result: Result<[String: FieldValue], ESPNowError>, id: UInt16, code: CommandCode,
                           fields: [String: FieldValue], client: ClientSession, brokerID: UInt16?) {
        let number = client.number
        let isSend = code == .espnowSend
        switch result {
        case .success(let out):
            if isSend, let devID = brokerID {
                let n = Int(out["statuses"]?.uintValue ?? 0)
                state.withLockedValue { s in
                    guard var r = s.routes[devID], r.client == number, r.clientID == id else { return }
                    if r.seen >= n { s.routes[devID] = nil } else { r.expected = n; s.routes[devID] = r }
                }
            }
            settled(code, fields, by: client)
            client.respond(id: id, code: code.rawValue, err: .ok, outputs: out)
        case .failure(let e):
            if isSend, let devID = brokerID {
                state.withLockedValue { s in
                    if let r = s.routes[devID], r.client == number, r.clientID == id { s.routes[devID] = nil }
                }
            }
            client.respond(id: id, code: code.rawValue, err: Self.espError(for: e))
        }
    }

    /// The broker's bookkeeping after a forwarded call succeeded.
    private func settled(_ code: CommandCode, _ fields: [String: FieldValue], by client: ClientSession) {
        state.withLockedValue { s in
            switch code {
            case .espnowAddPeer, .espnowModPeer:
                guard case .mac(let mac)? = fields["peer_addr"] else { return }
                var share = s.peers[mac] ?? PeerShare(fields: fields)
                share.fields = fields
                share.holders.insert(client.number)
                if client.keepPeers { share.kept = true }
                s.peers[mac] = share
            case .espnowDelPeer:
                if case .mac(let mac)? = fields["peer_addr"] { s.peers[mac] = nil }
            case .espnowDeinit:
                s.peers = [:]
            default:
                break
            }
        }
    }

    static func espError(for e: ESPNowError) -> ESPError {
        switch e {
        case .esp(let code, _): code
        case .timeout: ESPError(rawValue: 0x107)
        case .deviceRebooted, .unplugged, .closed, .serial, .protocolMismatch: .bridgeNoDevice
        case .invalidArgument, .badResponse: .fail
        }
    }

    /// The dongle's HELLO as a client sees it: brokered, with the client window.
    func clientHello() -> [String: FieldValue] {
        var h = state.withLockedValue { $0.hello }
        let caps = UInt32(truncatingIfNeeded: h["caps"]?.uintValue ?? 0) | BrokerWire.brokeredCap
        h["caps"] = .uint(UInt64(caps))
        h["window"] = .uint(UInt64(configuration.clientWindow))
        return h
    }

    private func refreshHello() async throws {
        let d = device
        let fields: [String: FieldValue] = try await withCheckedThrowingContinuation { c in
            d.forward(.hello, [:], record: false) { r in c.resume(with: r) }
        }
        // The response's `err` is not part of the HELLO body.
        state.withLockedValue { $0.hello = fields.filter { $0.key != "err" } }
    }

    // MARK: - Events from the dongle (its event loop)

    /// Fans an event out; returns true for RECV (the broker's own device client does not
    /// queue packets: nobody would read them).
    func tap(_ f: DecodedFrame) -> Bool {
        guard let code = EventCode(rawValue: f.header.code) else { return false }
        switch code {
        case .recv: fanOut(f, .packets); return true
        case .log: fanOut(f, .logs)
        case .wifiEvent: fanOut(f, .events)
        // The dongle's own drop reports are never dropped: nothing may vanish unreported.
        case .dropped: fanOut(f, nil)
        case .sendStatus: routeStatus(f)
        case .hello: helloEvent(f)
        }
        return false
    }

    private func fanOut(_ f: DecodedFrame, _ kind: DropKind?) {
        let clients = audience
        guard !clients.isEmpty else { return }
        guard let wire = try? FrameEncoding.encode(Frame(header: f.header, body: Array(f.body.readableBytesView))) else { return }
        // A RECV starts with its sender (section 7.2): what per-client filters look at.
        var source: MACAddress?
        if kind == .packets, f.body.readableBytes >= 6, let b = f.body.getBytes(at: f.body.readerIndex, length: 6) {
            source = MACAddress(b[0], b[1], b[2], b[3], b[4], b[5])
        }
        for c in clients { c.send(event: wire, kind: kind, source: source) }
    }

    private func routeStatus(_ f: DecodedFrame) {
        var body = Array(f.body.readableBytesView)
        guard body.count >= 2 else { return }
        let devID = UInt16(body[0]) | UInt16(body[1]) << 8
        let target = state.withLockedValue { s -> (ClientSession, UInt16)? in
            guard var r = s.routes[devID] else { return nil }
            r.seen += 1
            if let n = r.expected, r.seen >= n { s.routes[devID] = nil } else { s.routes[devID] = r }
            guard let c = s.clients[r.client] else { return nil }
            return (c, r.clientID)
        }
        guard let (client, id) = target else { return }
        body[0] = UInt8(truncatingIfNeeded: id)
        body[1] = UInt8(truncatingIfNeeded: id >> 8)
        guard let wire = try? FrameEncoding.encode(Frame(header: f.header, body: body)) else { return }
        client.send(event: wire, kind: .events)
    }

    /// The dongle booted: every client hears it (as a brokered HELLO) before any call that
    /// was in flight fails; the broker's device client restores the state.
    private func helloEvent(_ f: DecodedFrame) {
        guard let m = try? f.message() else { return }
        let up = state.withLockedValue { s -> Bool in
            s.hello = m.fields
            // Routes of sends that were in flight are void.
            s.routes = [:]
            return s.deviceUp
        }
        guard up else { return }  // reported when the reconnection completes
        broadcastHello()
    }

    private func broadcastHello() {
        let wire: ByteBuffer
        do {
            wire = try FrameEncoding.encode(try Message.event(.hello, clientHello()).frame())
        } catch {
            logger.error("cannot encode the HELLO for clients", metadata: ["error": "\(error)"])
            return
        }
        for c in audience { c.send(event: wire, kind: nil) }
    }

    private func deviceEvent(_ e: DeviceEvent) {
        switch e {
        case .unplugged(let path, let failed):
            state.withLockedValue { $0.deviceUp = false }
            for c in audience { c.notice("broker: the dongle at \(path) is gone (\(failed) calls failed); reconnecting") }
        case .replugged(let info):
            Task {
                try? await refreshHello()
                state.withLockedValue { $0.deviceUp = true }
                logger.notice("dongle back", metadata: ["boot": "\(info.bootCount)"])
                broadcastHello()
            }
        case .restored(let steps, let failed):
            for c in audience {
                c.notice(failed.isEmpty ? "broker: the dongle's state was restored (\(steps) steps)"
                         : "broker: the dongle's state was restored incompletely: \(failed.joined(separator: "; "))",
                         level: failed.isEmpty ? 3 : 1)
            }
        default:
            break
        }
    }
}
