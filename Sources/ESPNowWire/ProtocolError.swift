/// Every way a frame or a body can be rejected (decoding) or refused (encoding).
///
/// The first seven cases are the reject reasons of `protocol-vectors.json`
/// (``reason`` gives the exact string) and the drop counters of section 10.
/// Functions throw it as a typed error, so throwing never allocates.
public enum WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Decoded frame shorter than 6 bytes, or too short for its header.
    case truncated
    /// CRC-32 mismatch.
    case badCRC
    /// A COBS code byte points past the end of the frame (or a 0x00 inside it).
    case badCOBS
    /// Encoded frame longer than 1543 bytes or decoded frame longer than 1536.
    case oversize
    /// Version nibble of byte 0 is not ``WireProtocol/version`` (carries the nibble).
    case badVersion(UInt8)
    /// Kind nibble is 0, ≥ 4, or a kind this receiver does not accept (carries the nibble).
    case badKind(UInt8)
    /// A body that does not match its layout (decoding), or field values that cannot be encoded.
    case badBody(BodyError)
    /// No layout for this kind and code (not a framing error: hosts ignore unknown events).
    case unknownCode(kind: FrameKind, code: UInt8)
    /// The output buffer is too small (encoding).
    case noSpace

    /// The reason string used by the vectors file: `bad_crc`, `truncated`, `oversize`,
    /// `bad_cobs`, `bad_version`, `bad_kind`, `bad_body`, `unknown_code`, `no_space`.
    public var reason: String {
        switch self {
        case .truncated: "truncated"
        case .badCRC: "bad_crc"
        case .badCOBS: "bad_cobs"
        case .oversize: "oversize"
        case .badVersion: "bad_version"
        case .badKind: "bad_kind"
        case .badBody: "bad_body"
        case .unknownCode: "unknown_code"
        case .noSpace: "no_space"
        }
    }

    public var description: String {
        switch self {
        case .truncated: "truncated frame"
        case .badCRC: "bad CRC"
        case .badCOBS: "bad COBS encoding"
        case .oversize: "oversize frame"
        case .badVersion(let v): "wrong protocol version \(v) (this host speaks v\(WireProtocol.version))"
        case .badKind(let k): "unknown or unexpected frame kind \(k)"
        case .badBody(let e): "bad body: \(e)"
        case .unknownCode(let kind, let code): "no layout for \(kind) code 0x\(String(code, radix: 16))"
        case .noSpace: "output buffer too small"
        }
    }
}

/// Where and why a body does not fit its message layout.
public struct BodyError: Sendable, Hashable, CustomStringConvertible {
    /// Message name as in the spec, e.g. `ESPNOW_SEND`.
    public var message: String
    /// Frame kind of the message.
    public var kind: FrameKind
    /// Field name as in the spec (e.g. `data`); empty for a body of an empty layout.
    public var field: String
    /// What is wrong.
    public var problem: BodyProblem

    public init(message: String, kind: FrameKind, field: String, problem: BodyProblem) {
        self.message = message
        self.kind = kind
        self.field = field
        self.problem = problem
    }

    public var description: String {
        "\(message) \(kind): " + (field.isEmpty ? "" : "field \(field): ") + problem.description
    }
}

/// The ways a field can be wrong.
public enum BodyProblem: Sendable, Hashable, CustomStringConvertible {
    /// The body ends inside this field.
    case tooShort
    /// Bytes left after this (last) field; `err != 0` responses must have a 4-byte body.
    case trailingBytes(Int)
    /// A str/bytes field longer than its maximum.
    case tooLong(length: Int, max: Int)
    /// Encoding: a required field is missing.
    case missing
    /// Encoding: a field that is not in the layout (or an output with `err != 0`).
    case unexpected
    /// Encoding: an integer outside the field's range.
    case outOfRange
    /// Encoding: a value of the wrong kind for the field (e.g. a string for a `u8`).
    case wrongType

    public var description: String {
        switch self {
        case .tooShort: "body too short"
        case .trailingBytes(let n): "\(n) unexpected trailing byte(s)"
        case .tooLong(let l, let m): "length \(l) above the maximum \(m)"
        case .missing: "missing"
        case .unexpected: "not part of the layout"
        case .outOfRange: "value out of range"
        case .wrongType: "value of the wrong type"
        }
    }
}
