// The soak's short deterministic version (fixed seeds): the same traffic, faults and
// independent books as `make soak`, fewer messages.
import SoakKit
import Testing

@Suite("soak (short)", .serialized)
struct SoakTests {
    @Test func shortSoakKeepsTheBooks() async throws {
        let phases = [
            SoakPhase(name: "BER 1e-4", messages: 1_500, ber: 1e-4, reboots: 1, unplugs: 1, seed: 41),
            SoakPhase(name: "BER 1e-3", messages: 400, ber: 1e-3, reboots: 1, unplugs: 1, seed: 42),
        ]
        for p in phases {
            let r = try await Soak.run(p)
            print(r)
            #expect(r.corrupted == 0)
            #expect(r.executedTwice == 0)
            #expect(r.unaccounted == 0)
            #expect(r.hangs == 0)
            // Every message has one outcome, and the faults were real.
            #expect(r.syncOK + r.syncFailed + r.asyncAccepted + r.refused + r.threw + r.hangs == p.messages)
            #expect(r.flippedBits > 0)
            #expect(r.received > 0)
        }
    }
}
