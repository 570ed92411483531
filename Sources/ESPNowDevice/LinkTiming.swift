import ESPNowWire
import NIOCore

/// The host→dongle serial line as a queue: on a UART link every byte takes 10 bit times,
/// so a request cannot be answered before the bytes written ahead of it and its own have
/// gone out. USB and pty links are not the bottleneck (`bytesPerSecond` nil).
struct LinePace: Sendable {
    var bytesPerSecond: Int?
    /// When the bytes written so far will have left the host (estimated).
    private var freeAt = NIODeadline.uptimeNanoseconds(0)

    init(bytesPerSecond: Int?) {
        self.bytesPerSecond = bytesPerSecond
    }

    /// The pace the dongle reported in its HELLO (transport 2 = UART, 10 bits a byte).
    init(info: DeviceInfo) {
        self.init(bytesPerSecond: info.transport == 2 && info.baud > 0 ? Int(info.baud) / 10 : nil)
    }

    /// The time `bytes` take on the line (zero on a fast link).
    func duration(bytes: Int) -> TimeAmount {
        guard let r = bytesPerSecond, r > 0 else { return .zero }
        return .nanoseconds(Int64(bytes) * 1_000_000_000 / Int64(r))
    }

    /// Queues `bytes` behind what is already on the line; returns when they will have left.
    mutating func enqueue(bytes: Int, at now: NIODeadline) -> NIODeadline {
        guard bytesPerSecond != nil else { return now }
        freeAt = max(freeAt, now) + duration(bytes: bytes)
        return freeAt
    }

    /// One attempt's wait once the request has left: the caller's `attemptTimeout` plus the
    /// time a request of that size and a response of the same order take on the line.
    func attemptTimeout(_ base: TimeAmount, requestBytes: Int) -> TimeAmount {
        base + duration(bytes: requestBytes + 64)
    }

    /// How long a full dongle backlog of `bytes` takes to reach the host.
    func drainTime(_ bytes: Int) -> TimeAmount { duration(bytes: bytes) }

    /// Bytes a decoded frame took on the wire, near enough for pacing: the body plus the
    /// longest header (8), CRC (4), COBS overhead and the delimiter.
    static func wireBytes(body: Int) -> Int { body + 16 + body / 254 }
}

/// What to do when an attempt's timer fires without a response.
enum AttemptVerdict: Equatable {
    /// The dongle kept talking on a slow link: the response may be queued behind what is
    /// arriving; wait on without retransmitting or counting the attempt.
    case extend
    /// The dongle kept talking on a fast link (it is alive, maybe busy): retransmit the
    /// identical frame (the replay window answers it) without counting the attempt.
    case retransmitUncounted
    /// The link was silent, or the response had every chance to arrive: a counted attempt.
    case retransmit
    /// The dongle talks but never answers this request: the call's hang guard.
    case giveUp

    /// - Parameters:
    ///   - linkSpoke: a frame (even a damaged one) arrived since the previous check.
    ///   - bytesSinceStart: bytes received since the current attempt left the host.
    ///   - sinceStart: time since the current attempt left the host.
    ///   - sinceFirst: time since the call's first transmission left the host.
    init(linkSpoke: Bool, bytesSinceStart: UInt64, sinceStart: TimeAmount, sinceFirst: TimeAmount,
         attemptTimeout: TimeAmount, attempts: Int, minimumCallTime: TimeAmount = .zero, backlogBytes: Int, line: LinePace) {
        let drain = line.drainTime(backlogBytes)
        if sinceFirst >= max(minimumCallTime, (attemptTimeout + drain) * Int64(4 * max(1, attempts))) {
            self = .giveUp
        } else if !linkSpoke {
            self = .retransmit
        } else if line.bytesPerSecond == nil {
            self = .retransmitUncounted
        } else if bytesSinceStart < UInt64(max(0, backlogBytes)) && sinceStart < attemptTimeout + drain {
            self = .extend
        } else {
            self = .retransmit
        }
    }
}

extension DeviceOptions {
    /// Refuses options no client can work with, before anything is opened.
    func validate() throws(ESPNowError) {
        guard attemptTimeout > .zero else {
            throw .invalidArgument("attemptTimeout must be positive (got \(attemptTimeout.nanoseconds) ns)")
        }
        guard attempts >= 1 else { throw .invalidArgument("attempts must be at least 1 (got \(attempts))") }
        guard deviceBacklogBytes >= 0 else {
            throw .invalidArgument("deviceBacklogBytes must not be negative (got \(deviceBacklogBytes))")
        }
        guard packetQueueCapacity >= 1 else {
            throw .invalidArgument("packetQueueCapacity must be at least 1 (got \(packetQueueCapacity))")
        }
        guard streamLimit >= 1 else { throw .invalidArgument("streamLimit must be at least 1 (got \(streamLimit))") }
        guard minimumCallTime >= .zero else {
            throw .invalidArgument("minimumCallTime must not be negative (got \(minimumCallTime.nanoseconds) ns)")
        }
        guard reconnectInterval >= .zero else {
            throw .invalidArgument("reconnectInterval must not be negative (got \(reconnectInterval.nanoseconds) ns)")
        }
    }
}
