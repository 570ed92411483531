@testable import ESPNowDevice
import ESPNowWire
import Testing

/// After a reboot the client puts its state back in an order in which the radio never
/// acknowledges a packet the dongle cannot deliver: ESP-NOW, the PMK and every peer (with
/// its key) exist before any interface starts listening.
@Suite struct RestoreOrderTests {
    @Test func espnowPeersAndKeysComeBeforeAnyInterface() {
        var r = RestoreRecord()
        let peer = MACAddress(0x02, 0, 0, 0, 0, 0x42)
        r.apply(.wifiSetIfActive, ["ifidx": .uint(0), "active": .uint(1)])
        r.apply(.wifiSetChannel, ["primary": .uint(6), "second": .uint(0)])
        r.apply(.espnowInit, [:])
        r.apply(.espnowSetPMK, ["pmk": .bytes(Array(repeating: 7, count: 16))])
        r.apply(.espnowAddPeer, ["peer_addr": .mac(peer), "lmk": .bytes(Array(repeating: 1, count: 16)),
                                 "channel": .uint(0), "ifidx": .uint(0), "encrypt": .uint(1)])
        let order = r.steps.map(\.command)
        let firstListening = order.firstIndex { $0 == .wifiSetIfActive || $0 == .wifiStart } ?? order.count
        for c in [CommandCode.espnowInit, .espnowSetPMK, .espnowAddPeer] {
            #expect((order.firstIndex(of: c) ?? Int.max) < firstListening, "\(c) before any interface starts: \(order)")
        }
        #expect(order.firstIndex(of: .wifiSetIfActive)! < order.firstIndex(of: .wifiSetChannel)!)
    }

    /// Channels 12-14 exist only in some countries: the country goes back before the channel
    /// (a rebooted dongle is on the default 01, where SET_CHANNEL 13 fails).
    @Test func countryComesBeforeTheChannel() {
        var r = RestoreRecord()
        r.apply(.wifiSetIfActive, ["ifidx": .uint(0), "active": .uint(1)])
        r.apply(.wifiSetCountryCode, ["country": .bytes(Array("JP".utf8)), "ieee80211d": .uint(0)])
        r.apply(.wifiSetChannel, ["primary": .uint(13), "second": .uint(0)])
        let order = r.steps.map(\.command)
        let country = order.firstIndex(of: .wifiSetCountryCode)
        #expect(country != nil, "\(order)")
        #expect((country ?? Int.max) < order.firstIndex(of: .wifiSetChannel)!)
    }
}
