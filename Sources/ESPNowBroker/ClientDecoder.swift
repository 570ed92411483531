// Built alone with ESPNowWire's sources for the fuzz target (Tests/Fuzz/swift), hence the guard.
#if canImport(ESPNowWire)
import ESPNowWire
#endif

/// One thing a client sent, after framing and body checks.
public enum ClientInput: Sendable, Equatable {
    /// `BROKER_OPEN`: flags and token.
    case open(id: UInt16, crc: UInt32, flags: UInt8, token: [UInt8])
    /// `BROKER_FILTER`: the senders whose packets this client wants (empty: all).
    case filter(id: UInt16, crc: UInt32, sources: [MACAddress])
    /// A request whose body matched its layout.
    case request(id: UInt16, crc: UInt32, code: CommandCode, fields: [String: FieldValue])
    /// A request frame the broker answers with an error without acting on it: a bad body
    /// (`ESP_ERR_INVALID_SIZE`) or an unknown code (`ESP_ERR_NOT_SUPPORTED`), as a dongle would.
    case reject(id: UInt16, crc: UInt32, code: UInt8, err: ESPError)
    /// A frame dropped at the framing level (bad CRC / COBS, oversize, truncated, wrong
    /// version or kind): counted, never answered.
    case dropped(WireError)
}

/// The broker's client-facing decoder: bytes from a client in, ``ClientInput`` out. Frames
/// are split and checked like frames from a dongle (section 2-4), only requests are
/// accepted, and every body is checked against its layout before anything acts on it.
/// No I/O, no allocation beyond the decoded fields: also the fuzz target's subject.
public struct ClientDecoder {
    private var splitter = FrameSplitter(accepting: .fromHost)
    /// Frames delivered and drops by reason (`badBody` counts rejected bodies and codes).
    public private(set) var counters = LinkCounters()

    public init() {}

    /// Feeds a chunk of the client's stream; `handle` gets each input in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ handle: (ClientInput) -> Void) {
        var out: [ClientInput] = []
        splitter.feed(bytes) { result in
            switch result {
            case .failure(let e):
                out.append(.dropped(e))
            case .success(let view):
                out.append(Self.classify(view))
            }
        }
        for item in out {
            switch item {
            case .dropped(let e): counters.count(e)
            case .reject(_, _, _, let err) where err == .invalidSize: counters.badBody += 1
            default: counters.frames += 1
            }
            handle(item)
        }
    }

    /// CRC-32 of a request's decoded bytes (header + body): what the replay window keys on.
    static func requestCRC(_ view: FrameView) -> UInt32 {
        let h: [UInt8] = [view.header.version << 4 | view.header.kind.rawValue, UInt8(truncatingIfNeeded: view.header.id),
                          UInt8(truncatingIfNeeded: view.header.id >> 8), view.header.code]
        return CRC32.checksum(view.body, continuing: CRC32.checksum(h))
    }

    static func classify(_ view: FrameView) -> ClientInput {
        let id = view.header.id
        let code = view.header.code
        let crc = requestCRC(view)
        if code == BrokerWire.openCode {
            guard let (flags, token) = BrokerWire.parseOpen(UnsafeRawBufferPointer(view.body)) else {
                return .reject(id: id, crc: crc, code: code, err: .invalidSize)
            }
            return .open(id: id, crc: crc, flags: flags, token: token)
        }
        if code == BrokerWire.filterCode {
            guard let sources = BrokerWire.parseFilter(UnsafeRawBufferPointer(view.body)) else {
                return .reject(id: id, crc: crc, code: code, err: .invalidSize)
            }
            return .filter(id: id, crc: crc, sources: sources)
        }
        guard let command = CommandCode(rawValue: code), let layout = MessageLayout.find(kind: .request, code: code) else {
            return .reject(id: id, crc: crc, code: code, err: .notSupported)
        }
        do {
            return .request(id: id, crc: crc, code: command, fields: try layout.decodeFields(view.body))
        } catch {
            return .reject(id: id, crc: crc, code: code, err: .invalidSize)
        }
    }
}
