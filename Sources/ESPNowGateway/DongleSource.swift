import ESPNowBroker
import ESPNowDevice
import ESPNowWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One dongle feeding the gateway: connects (and keeps retrying while the dongle is
/// missing), listens on the configured channel, hands every packet to the gateway, counts
/// the dongle's and the device client's drops, and delivers downlinks right after a node's
/// uplink. The device client restores the state after a dongle reboot or replug (with
/// `serve`, the broker does, once for all its clients).
struct DongleSource: Sendable {
    let gateway: Gateway
    let dongle: GatewayDongle

    /// The name the gateway knows the dongle by (stats, drop records, packets' `dongle`).
    var path: String { dongle.path }
    var logger: Logger { gateway.logger }

    func run() async {
        var warned = false
        while !Task.isCancelled {
            let device: ESPNowDevice
            let broker: Broker?
            do {
                (device, broker) = try await open()
            } catch {
                if !warned {
                    logger.warning("dongle \(path) is not available (\(error)); retrying every 2 s, the gateway keeps running")
                    warned = true
                }
                setStatus(DongleStatus(port: path, connected: false, note: "\(error)"))
                try? await Task.sleep(for: .seconds(2))
                continue
            }
            warned = false
            await serve(device, broker: broker)
            await device.close()
            await broker?.close()
        }
    }

    /// The device client the gateway reads from: the dongle itself, or with `serve`, the
    /// dongle's broker (which then owns the dongle) through its Unix socket, so the
    /// gateway is one client among the others and the broker's rules hold for all of them.
    private func open() async throws -> (ESPNowDevice, Broker?) {
        var o = DeviceOptions()
        o.packetQueueCapacity = 8192
        o.autoReconnect = true
        o.logger = logger
        guard let serve = gateway.config.serve else {
            o.reconnectPath = dongle.reconnectPath
            return (try await ESPNowDevice.connect(path: path, options: o), nil)
        }
        var bc = try serve.broker(devicePath: path, serial: dongle.serialNumber)
        bc.device.reconnectPath = dongle.reconnectPath
        let broker = try await Broker.start(bc, logger: logger)
        guard let socket = broker.socketPath else {
            await broker.close()
            throw GatewayConfig.Error("the broker for \(path) serves no Unix socket")
        }
        o.broker.token = bc.token ?? []
        do {
            let device = try await ESPNowDevice.connect(path: "unix:" + socket, options: o)
            logger.notice("dongle \(path) shared: other programs use it with --port unix:\(socket)")
            return (device, broker)
        } catch {
            await broker.close()
            throw error
        }
    }

    private func setStatus(_ s: DongleStatus) {
        gateway.state.withLockedValue { $0.dongles[path] = s }
    }

    private func serve(_ device: ESPNowDevice, broker: Broker?) async {
        let socket = broker?.socketPath
        do {
            try await device.wifiSetIfActive(.sta, true)
            try await device.espNowInit()
            if let ch = gateway.config.channel { try await device.wifiSetChannel(primary: UInt8(ch)) }
            for (mac, lmk) in gateway.lmks.withLockedValue({ $0 }).sorted(by: { $0.key < $1.key }) {
                do {
                    try await device.setEncryptedPeer(mac, lmk: lmk)
                } catch {
                    let name = gateway.config.nodes[mac]?.name ?? "unnamed"
                    logger.error("node \(mac) (\(name)): cannot add it as an encrypted peer on \(path): \(error). Past the dongle's encrypted-peer limit its encrypted packets are not received at all.")
                }
            }
        } catch {
            logger.error("dongle \(path): set-up failed: \(error)")
            try? await Task.sleep(for: .seconds(1))
            return
        }
        let info = device.info
        let channel = try? await device.wifiGetChannel().primary
        setStatus(DongleStatus(port: path, connected: true, mac: info.staMAC.description, channel: channel.map(Int.init),
                               note: socket.map { "shared on unix:\($0)" }))
        gateway.devices.withLockedValue { $0[path] = device }
        defer { gateway.devices.withLockedValue { _ = $0.removeValue(forKey: path) } }
        logger.info("dongle \(path) (\(info.staMAC)) listening on channel \(channel.map { "\($0)" } ?? "?")")
        var seenHost: UInt64 = 0
        var seenDevice: UInt64 = 0
        let label = path
        await withTaskGroup(of: Void.self) { deliveries in
            // Unplug, replug, reboot: say so (the device client reconnects and restores).
            // With `serve` the broker's client owns the dongle: the gateway's own link is
            // to the broker and stays up through an unplug, so the broker's view counts.
            let events = broker?.dongleEvents ?? device.events
            deliveries.addTask { [gateway, path] in
                for await e in events {
                    switch e {
                    case .unplugged:
                        gateway.logger.warning("dongle \(path) unplugged; waiting for it to come back")
                        gateway.state.withLockedValue { $0.dongles[path]?.connected = false }
                    case .replugged, .restored:
                        gateway.state.withLockedValue { $0.dongles[path]?.connected = true }
                    case .rebooted(_, let failed):
                        gateway.logger.warning("dongle \(path) rebooted (\(failed) call(s) failed); its state is being restored")
                    default:
                        break
                    }
                }
            }
            while !Task.isCancelled {
                let p: ReceivedPacket?
                do {
                    p = try await device.packetQueue.next(timeout: .seconds(1))
                } catch {
                    break
                }
                if let p {
                    let u = Uplink(node: p.src, payload: p.bytes, hostTimeUs: nowUs(), deviceTimeUs: p.timestampUs, rssi: p.rssi,
                                   channel: p.channel, rate: p.rate, dongle: label, receivedNs: monotonicNs())
                    if gateway.ingest(u), gateway.downlinks.hasPending(p.src) {
                        deliveries.addTask { await Downlinker(gateway: gateway, device: device).deliver(to: p.src) }
                    }
                }
                let c = device.hostCounters
                if c.packetsDropped > seenHost {
                    gateway.addDrop(.hostRxQueue, Int64(c.packetsDropped - seenHost), detail: label)
                    seenHost = c.packetsDropped
                }
                let d = c.deviceDropped[1] ?? 0
                if d > seenDevice {
                    gateway.addDrop(.dongleRxbuf, Int64(d - seenDevice), detail: label)
                    seenDevice = d
                }
            }
            deliveries.cancelAll()
        }
        setStatus(DongleStatus(port: path, connected: false, mac: info.staMAC.description, note: "closed"))
    }
}

/// Pending downlinks by node, mirrored from the database (refreshed by polling, so messages
/// queued by another process or gateway are seen too).
final class DownlinkBook: Sendable {
    private struct State {
        var byNode: [MACAddress: [(Downlink, UInt64)]] = [:]
        var version: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Call before reading the database; pass the result to `replace`.
    var version: UInt64 { state.withLockedValue { $0.version } }

    /// The database's pending messages as read after `version`: entries added here since
    /// then are kept (the read may predate them).
    func replace(_ all: [Downlink], readAfter version: UInt64) {
        state.withLockedValue { s in
            var m: [MACAddress: [(Downlink, UInt64)]] = [:]
            for d in all where d.state == .pending { m[d.node, default: []].append((d, 0)) }
            for (node, list) in s.byNode {
                for e in list where e.1 > version && !(m[node]?.contains { $0.0.id == e.0.id } ?? false) {
                    m[node, default: []].append(e)
                }
            }
            s.byNode = m
        }
    }

    func add(_ d: Downlink) {
        state.withLockedValue { s in
            s.version += 1
            if !(s.byNode[d.node]?.contains { $0.0.id == d.id } ?? false) { s.byNode[d.node, default: []].append((d, s.version)) }
        }
    }

    /// Messages waiting (those being delivered right now are not counted).
    var pendingCount: Int { state.withLockedValue { $0.byNode.values.reduce(0) { $0 + $1.count } } }

    func hasPending(_ node: MACAddress) -> Bool { state.withLockedValue { !($0.byNode[node]?.isEmpty ?? true) } }

    /// Takes the node's messages (the deliverer puts back those still pending).
    func take(_ node: MACAddress) -> [Downlink] {
        state.withLockedValue { s in
            s.version += 1
            return (s.byNode.removeValue(forKey: node) ?? []).map(\.0).sorted { $0.id < $1.id }
        }
    }
}

/// Sends a node its queued messages as sync unicasts, right after its uplink (when a
/// sleeping node listens), recording each attempt.
struct Downlinker: Sendable {
    let gateway: Gateway
    let device: ESPNowDevice

    func deliver(to node: MACAddress) async {
        guard let store = gateway.store else { return }
        let messages = gateway.downlinks.take(node)
        guard !messages.isEmpty else { return }
        var addedPeer = false
        if (try? await device.espNowIsPeerExist(node)) != true {
            do {
                try await device.espNowAddPeer(PeerInfo(peerAddr: node, channel: 0))
                addedPeer = true
            } catch {
                gateway.logger.error("downlink to \(node): cannot add the peer: \(error)")
                for m in messages { gateway.downlinks.add(m) }
                return
            }
        }
        for m in messages {
            do {
                guard try await store.claimDownlink(id: m.id, gateway: gateway.config.gatewayID, nowUs: nowUs()) else { continue }
                var error: String?
                do {
                    let r = try await device.espNowSend(peer: node, data: m.payload, sync: true)
                    if r.failures > 0 { error = "not acknowledged by the node" }
                } catch let e {
                    error = "\(e)"
                }
                let s = try await store.finishDownlink(id: m.id, delivered: error == nil, error: error, nowUs: nowUs())
                gateway.state.withLockedValue { st in
                    if error == nil { st.downlinksDelivered += 1 } else { st.downlinksFailedAttempts += 1 }
                }
                gateway.logger.info("downlink \(m.id) to \(node): \(s.rawValue)\(error.map { " (\($0))" } ?? "")")
                if s == .pending, let d = try await store.downlink(id: m.id) { gateway.downlinks.add(d) }
            } catch {
                gateway.logger.error("downlink \(m.id) to \(node): database: \(describe(error))")
                gateway.downlinks.add(m)
            }
        }
        if addedPeer { try? await device.espNowDelPeer(node) }
    }
}
