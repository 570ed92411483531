/// The few wire facts a broker adds to the protocol (docs/PROTOCOL.md, "Multiplexing"):
/// shared by the broker, its client link and the fuzz target.
public enum BrokerWire {
    /// `BROKER_OPEN` request: `flags: u8`, `token: bytes` (≤ 64); outputs none. Handled by a
    /// broker, answered `ESP_ERR_NOT_SUPPORTED` by a dongle (an unknown code).
    public static let openCode: UInt8 = 0x70
    /// `BROKER_OPEN` flags bit 0: peers this client adds stay on the dongle after it leaves.
    public static let keepPeersFlag: UInt8 = 1
    public static let maxTokenLength = 64
    /// HELLO `caps` bit 7: the HELLO comes from a broker, not from the dongle itself.
    public static let brokeredCap: UInt32 = 1 << 7

    /// The `BROKER_OPEN` request body.
    public static func openBody(flags: UInt8, token: [UInt8]) -> [UInt8] { [flags] + token }

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
