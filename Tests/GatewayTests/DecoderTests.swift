import ESPNowGateway
import ESPNowWire
import Foundation
import Testing

@Suite("Decoders")
struct DecoderTests {
    let decoder = PayloadDecoder()

    func value(_ d: Decoded, _ field: String) -> Double? { d.readings.first { $0.field == field }?.value }

    @Test func simulatorSensorLayout() {
        // 'S', v1, seq 7, 2150 (21.50 °C), 45 %, node 2
        let p: [UInt8] = [0x53, 1, 7, 0, 0, 0, 0x66, 0x08, 45, 2]
        let d = decoder.decode(p, as: .auto)
        #expect(d.decoder == "layout:espnow-sim")
        #expect(d.error == nil)
        #expect(d.seq == 7)
        #expect(value(d, "temperature") == 21.5)
        #expect(d.readings.first { $0.field == "temperature" }?.unit == "°C")
        #expect(value(d, "humidity") == 45)
        #expect(value(d, "node") == 2)
        #expect(d.readings.count == 3)  // markers and seq are not readings
    }

    @Test func declaredLayoutEndiannessTypesScale() throws {
        let le = try BinaryLayout(name: "x", spec: "<u8 kind=0x10, u32 seq, i16 temp/100 °C, u8 hum %, f32 volts V, i24 alt*2 m, skip2, bool door")
        var p: [UInt8] = [0x10, 0x2A, 0, 0, 0, 0x18, 0xFC]  // seq 42, temp -1000 → -10.00
        p += [55]
        p += withUnsafeBytes(of: Float(3.25).bitPattern.littleEndian, Array.init)
        p += [0xFF, 0xFF, 0xFF]  // i24 -1 → -2 m
        p += [9, 9, 1]
        let d = le.decode(p)
        #expect(d.error == nil)
        #expect(d.seq == 42)
        #expect(value(d, "temp") == -10.0)
        #expect(value(d, "hum") == 55)
        #expect(value(d, "volts") == 3.25)
        #expect(value(d, "alt") == -2)
        #expect(value(d, "door") == 1)
        #expect(d.readings.first { $0.field == "volts" }?.unit == "V")
        #expect(le.size == p.count)

        let be = try BinaryLayout(name: "b", spec: ">u16 a, i32 b, u64 c, f64 d")
        var q: [UInt8] = [0x01, 0x02, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 0, 0, 0, 1, 0]
        q += withUnsafeBytes(of: Double(-0.5).bitPattern.bigEndian, Array.init)
        let e = be.decode(q)
        #expect(value(e, "a") == 258)
        #expect(value(e, "b") == -2)
        #expect(value(e, "c") == 256)
        #expect(value(e, "d") == -0.5)
    }

    @Test func layoutErrorsAreReportedNotThrownAtDecode() throws {
        let l = try BinaryLayout(name: "x", spec: "u8 kind=1, u16 v")
        #expect(l.decode([1, 2]).error?.contains("3") == true)  // wrong length
        #expect(l.decode([2, 0, 0]).error?.contains("kind") == true)  // marker mismatch
        #expect(throws: BinaryLayout.ParseError.self) { try BinaryLayout(name: "bad", spec: "u9 x") }
        #expect(throws: BinaryLayout.ParseError.self) { try BinaryLayout(name: "bad", spec: "u8") }
        #expect(throws: BinaryLayout.ParseError.self) { try BinaryLayout(name: "bad", spec: "u8 a, u8 a") }
        #expect(throws: BinaryLayout.ParseError.self) { try BinaryLayout(name: "bad", spec: "u8 a/0") }
        #expect(throws: BinaryLayout.ParseError.self) { try BinaryLayout(name: "bad", spec: "f32 seq") }
        let t = try BinaryLayout(name: "t", spec: "u8 a, ...")
        #expect(t.decode([1, 2, 3]).error == nil)
    }

    @Test func cayenneEveryType() {
        var p: [UInt8] = []
        var expected: [(String, Double)] = []
        func add(_ ch: UInt8, _ type: UInt8, _ values: [Double], _ names: [String]) {
            p += CayenneLPP.encode(channel: ch, type: type, values)
            for (v, n) in zip(values, names) { expected.append((n, v)) }
        }
        add(1, 0, [1], ["digital_input_1"])
        add(2, 1, [0], ["digital_output_2"])
        add(3, 2, [-12.34], ["analog_input_3"])
        add(4, 3, [5.5], ["analog_output_4"])
        add(5, 100, [4_000_000_000], ["generic_5"])
        add(6, 101, [65000], ["illuminance_6"])
        add(7, 102, [1], ["presence_7"])
        add(8, 103, [-4.1], ["temperature_8"])
        add(9, 104, [63.5], ["humidity_9"])
        add(10, 113, [1.234, -0.5, 0.001], ["accelerometer_10.x", "accelerometer_10.y", "accelerometer_10.z"])
        add(11, 115, [1013.2], ["barometer_11"])
        add(12, 116, [3.3], ["voltage_12"])
        add(13, 117, [1.5], ["current_13"])
        add(14, 118, [868_000_000], ["frequency_14"])
        add(15, 120, [99], ["percentage_15"])
        add(16, 121, [-100], ["altitude_16"])
        add(17, 125, [415], ["concentration_17"])
        add(18, 128, [2000], ["power_18"])
        add(19, 130, [12.345], ["distance_19"])
        add(20, 131, [100.5], ["energy_20"])
        add(21, 132, [270], ["direction_21"])
        add(22, 133, [1_700_000_000], ["unixtime_22"])
        add(23, 134, [-1.5, 2.25, 0], ["gyrometer_23.x", "gyrometer_23.y", "gyrometer_23.z"])
        add(24, 135, [255, 128, 0], ["colour_24.r", "colour_24.g", "colour_24.b"])
        add(25, 136, [52.3702, -4.8952, 12.5], ["gps_25.latitude", "gps_25.longitude", "gps_25.altitude"])
        add(26, 142, [1], ["switch_26"])
        let d = decoder.decode(p, as: .cayenne)
        #expect(d.error == nil)
        #expect(d.readings.count == expected.count)
        for (name, v) in expected {
            let got = value(d, name)
            #expect(got.map { abs($0 - v) < 1e-9 } == true, "\(name): \(String(describing: got)) != \(v)")
        }
        #expect(d.readings.first { $0.field == "temperature_8" }?.unit == "°C")
        #expect(d.readings.first { $0.field == "gps_25.altitude" }?.unit == "m")
    }

    @Test func cayenneErrors() {
        #expect(decoder.decode([1], as: .cayenne).error != nil)
        #expect(decoder.decode([1, 99, 0], as: .cayenne).error?.contains("unknown type 99") == true)
        #expect(decoder.decode([1, 103, 0], as: .cayenne).error?.contains("temperature") == true)
    }

    @Test func fdrsRecords() {
        let p = FDRS.encode([(21.5, 3, 1), (40, 3, 3), (3.3, 7, 16)])
        let d = decoder.decode(p, as: .fdrs)
        #expect(d.error == nil)
        #expect(value(d, "3.temperature") == 21.5)
        #expect(value(d, "3.humidity") == 40)
        #expect(abs((value(d, "7.voltage") ?? 0) - 3.3) < 1e-6)
        #expect(decoder.decode([1, 2, 3], as: .fdrs).error != nil)
    }

    @Test func jsonObjects() {
        let d = decoder.decode(Array(#"{"seq": 12, "t": 21.5, "ok": true, "name": "attic", "env": {"p": 1013}, "a": [1, 2]}"#.utf8), as: .auto)
        #expect(d.decoder == "json")
        #expect(d.seq == 12)
        #expect(value(d, "t") == 21.5)
        #expect(value(d, "ok") == 1)
        #expect(d.readings.first { $0.field == "name" }?.text == "attic")
        #expect(value(d, "env.p") == 1013)
        #expect(value(d, "a.1") == 2)
        #expect(decoder.decode(Array("[1,2]".utf8), as: .json).error != nil)
        #expect(decoder.decode(Array("{bad".utf8), as: .json).error != nil)
    }

    @Test func textPairs() {
        let d = decoder.decode(Array("temp=21.5C hum=40 seq=9 state=open".utf8), as: .auto)
        #expect(d.decoder == "text")
        #expect(d.seq == 9)
        #expect(value(d, "temp") == 21.5)
        #expect(d.readings.first { $0.field == "temp" }?.unit == "C")
        #expect(d.readings.first { $0.field == "state" }?.text == "open")
        #expect(decoder.decode(Array("no pairs here".utf8), as: .text).error != nil)
        #expect(decoder.decode([0xFF, 0xFE], as: .text).error != nil)
    }

    @Test func autoLeavesAmbiguousBinaryRaw() {
        let d = decoder.decode(FDRS.encode([(1, 1, 1)]), as: .auto)
        #expect(d.decoder == "raw")
        #expect(d.readings.isEmpty)
        #expect(d.error == nil)
    }

    /// Hostile input: every decoder on random and truncated payloads never traps, and a
    /// failure always comes with a message.
    @Test func randomPayloadsNeverCrash() throws {
        var rng = SystemRandomNumberGenerator()
        let layout = try BinaryLayout(name: "l", spec: ">i64 a, f32 b, u24 c")
        let d = PayloadDecoder(layouts: [layout])
        let kinds: [DecoderKind] = [.auto, .raw, .text, .json, .cayenne, .fdrs, .layout("l"), .layout("espnow-sim"), .layout("missing")]
        var failures = 0
        for _ in 0..<3000 {
            let n = Int.random(in: 0...300, using: &rng)
            var p = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng), !p.isEmpty { p[0] = UInt8(ascii: "{") }
            for k in kinds {
                let r = d.decode(p, as: k)
                if r.error != nil { failures += 1; #expect(!(r.error ?? "").isEmpty) }
            }
        }
        #expect(failures > 0)
    }
}
