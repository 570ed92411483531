import NIOCore

extension DeviceOptions {
    /// Refuses options no client can work with, before any port is opened.
    func validate() throws(ESPNowError) {
        guard attempts >= 1 else { throw .invalidArgument("attempts must be at least 1, got \(attempts)") }
        guard attemptTimeout > .zero else {
            throw .invalidArgument("attemptTimeout must be positive, got \(attemptTimeout.nanoseconds) ns")
        }
        guard packetQueueCapacity >= 1 else {
            throw .invalidArgument("packetQueueCapacity must be at least 1, got \(packetQueueCapacity)")
        }
        guard streamLimit >= 1 else { throw .invalidArgument("streamLimit must be at least 1, got \(streamLimit)") }
        guard reconnectInterval >= .zero else {
            throw .invalidArgument("reconnectInterval must not be negative, got \(reconnectInterval.nanoseconds) ns")
        }
    }
}
