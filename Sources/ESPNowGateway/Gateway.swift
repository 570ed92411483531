import ESPNowDevice
import ESPNowWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Figures a running gateway keeps (the HTTP status page and metrics read them).
public struct GatewayStats: Sendable, Hashable {
    public var received: Int64 = 0
    public var stored: Int64 = 0
    public var duplicates: Int64 = 0
    public var readings: Int64 = 0
    public var decodeErrors: Int64 = 0
    public var drops: [String: Int64] = [:]
    public var queueDepth = 0
    public var spoolDepth = 0
    public var databaseUp = true
    public var dongles: [String: DongleStatus] = [:]
    public var downlinksDelivered: Int64 = 0
    public var downlinksFailedAttempts: Int64 = 0
}

/// A dongle the gateway listens on.
public struct GatewayDongle: Sendable {
    public var path: String
    /// Its USB serial number: names its broker socket with `serve`.
    public var serialNumber: String?
    /// Where the dongle is after an unplug (`DongleTracker.reconnectPath` follows its USB
    /// serial number to a new path); nil: the same path again.
    public var reconnectPath: (@Sendable (_ lastPath: String) async -> String?)?

    public init(path: String, serialNumber: String? = nil, reconnectPath: (@Sendable (_ lastPath: String) async -> String?)? = nil) {
        self.path = path
        self.serialNumber = serialNumber
        self.reconnectPath = reconnectPath
    }
}

public struct DongleStatus: Sendable, Hashable {
    public var port: String
    public var connected: Bool
    public var mac: String?
    public var channel: Int?
    public var note: String?
}

/// The sensor gateway: dongles → bounded queue → decoders → one writer → SQLite or
/// PostgreSQL (with a local spool while PostgreSQL is away), plus the downlink queue. A
/// swift-service-lifecycle `Service`: graceful shutdown stops the radios, drains the queue
/// into the database and returns.
public final class Gateway: Service, Sendable {
    public let config: GatewayConfig
    public let store: (any GatewayStore)?
    let spool: Spool?
    let queue: IngestQueue
    let decoder: PayloadDecoder
    let logger: Logger
    let state = NIOLockedValueBox(GatewayStats())
    let pendingDrops = NIOLockedValueBox<[DropRecord]>([])
    let observers = NIOLockedValueBox<[Int: @Sendable ([Ingest]) -> Void]>([:])
    let nextObserver = NIOLockedValueBox(0)
    let spoolActive = NIOLockedValueBox(false)
    let downlinks = DownlinkBook()
    /// Connected dongles by port (always-on deliveries use any of them).
    let devices = NIOLockedValueBox<[String: ESPNowDevice]>([:])
    /// Decoders chosen while running (``updateNode(_:name:decoder:lmk:)``), over the configuration's.
    let decoderOverrides = NIOLockedValueBox<[MACAddress: DecoderKind]>([:])
    /// The nodes' LMKs every dongle gets as encrypted peers: the config file's, then the
    /// registry's (set over HTTP while running, so they outlive a restart), kept current.
    let lmks = NIOLockedValueBox<[MACAddress: [UInt8]]>([:])
    /// The dongles to listen on (`sim` and `auto` already resolved by the caller).
    let dongles: [GatewayDongle]
    var ports: [String] { dongles.map(\.path) }
    /// Told how long each store write took (nanoseconds; metrics).
    let writeTimings = NIOLockedValueBox<[@Sendable (UInt64) -> Void]>([])
    /// The configured `[[webhook]]`s, fed from `onCommit`.
    public let webhooks: [WebhookSender]

    /// `store` nil only with `config.dryRun`. `spool` is used when the store is remote.
    public convenience init(config: GatewayConfig, store: (any GatewayStore)?, ports: [String], logger: Logger = Logger(label: "espnow.gateway")) throws {
        try self.init(config: config, store: store, dongles: ports.map { GatewayDongle(path: $0) }, logger: logger)
    }

    public init(config: GatewayConfig, store: (any GatewayStore)?, dongles: [GatewayDongle], logger: Logger = Logger(label: "espnow.gateway")) throws {
        try config.serve?.validate(dongles: dongles.count)
        self.config = config
        self.store = store
        self.dongles = dongles
        self.logger = logger
        queue = IngestQueue(capacity: config.queueCapacity)
        decoder = config.decoder
        for n in config.nodes.values { if let k = n.lmk { lmks.withLockedValue { $0[n.mac] = k } } }
        if let s = store, s.isRemote, !config.dryRun {
            spool = try Spool(path: config.spoolPath ?? "gateway-spool.sqlite", limit: config.spoolLimit)
        } else {
            spool = nil
        }
        if store == nil && !config.dryRun { throw StoreError("a gateway without --dry-run needs a database") }
        webhooks = config.webhooks.map { WebhookSender(config: $0, gatewayID: config.gatewayID, logger: logger) }
        for w in webhooks { onCommit { w.offer($0) } }
    }

    public var stats: GatewayStats {
        var s = state.withLockedValue { $0 }
        s.queueDepth = queue.count
        s.spoolDepth = spool?.count ?? 0
        return s
    }

    /// Called with every batch once it is committed (or, with --dry-run, decoded). Runs on
    /// the writer: keep it short and never block (hand off to your own buffer).
    @discardableResult
    public func onCommit(_ f: @escaping @Sendable ([Ingest]) -> Void) -> Int {
        let id = nextObserver.withLockedValue { n -> Int in
            n += 1
            return n
        }
        observers.withLockedValue { $0[id] = f }
        return id
    }

    public func removeObserver(_ id: Int) { observers.withLockedValue { _ = $0.removeValue(forKey: id) } }

    /// Hands a received packet to the gateway (what each dongle does; also for embedding
    /// other sources). False when it was dropped (not allowed, or the queue is full; counted).
    @discardableResult
    public func ingest(_ u: Uplink) -> Bool {
        state.withLockedValue { $0.received += 1 }
        if let allow = config.allow, !allow.contains(u.node) {
            addDrop(.notAllowed, 1, detail: u.node.description)
            return false
        }
        if queue.offer(u) { return true }
        addDrop(.gatewayQueue, Int64(queue.takeDropped()), detail: nil)
        return false
    }

    func addDrop(_ cause: DropCause, _ n: Int64, detail: String?) {
        guard n > 0 else { return }
        if cause != .notAllowed {
            logger.warning("dropped \(n) packet(s): \(cause.rawValue)\(detail.map { " (\($0))" } ?? "")")
        }
        state.withLockedValue { $0.drops[cause.rawValue, default: 0] += n }
        let r = DropRecord(cause: cause, count: n, timeUs: nowUs(), detail: detail, gateway: config.gatewayID)
        pendingDrops.withLockedValue { d in
            // Coalesce with an unwritten record of the same cause and detail.
            if let i = d.lastIndex(where: { $0.cause == cause && $0.detail == detail }) { d[i].count += n } else { d.append(r) }
        }
    }

    /// Queues a downlink message; delivered right after the node's next uplink.
    public func queueDownlink(node: MACAddress, payload: [UInt8]) async throws -> Int64 {
        guard let store else { throw StoreError("--dry-run stores nothing, so it cannot queue downlinks") }
        guard (1...1470).contains(payload.count) else { throw StoreError("a downlink is 1 to 1470 bytes, not \(payload.count)") }
        let id = try await store.queueDownlink(node: node, payload: payload, maxAttempts: config.downlinkAttempts, nowUs: nowUs())
        if let d = try await store.downlink(id: id) { downlinks.add(d) }
        return id
    }

    // MARK: running

    public func run() async throws {
        if let store {
            try await store.migrate()
            for n in config.nodes.values {
                try await store.configureNode(n.mac, name: n.name, decoder: n.decoder?.description, lmk: n.lmk)
            }
            // Decoders set while running (HTTP PATCH) outlive a restart; the file's win.
            for n in try await store.nodes() where config.nodes[n.mac]?.decoder == nil {
                if let d = n.decoder.flatMap(DecoderKind.init) { decoderOverrides.withLockedValue { $0[n.mac] = d } }
            }
            let stored = try await store.nodeLMKs()
            lmks.withLockedValue { $0.merge(stored) { _, new in new } }
            let released = try await store.releaseClaims(gateway: config.gatewayID, nowUs: nowUs())
            if released > 0 { logger.info("\(released) downlink(s) left mid-attempt by the last run are pending again") }
            let v = downlinks.version
            downlinks.replace(try await store.pendingDownlinks(), readAfter: v)
        }
        logger.info("gateway \(config.gatewayID): \(ports.count) dongle(s), storing into \(config.dryRun ? "nothing (dry run)" : store!.kind)")
        let writer = Task { await self.writeLoop() }
        let hooks = webhooks.map { w in Task { await w.run() } }
        let radios = Task {
            await withTaskGroup(of: Void.self) { g in
                for d in self.dongles {
                    g.addTask { await DongleSource(gateway: self, dongle: d).run() }
                }
                g.addTask { await self.tickLoop() }
                await g.waitForAll()
            }
        }
        // Until SIGTERM/SIGINT (through a ServiceGroup) or cancellation.
        try? await gracefulShutdown()
        logger.info("stopping: closing the dongles, then writing what is queued")
        radios.cancel()
        await radios.value
        queue.finish()
        await writer.value
        await stopWebhooks(hooks)
        await store?.close()
        logger.info("stopped: \(stats.stored) packet(s) stored, \(stats.duplicates) duplicate(s), queue empty")
    }

    /// Wakes the writer while the spool waits for the database, writes drops when no
    /// packets come, polls for downlinks queued elsewhere, applies retention.
    func tickLoop() async {
        var lastPoll: Int64 = 0
        var lastPrune: Int64 = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            queue.poke()
            let now = nowUs()
            if let store, now - lastPoll >= config.downlinkPollUs {
                lastPoll = now
                let v = downlinks.version
                if let p = try? await store.pendingDownlinks() { downlinks.replace(p, readAfter: v) }
                await deliverToAlwaysOn()
            }
            if let store, now - lastPrune >= 60_000_000 {
                lastPrune = now
                await prune(store, now: now)
            }
        }
    }

    /// Nodes that always listen get their messages without waiting for an uplink.
    func deliverToAlwaysOn() async {
        for n in config.nodes.values where n.alwaysOn && downlinks.hasPending(n.mac) {
            guard let device = devices.withLockedValue({ $0.sorted { $0.key < $1.key }.first?.value }) else { return }
            await Downlinker(gateway: self, device: device).deliver(to: n.mac)
        }
    }

    func prune(_ store: any GatewayStore, now: Int64) async {
        let maxWindow = max(config.dedup.seqWindowUs, config.dedup.hashWindowUs, 0)
        do {
            let (p, r) = try await store.prune(rawBeforeUs: config.retainRawUs.map { now - $0 },
                                                readingsBeforeUs: config.retainReadingsUs.map { now - $0 },
                                                dedupBeforeUs: now - 2 * maxWindow - 60_000_000)
            if p + r > 0 { logger.info("retention: deleted \(p) packet(s), \(r) reading(s)") }
        } catch is CancellationError {
            // The gateway is stopping: the next start prunes what this run did not.
        } catch {
            logger.warning("retention failed: \(describe(error))")
        }
    }

    func decode(_ u: Uplink, gateway: String) -> Ingest {
        let kind = decoderOverrides.withLockedValue { $0[u.node] } ?? config.decoderKind(for: u.node)
        return Ingest(uplink: u, decoded: decoder.decode(u.payload, as: kind), gateway: gateway)
    }

    func notify(_ batch: [Ingest], _ o: WriteOutcome?) {
        state.withLockedValue { s in
            if let o {
                s.stored += Int64(o.stored)
                s.duplicates += Int64(o.duplicates)
                s.readings += Int64(o.readings)
            }
            s.decodeErrors += Int64(batch.count { $0.decoded.error != nil })
        }
        for f in observers.withLockedValue({ Array($0.values) }) { f(batch) }
    }
}

func nowUs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
