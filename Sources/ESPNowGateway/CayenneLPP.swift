/// Cayenne Low Power Payload: repeated `channel u8, type u8, value` records, values
/// big-endian with a fixed size and resolution per type. Fields are named `NAME_CHANNEL`
/// (`temperature_1`); multi-axis types add the axis (`accelerometer_2.x`, `gps_3.latitude`).
/// The original types (digital/analog in and out, illuminance, presence, temperature,
/// humidity, accelerometer, barometer, gyrometer, GPS) and the common extended ones.
public enum CayenneLPP {
    public struct TypeInfo: Sendable {
        public var name: String
        /// Bytes per component.
        public var width: Int
        public var signed: Bool
        /// Value = raw / divisor.
        public var divisor: Double
        public var unit: String?
        /// Component names; one unnamed component when empty.
        public var components: [String]

        var size: Int { width * max(1, components.count) }
    }

    public static let types: [UInt8: TypeInfo] = [
        0: TypeInfo(name: "digital_input", width: 1, signed: false, divisor: 1, unit: nil, components: []),
        1: TypeInfo(name: "digital_output", width: 1, signed: false, divisor: 1, unit: nil, components: []),
        2: TypeInfo(name: "analog_input", width: 2, signed: true, divisor: 100, unit: nil, components: []),
        3: TypeInfo(name: "analog_output", width: 2, signed: true, divisor: 100, unit: nil, components: []),
        100: TypeInfo(name: "generic", width: 4, signed: false, divisor: 1, unit: nil, components: []),
        101: TypeInfo(name: "illuminance", width: 2, signed: false, divisor: 1, unit: "lx", components: []),
        102: TypeInfo(name: "presence", width: 1, signed: false, divisor: 1, unit: nil, components: []),
        103: TypeInfo(name: "temperature", width: 2, signed: true, divisor: 10, unit: "°C", components: []),
        104: TypeInfo(name: "humidity", width: 1, signed: false, divisor: 2, unit: "%", components: []),
        113: TypeInfo(name: "accelerometer", width: 2, signed: true, divisor: 1000, unit: "G", components: ["x", "y", "z"]),
        115: TypeInfo(name: "barometer", width: 2, signed: false, divisor: 10, unit: "hPa", components: []),
        116: TypeInfo(name: "voltage", width: 2, signed: false, divisor: 100, unit: "V", components: []),
        117: TypeInfo(name: "current", width: 2, signed: false, divisor: 1000, unit: "A", components: []),
        118: TypeInfo(name: "frequency", width: 4, signed: false, divisor: 1, unit: "Hz", components: []),
        120: TypeInfo(name: "percentage", width: 1, signed: false, divisor: 1, unit: "%", components: []),
        121: TypeInfo(name: "altitude", width: 2, signed: true, divisor: 1, unit: "m", components: []),
        125: TypeInfo(name: "concentration", width: 2, signed: false, divisor: 1, unit: "ppm", components: []),
        128: TypeInfo(name: "power", width: 2, signed: false, divisor: 1, unit: "W", components: []),
        130: TypeInfo(name: "distance", width: 4, signed: false, divisor: 1000, unit: "m", components: []),
        131: TypeInfo(name: "energy", width: 4, signed: false, divisor: 1000, unit: "kWh", components: []),
        132: TypeInfo(name: "direction", width: 2, signed: false, divisor: 1, unit: "°", components: []),
        133: TypeInfo(name: "unixtime", width: 4, signed: false, divisor: 1, unit: "s", components: []),
        134: TypeInfo(name: "gyrometer", width: 2, signed: true, divisor: 100, unit: "°/s", components: ["x", "y", "z"]),
        135: TypeInfo(name: "colour", width: 1, signed: false, divisor: 1, unit: nil, components: ["r", "g", "b"]),
        136: TypeInfo(name: "gps", width: 3, signed: true, divisor: 10000, unit: nil, components: ["latitude", "longitude", "altitude"]),
        142: TypeInfo(name: "switch", width: 1, signed: false, divisor: 1, unit: nil, components: []),
    ]

    public static func decode(_ p: [UInt8]) -> Decoded {
        var out = Decoded(decoder: "cayenne")
        guard !p.isEmpty else { return .failure("cayenne", "empty payload") }
        var at = 0
        while at < p.count {
            guard at + 2 <= p.count else { return .failure("cayenne", "record at byte \(at) is cut short (no type)") }
            let channel = p[at], type = p[at + 1]
            guard let t = types[type] else { return .failure("cayenne", "unknown type \(type) at byte \(at + 1)") }
            guard at + 2 + t.size <= p.count else {
                return .failure("cayenne", "\(t.name) on channel \(channel) at byte \(at) needs \(t.size) bytes, \(p.count - at - 2) left")
            }
            var v = at + 2
            let base = "\(t.name)_\(channel)"
            for (i, c) in (t.components.isEmpty ? [""] : t.components).enumerated() {
                var raw: Int64 = 0
                for k in 0..<t.width { raw = raw << 8 | Int64(p[v + k]) }
                if t.signed, raw & (1 << (8 * t.width - 1)) != 0 { raw -= 1 << (8 * t.width) }
                v += t.width
                var divisor = t.divisor
                var unit = t.unit
                if t.name == "gps" {
                    // Latitude and longitude in 0.0001°, altitude in 0.01 m.
                    divisor = i == 2 ? 100 : 10000
                    unit = i == 2 ? "m" : "°"
                }
                out.readings.append(Reading(c.isEmpty ? base : "\(base).\(c)", Double(raw) / divisor, unit: unit))
            }
            at = v
        }
        return out
    }

    /// Encodes one record (tests and simulated nodes): `values` in the type's units.
    public static func encode(channel: UInt8, type: UInt8, _ values: [Double]) -> [UInt8] {
        guard let t = types[type] else { return [] }
        var out = [channel, type]
        for (i, value) in values.enumerated() {
            let divisor = t.name == "gps" ? (i == 2 ? 100 : 10000) : t.divisor
            let raw = Int64((value * divisor).rounded())
            for k in (0..<t.width).reversed() { out.append(UInt8(truncatingIfNeeded: raw >> (8 * Int64(k)))) }
        }
        return out
    }
}
