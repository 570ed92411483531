// A broker on TCP: TLS with a token, mutual TLS, plaintext only on loopback with --insecure.
// The certificates in certs/ come from certs/gen.sh (a test CA, never deployed).
import ESPNowBroker
import ESPNowDevice
import ESPNowSerial
import ESPNowWire
import Foundation
import Testing

let certDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("certs").path

@Suite("broker: remote access over TCP", .serialized)
struct RemoteTests {
    static func serverTLS(clientCA: Bool = false) -> BrokerConfiguration.TLS {
        .init(certificateFile: "\(certDir)/server.pem", keyFile: "\(certDir)/server.key",
              clientCAFile: clientCA ? "\(certDir)/ca.pem" : nil)
    }

    static func clientOptions(token: String? = nil, certificate: Bool = false) -> DeviceOptions {
        var o = DeviceOptions()
        o.autoReconnect = false
        o.broker.caFile = "\(certDir)/ca.pem"
        if let t = token { o.broker.token = Array(t.utf8) }
        if certificate {
            o.broker.certificateFile = "\(certDir)/client.pem"
            o.broker.keyFile = "\(certDir)/client.key"
        }
        return o
    }

    static func url(_ b: Broker, _ scheme: String, host: String = "localhost") -> String {
        "\(scheme)://\(host):\(b.tcpAddress!.port!)"
    }

    /// TLS with a token: the right token gets a working session; a wrong one is refused
    /// with a clear error and the broker counts no client left attached.
    @Test func tlsClientWithWrongTokenIsRefused() async throws {
        try await BrokerFixture.with(configure: { c in
            c.tcpHost = "127.0.0.1"
            c.tls = Self.serverTLS()
            c.token = Array("correct horse".utf8)
        }) { f in
            let url = Self.url(f.broker, "tls")
            do {
                _ = try await ESPNowDevice.connect(url: url, options: Self.clientOptions(token: "battery staple"))
                Issue.record("a wrong token was accepted")
            } catch let e as ESPNowError {
                guard case .serial(.openFailed(_, _, let reason)) = e else {
                    Issue.record("unexpected error \(e)")
                    return
                }
                #expect(reason.contains("refused"))
            }
            let d = try await ESPNowDevice.connect(url: url, options: Self.clientOptions(token: "correct horse"))
            #expect(d.info.isBrokered)
            let (_, echo) = try await d.ping([1, 2, 3])
            #expect(echo == [1, 2, 3])
            // A client that does not trust the broker's CA never gets as far as the token.
            var untrusting = Self.clientOptions(token: "correct horse")
            untrusting.broker.caFile = "\(certDir)/client.pem"
            await #expect(throws: ESPNowError.self) { _ = try await ESPNowDevice.connect(url: url, options: untrusting) }
            #expect(try await eventually { f.broker.counters.clientsAttached == 1 })
            await d.close()
        }
    }

    /// Mutual TLS: a client certificate from the CA is the credential; without one the
    /// handshake fails.
    @Test func mutualTLS() async throws {
        try await BrokerFixture.with(configure: { c in
            c.tcpHost = "127.0.0.1"
            c.tls = Self.serverTLS(clientCA: true)
        }) { f in
            let url = Self.url(f.broker, "tls", host: "127.0.0.1")
            await #expect(throws: ESPNowError.self) {
                _ = try await ESPNowDevice.connect(url: url, options: Self.clientOptions())
            }
            let d = try await ESPNowDevice.connect(url: url, options: Self.clientOptions(certificate: true))
            #expect(d.info.isBrokered)
            try await d.wifiSetIfActive(.sta, true)
            try await d.espNowInit()
            _ = try await f.remote.espNowSend(peer: f.brokeredMAC, data: [0x42], sync: true)
            #expect(try await receive(d, 1) == [[0x42]])
            await d.close()
        }
    }

    /// Plaintext TCP only with `insecure` on loopback; TLS without any client credential and
    /// plaintext on another address are configuration errors.
    @Test func plaintextOnlyOnLoopback() async throws {
        var c = BrokerConfiguration(devicePath: "/nonexistent")
        c.tcpHost = "0.0.0.0"
        c.insecure = true
        await #expect(throws: BrokerError.self) { _ = try await Broker.start(c) }
        c.insecure = false
        await #expect(throws: BrokerError.self) { _ = try await Broker.start(c) }
        c.tls = Self.serverTLS()
        await #expect(throws: BrokerError.self) { _ = try await Broker.start(c) }  // no token, no client CA

        try await BrokerFixture.with(configure: { c in
            c.tcpHost = "127.0.0.1"
            c.insecure = true
        }) { f in
            let d = try await ESPNowDevice.connect(url: Self.url(f.broker, "tcp", host: "127.0.0.1"),
                                                   options: Self.clientOptions())
            #expect(d.info.isBrokered)
            await d.close()
        }
    }

    @Test func addressesParse() {
        #expect(LinkAddress("unix:/run/espnow/abc.sock") == .unix(path: "/run/espnow/abc.sock"))
        #expect(LinkAddress("tcp://10.0.0.2:7600") == .tcp(host: "10.0.0.2", port: 7600, tls: false))
        #expect(LinkAddress("tls://[::1]:7600") == .tcp(host: "::1", port: 7600, tls: true))
        #expect(LinkAddress("/dev/ttyACM0") == .serial(path: "/dev/ttyACM0"))
        #expect(LinkAddress("tls://host") == nil)
        #expect(LinkAddress("tcp://host:99999") == nil)
        #expect(LinkAddress("unix:") == nil)
    }
}
