/// Fixed numbers of wire protocol version 1 (docs/PROTOCOL.md).
public enum WireProtocol {
    /// The protocol version this module speaks (the high nibble of byte 0).
    public static let version: UInt8 = 1
    /// Largest decoded frame (header + body + CRC), `MAX_DECODED`.
    public static let maxDecoded = 1536
    /// Largest encoded frame without its delimiter: `1536 + ceil(1536 / 254)`.
    public static let maxEncoded = 1543
    /// Largest encoded frame including the `0x00` delimiter.
    public static let maxWire = maxEncoded + 1
    /// Length of the CRC-32 trailer.
    public static let crcLength = 4
    /// Shortest valid decoded frame (event header + CRC).
    public static let minDecoded = 6
    /// Largest body any frame can carry (event header, the shorter one).
    public static let maxBody = maxDecoded - crcLength - 2
    /// `ESP_NOW_MAX_DATA_LEN_V2`: the largest ESP-NOW payload (SEND / RECV `data`).
    public static let maxESPNowPayload = 1470
    /// Number of `STATS` counters (section 10).
    public static let statsCount = 19
}
