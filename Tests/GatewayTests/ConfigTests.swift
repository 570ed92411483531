import ESPNowGateway
import ESPNowWire
import Testing

@Suite("Configuration")
struct ConfigTests {
    @Test func fullFile() throws {
        let c = try GatewayConfig.load(toml: """
            gateway_id = "barn"
            ports = ["/dev/ttyACM0", "sim"]
            channel = 6
            db = "postgres://gw@db.example/sensors"
            spool = "/var/lib/espnow/spool.sqlite"
            retain_raw = "30d"
            retain_readings = "365d"
            dedup_window = "1500ms"
            allow = ["aa:bb:cc:dd:ee:01"]
            decoder = "auto"

            [layout]
            th = "<u32 seq, i16 temp/100 °C, u8 hum %"

            [[node]]
            mac = "aa:bb:cc:dd:ee:01"
            name = "attic"
            decoder = "layout:th"
            lmk = "00112233445566778899aabbccddeeff"
            always_on = true
            """)
        #expect(c.gatewayID == "barn")
        #expect(c.ports == ["/dev/ttyACM0", "sim"])
        #expect(c.channel == 6)
        #expect(c.retainRawUs == Int64(30) * 86_400_000_000)
        #expect(c.dedup.hashWindowUs == 1_500_000)
        let mac = try #require(MACAddress("aa:bb:cc:dd:ee:01"))
        #expect(c.nodes[mac]?.decoder == .layout("th"))
        #expect(c.nodes[mac]?.lmk?.count == 16)
        #expect(c.nodes[mac]?.alwaysOn == true)
        #expect(c.layouts.first?.name == "th")
        #expect(c.allow == [mac])
    }

    @Test(arguments: [
        ("colour = 1", "unknown key \"colour\""),
        ("channel = \"six\"", "channel must be an integer"),
        ("channel = 15", "channel must be 1...14"),
        ("retain_raw = \"soon\"", "is not a duration"),
        ("[[node]]\nname = \"x\"", "mac is required"),
        ("[[node]]\nmac = \"zz\"", "not a MAC address"),
        ("[[node]]\nmac = \"aa:bb:cc:dd:ee:01\"\ndecoder = \"layout:nope\"", "names no [layout] entry"),
        ("[[node]]\nmac = \"aa:bb:cc:dd:ee:01\"\nlmk = \"1234\"", "32 hex digits"),
        ("[layout]\nx = \"u9 a\"", "unknown type u9"),
        ("gateway_id = ", "line 1"),
    ])
    func errorsNameTheProblem(_ text: String, _ expected: String) {
        do {
            _ = try GatewayConfig.load(toml: text, file: "g.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.description.hasPrefix("g.toml"))
        }
    }
}
