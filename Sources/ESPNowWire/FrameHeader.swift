/// Frame kind, the low nibble of byte 0 (section 4).
public enum FrameKind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Host → device.
    case request = 1
    /// Device → host, answers a request (same id and code).
    case response = 2
    /// Device → host, unsolicited; no id.
    case event = 3

    /// `request`, `response` or `event` (the vectors' spelling).
    public var description: String {
        switch self {
        case .request: "request"
        case .response: "response"
        case .event: "event"
        }
    }

    /// Parses the vectors' spelling.
    public init?(name: String) {
        switch name {
        case "request": self = .request
        case "response": self = .response
        case "event": self = .event
        default: return nil
        }
    }

    /// Header length: 4 for requests and responses (ver_kind, id, code), 2 for events.
    @inlinable public var headerLength: Int { self == .event ? 2 : 4 }
}

/// A set of frame kinds as a bit mask (bit n = kind n); used by receivers to refuse
/// kinds that cannot come from the other side (section 4: they are *unknown kind*).
public struct FrameKindSet: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let request = FrameKindSet(rawValue: 1 << 1)
    public static let response = FrameKindSet(rawValue: 1 << 2)
    public static let event = FrameKindSet(rawValue: 1 << 3)
    /// Every kind (tools, tests, sniffers).
    public static let all: FrameKindSet = [.request, .response, .event]
    /// What a host accepts from a device.
    public static let fromDevice: FrameKindSet = [.response, .event]
    /// What a device accepts from a host.
    public static let fromHost: FrameKindSet = [.request]

    /// Whether raw kind nibble `k` is in the set.
    @inlinable public func contains(rawKind k: UInt8) -> Bool { k < 8 && (rawValue >> k) & 1 != 0 }
}

/// The header of a frame: version, kind, request id (0 for events) and code.
public struct FrameHeader: Sendable, Hashable, CustomStringConvertible {
    /// Protocol version (high nibble of byte 0).
    public var version: UInt8
    public var kind: FrameKind
    /// Request id; always 0 for events (they carry none).
    public var id: UInt16
    /// Command code (requests, responses) or event code.
    public var code: UInt8

    public init(version: UInt8 = WireProtocol.version, kind: FrameKind, id: UInt16 = 0, code: UInt8) {
        self.version = version
        self.kind = kind
        self.id = id
        self.code = code
    }

    /// Header length on the wire (4 or 2).
    @inlinable public var length: Int { kind.headerLength }

    /// Byte 0.
    @inlinable public var verKind: UInt8 { (version << 4) | kind.rawValue }

    /// Writes the header at `p` (which must have room for ``length`` bytes); returns the length.
    @inlinable
    public func write(to p: UnsafeMutableRawPointer) -> Int {
        p.storeBytes(of: verKind, as: UInt8.self)
        if kind == .event {
            p.storeBytes(of: code, toByteOffset: 1, as: UInt8.self)
            return 2
        }
        p.storeBytes(of: UInt8(truncatingIfNeeded: id), toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: UInt8(truncatingIfNeeded: id >> 8), toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: code, toByteOffset: 3, as: UInt8.self)
        return 4
    }

    public var description: String {
        let name = MessageLayout.find(kind: kind, code: code)?.name ?? "0x" + String(code, radix: 16)
        return kind == .event ? "v\(version) event \(name)" : "v\(version) \(kind) #\(id) \(name)"
    }
}
