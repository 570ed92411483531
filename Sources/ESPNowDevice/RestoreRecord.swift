import ESPNowWire

/// The state the client has set on the device, kept so that it can be put back after the
/// dongle reboots or is replugged. Last value wins per setting; ``steps`` replays them in
/// an order the device accepts (init before peers, interfaces before channel) and that
/// accepts no packet before it can be delivered.
struct RestoreRecord: Sendable {
    typealias Step = (label: String, command: CommandCode, fields: [String: FieldValue])

    var macs: [UInt8: [String: FieldValue]] = [:]
    var mode: [String: FieldValue]?
    var ifActive: [UInt8: [String: FieldValue]] = [:]
    var started: Bool?
    var apConfig: [String: FieldValue]?
    var channel: [String: FieldValue]?
    var country: [String: FieldValue]?
    var powerSave: [String: FieldValue]?
    var protocols: [UInt8: [String: FieldValue]] = [:]
    var txPower: [String: FieldValue]?
    var rxbuf: [String: FieldValue]?
    var espnowInit = false
    var pmk: [String: FieldValue]?
    var peerOrder: [MACAddress] = []
    var peers: [MACAddress: [String: FieldValue]] = [:]
    var peerRates: [MACAddress: [String: FieldValue]] = [:]
    var espnowRates: [UInt8: [String: FieldValue]] = [:]
    var wakeWindow: [String: FieldValue]?
    var staConnect: [String: FieldValue]?

    private static func u8(_ f: [String: FieldValue], _ n: String) -> UInt8 {
        UInt8(truncatingIfNeeded: f[n]?.uintValue ?? 0)
    }
    private static func mac(_ f: [String: FieldValue]) -> MACAddress? {
        if case .mac(let m)? = f["peer_addr"] { return m }
        return nil
    }

    /// Records a command that succeeded.
    mutating func apply(_ c: CommandCode, _ f: [String: FieldValue]) {
        switch c {
        case .wifiSetMAC: macs[Self.u8(f, "ifidx")] = f
        case .wifiSetMode: mode = f
        case .wifiSetIfActive: ifActive[Self.u8(f, "ifidx")] = f
        case .wifiStart: started = true
        case .wifiStop: started = false
        case .wifiAPConfig: apConfig = f
        case .wifiSetChannel: channel = f
        case .wifiSetCountryCode: country = f
        case .wifiSetPS: powerSave = f
        case .wifiSetProtocol: protocols[Self.u8(f, "ifidx")] = f
        case .wifiSetMaxTxPower: txPower = f
        case .setRxbuf: rxbuf = f
        case .espnowInit: espnowInit = true
        case .espnowDeinit:
            // esp_now_deinit forgets every peer.
            espnowInit = false
            peers = [:]
            peerOrder = []
            peerRates = [:]
        case .espnowSetPMK: pmk = f
        case .espnowAddPeer, .espnowModPeer:
            guard let m = Self.mac(f) else { return }
            if peers[m] == nil { peerOrder.append(m) }
            peers[m] = f
        case .espnowDelPeer:
            guard let m = Self.mac(f) else { return }
            peers[m] = nil
            peerRates[m] = nil
            peerOrder.removeAll { $0 == m }
        case .espnowSetPeerRateConfig:
            if let m = Self.mac(f) { peerRates[m] = f }
        case .wifiConfigESPNowRate: espnowRates[Self.u8(f, "ifidx")] = f
        case .espnowSetWakeWindow: wakeWindow = f
        case .wifiStaConnect: staConnect = f
        case .wifiStaDisconnect: staConnect = nil
        default: break
        }
    }

    /// The commands that recreate the recorded state on a freshly booted device.
    var steps: [Step] {
        // ESP-NOW, its keys and peers go back before any interface starts: a radio that
        // listens before then would acknowledge packets it cannot deliver (no receive
        // callback yet, or an encrypted peer's key still missing) and nobody would count them.
        var out: [Step] = []
        for (i, f) in macs.sorted(by: { $0.key < $1.key }) { out.append(("mac[\(i)]", .wifiSetMAC, f)) }
        // The country first: it decides which channels the later steps may use.
        if let c = country { out.append(("country", .wifiSetCountryCode, c)) }
        if let m = mode { out.append(("mode", .wifiSetMode, m)) }
        if let r = rxbuf { out.append(("rxbuf", .setRxbuf, r)) }
        if espnowInit {
            out.append(("esp_now_init", .espnowInit, [:]))
            if let p = pmk { out.append(("pmk", .espnowSetPMK, p)) }
            for m in peerOrder { if let f = peers[m] { out.append(("peer \(m)", .espnowAddPeer, f)) } }
            if let w = wakeWindow { out.append(("wake window", .espnowSetWakeWindow, w)) }
        } else if let p = pmk {
            out.append(("pmk", .espnowSetPMK, p))
        }
        for (i, f) in ifActive.sorted(by: { $0.key < $1.key }) { out.append(("active[\(i)]", .wifiSetIfActive, f)) }
        if started == true { out.append(("start", .wifiStart, [:])) }
        if let a = apConfig { out.append(("ap config", .wifiAPConfig, a)) }
        if let c = channel { out.append(("channel", .wifiSetChannel, c)) }
        if let p = powerSave { out.append(("ps", .wifiSetPS, p)) }
        for (i, f) in protocols.sorted(by: { $0.key < $1.key }) { out.append(("protocol[\(i)]", .wifiSetProtocol, f)) }
        if let t = txPower { out.append(("tx power", .wifiSetMaxTxPower, t)) }
        if espnowInit {
            for m in peerOrder { if let f = peerRates[m] { out.append(("peer rate \(m)", .espnowSetPeerRateConfig, f)) } }
        }
        for (i, f) in espnowRates.sorted(by: { $0.key < $1.key }) { out.append(("espnow rate[\(i)]", .wifiConfigESPNowRate, f)) }
        if let s = staConnect { out.append(("sta connect", .wifiStaConnect, s)) }
        return out
    }
}
