/// The few wire facts a broker adds to the protocol (docs/PROTOCOL.md, "Multiplexing"):
/// shared by the broker, its client link and the fuzz target.
public enum BrokerWire {
    /// `BROKER_OPEN` request: `flags: u8`, `token: bytes` (≤ 64); outputs none. Handled by a
    /// broker, answered `ESP_ERR_NOT_SUPPORTED` by a dongle (an unknown code).
    public static let openCode: UInt8 = 0x70
    /// `BROKER_OPEN` flags bit 0: peers this client adds stay on the dongle after it leaves.
    public static let keepPeersFlag: UInt8 = 1
    public static let maxTokenLength = 64
    /// `BROKER_FILTER` request: `sources: bytes` (a multiple of 6, at most
    /// ``maxFilterSources`` MACs; empty: every sender); outputs none.
    public static let filterCode: UInt8 = 0x71
    public static let maxFilterSources = 20
    /// HELLO `caps` bit 7: the HELLO comes from a broker, not from the dongle itself.
    public static let brokeredCap: UInt32 = 1 << 7

    /// The `BROKER_OPEN` request body.
    public static func openBody(flags: UInt8, token: [UInt8]) -> [UInt8] { [flags] + token }

    /// The `BROKER_FILTER` request body.
    public static func filterBody(sources: [MACAddress]) -> [UInt8] { sources.flatMap { $0.bytes } }

    /// The sources of a `BROKER_FILTER` body; nil when it is a bad body.
    public static func parseFilter(_ body: some Collection<UInt8>) -> [MACAddress]? {
        guard body.count % 6 == 0, body.count / 6 <= maxFilterSources else { return nil }
        let b = Array(body)
        return stride(from: 0, to: b.count, by: 6).map { MACAddress(b[$0], b[$0 + 1], b[$0 + 2], b[$0 + 3], b[$0 + 4], b[$0 + 5]) }
    }

    /// Splits a `BROKER_OPEN` body; nil when it is a bad body.
    public static func parseOpen(_ body: some Collection<UInt8>) -> (flags: UInt8, token: [UInt8])? {
        guard let flags = body.first, body.count - 1 <= maxTokenLength else { return nil }
        return (flags, Array(body.dropFirst()))
    }
}

extension ESPError {
    /// A broker refused the call (it would disturb other clients, the peer is another
    /// client's, or the client has not authenticated).
    public static let bridgeRefused = ESPError(rawValue: 0xB003)
    /// The broker's dongle is gone (unplugged or rebooting) and the broker is reconnecting.
    public static let bridgeNoDevice = ESPError(rawValue: 0xB004)
}
