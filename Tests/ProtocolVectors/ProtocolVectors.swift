// The shared protocol vectors (Tests/Fixtures/protocol-vectors.json, PROTOCOL.md section 12)
// as the Swift codec's, the C codec's and the broker's tests read them.
import ESPNowWire
import Foundation
import Testing

/// A body value as the JSON holds it: a number or a string (MAC, hex bytes, text).
public enum JSONScalar: Decodable, Sendable, Equatable, CustomStringConvertible {
    case int(Int64)
    case uint(UInt64)
    case string(String)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let u = try? c.decode(UInt64.self) {
            self = .uint(u)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    public var int: Int64? { if case .int(let i) = self { i } else { nil } }
    public var string: String? { if case .string(let s) = self { s } else { nil } }

    public var description: String {
        switch self {
        case .int(let i): "\(i)"
        case .uint(let u): "\(u)"
        case .string(let s): "\"\(s)\""
        }
    }
}

public struct VectorFields: Decodable, Sendable {
    public var version: Int
    public var kind: String
    public var id: Int?
    public var code: String
    public var body: [String: JSONScalar]
}

public struct Vector: Decodable, Sendable, CustomTestStringConvertible {
    public var name: String
    public var comment: String?
    public var fields: VectorFields
    public var wire_hex: String
    public var testDescription: String { name }
    public var wire: [UInt8] { Hex.decode(wire_hex)! }
}

public struct Reject: Decodable, Sendable, CustomTestStringConvertible {
    public var name: String
    public var wire_hex: String
    public var reason: String
    public var testDescription: String { name }
    public var wire: [UInt8] { Hex.decode(wire_hex)! }
}

/// Section 12's broker part: frames only a broker decodes in full, and its answers.
public struct BrokerVectors: Decodable, Sendable {
    public var codes: [String: Int]
    public var vectors: [Vector]
    public var rejects: [Reject]
}

public struct VectorFile: Decodable, Sendable {
    public var protocol_version: Int
    public var vectors: [Vector]
    public var rejects: [Reject]
    public var broker: BrokerVectors
}

public enum ProtocolVectors {
    /// Tests/Fixtures/protocol-vectors.json, found from this source file's path.
    public static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/protocol-vectors.json")

    /// The file; a missing or malformed fixture is a broken checkout and stops the tests.
    public static let file: VectorFile = {
        do {
            return try JSONDecoder().decode(VectorFile.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot load \(url.path): \(error)")
        }
    }()
}
