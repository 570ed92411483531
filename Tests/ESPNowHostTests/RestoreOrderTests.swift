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
}
