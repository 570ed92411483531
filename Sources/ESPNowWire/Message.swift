/// An owned, decoded message: header plus named field values (convenience form for tests,
/// tools and non-hot paths; it allocates). The hot path uses ``FrameSplitter`` views and
/// ``RecvEventView``.
public struct Message: Sendable, Hashable, CustomStringConvertible {
    public var header: FrameHeader
    /// Field values keyed by the spec's names (see ``FieldValue`` for the value forms).
    public var fields: [String: FieldValue]

    public init(header: FrameHeader, fields: [String: FieldValue]) {
        self.header = header
        self.fields = fields
    }

    public init(kind: FrameKind, id: UInt16 = 0, code: UInt8, fields: [String: FieldValue] = [:]) {
        self.init(header: FrameHeader(kind: kind, id: kind == .event ? 0 : id, code: code), fields: fields)
    }

    /// A request for `command`.
    public static func request(_ command: CommandCode, id: UInt16, _ fields: [String: FieldValue] = [:]) -> Message {
        Message(kind: .request, id: id, code: command.rawValue, fields: fields)
    }

    /// A response for `command`: `err` plus `outputs` (give none when `err` is not OK).
    public static func response(_ command: CommandCode, id: UInt16, err: ESPError = .ok,
                                _ outputs: [String: FieldValue] = [:]) -> Message {
        var f = outputs
        f["err"] = .int(Int64(err.rawValue))
        return Message(kind: .response, id: id, code: command.rawValue, fields: f)
    }

    /// An event.
    public static func event(_ event: EventCode, _ fields: [String: FieldValue] = [:]) -> Message {
        Message(kind: .event, code: event.rawValue, fields: fields)
    }

    public var kind: FrameKind { header.kind }
    public var id: UInt16 { header.id }
    public var code: UInt8 { header.code }
    /// The layout for this kind and code, `nil` for an unknown code.
    public var layout: MessageLayout? { MessageLayout.find(kind: header.kind, code: header.code) }
    /// Spec name of the message, or `nil` for an unknown code.
    public var name: String? { layout?.name }
    /// A response's `err`, if this is a response.
    public var err: ESPError? {
        guard kind == .response, let v = fields["err"]?.intValue, let i = Int32(exactly: v) else { return nil }
        return ESPError(rawValue: i)
    }

    /// Decodes the body of a frame along its layout. Throws `.unknownCode` or `.badBody`.
    public init(frame: FrameView) throws(WireError) {
        guard let l = MessageLayout.find(kind: frame.kind, code: frame.code) else {
            throw .unknownCode(kind: frame.kind, code: frame.code)
        }
        self.init(header: frame.header, fields: try l.decodeFields(frame.body))
    }

    /// Decodes the body of an owned frame.
    public init(frame: Frame) throws(WireError) {
        let r: Result<Message, WireError> = frame.body.withUnsafeBytes { b in
            Result { () throws(WireError) in try Message(frame: FrameView(header: frame.header, body: b)) }
        }
        self = try r.get()
    }

    /// Decodes one frame's wire bytes (one trailing `0x00` allowed) into a message.
    public init(wire: [UInt8], accepting kinds: FrameKindSet = .all) throws(WireError) {
        try self.init(frame: try Frame(wire: wire, accepting: kinds))
    }

    /// The body bytes along the layout.
    public func encodeBody() throws(WireError) -> [UInt8] {
        guard let l = layout else { throw .unknownCode(kind: kind, code: code) }
        return try l.encodeBody(fields)
    }

    /// The owned frame (header + encoded body).
    public func frame() throws(WireError) -> Frame { Frame(header: header, body: try encodeBody()) }

    /// The wire bytes, delimiter included.
    public func encoded() throws(WireError) -> [UInt8] { try frame().encoded() }

    /// Writes the wire bytes into `out`, replacing its contents.
    public func encode(into out: inout [UInt8]) throws(WireError) { try frame().encode(into: &out) }

    public var description: String {
        let body = (layout?.fields ?? []).compactMap { f in fields[f.name].map { "\(f.name)=\($0)" } }
        return "\(header) {" + body.joined(separator: ", ") + "}"
    }
}
