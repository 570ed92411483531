import ESPNowDevice
import ESPNowWire

/// Changing a node while the gateway runs (the HTTP API's PATCH): stored in the node
/// registry and applied at once.
extension Gateway {
    /// Renames a node, sets its decoder and/or its LMK. The decoder applies to the next packet
    /// decoded; the LMK is given to every connected dongle (the node becomes an encrypted
    /// peer). Nil leaves a property unchanged.
    public func updateNode(_ mac: MACAddress, name: String?, decoder: DecoderKind?, lmk: [UInt8]?) async throws {
        guard let store else { throw StoreError("--dry-run stores nothing, so it cannot change nodes") }
        if let lmk, lmk.count != 16 { throw StoreError("an LMK is 16 bytes, not \(lmk.count)") }
        try await store.configureNode(mac, name: name, decoder: decoder?.description, lmk: lmk)
        if let decoder { decoderOverrides.withLockedValue { $0[mac] = decoder } }
        if let lmk {
            lmks.withLockedValue { $0[mac] = lmk }
            for (port, device) in devices.withLockedValue({ $0 }) {
                do {
                    try await device.setEncryptedPeer(mac, lmk: lmk)
                } catch {
                    // The key itself is never logged.
                    logger.error("node \(mac): cannot make it an encrypted peer on \(port): \(error)")
                    throw StoreError("the key is stored, but the dongle on \(port) refused the encrypted peer: \(error)")
                }
            }
        }
    }

    /// The decoder a node's packets go through now.
    public func decoderKind(for mac: MACAddress) -> DecoderKind {
        decoderOverrides.withLockedValue { $0[mac] } ?? config.decoderKind(for: mac)
    }
}

extension ESPNowDevice {
    /// Makes `mac` an encrypted peer with `lmk` on this dongle: modified when the dongle already
    /// has it (one that kept its peers across a gateway restart, or a key changed while running),
    /// added otherwise.
    func setEncryptedPeer(_ mac: MACAddress, lmk: [UInt8]) async throws {
        let peer = PeerInfo(peerAddr: mac, lmk: lmk, channel: 0, encrypt: true)
        if (try? await espNowIsPeerExist(mac)) == true {
            try await espNowModPeer(peer)
        } else {
            try await espNowAddPeer(peer)
        }
    }
}
