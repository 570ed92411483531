/// Fixed numbers of wire protocol version 2 (docs/PROTOCOL.md).
public enum WireProtocol {
    /// The protocol version this module speaks (the high nibble of byte 0).
    public static let version: UInt8 = 2
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
    /// The largest ESP-NOW payload the SEND / RECV layouts carry: the largest
    /// `ESP_NOW_MAX_DATA_LEN_V2` of any ESP-IDF release (1490 in 5.4.0/5.4.1). A device
    /// accepts 1 ... its HELLO `max_payload`.
    public static let maxESPNowPayload = 1490
    /// ESPNOW_SEND `flags` bit 0: answer after the last SEND_STATUS.
    public static let sendFlagSync: UInt8 = 0x01
    /// ESPNOW_SEND `flags` bit 1: every peer (`esp_now_send(NULL, …)`); `peer_addr` all zero.
    public static let sendFlagAllPeers: UInt8 = 0x02
    /// SEND_STATUS `status` 2: the send was abandoned (ESP-NOW deinit, Wi-Fi stop, restart).
    public static let sendStatusAbandoned: UInt8 = 2
    /// Number of `STATS` counters (section 10).
    public static let statsCount = 22
}
