import ArgumentParser
import ESPNowBroker
import ESPNowDevice
import ESPNowSerial
import Foundation
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Share a dongle: serve it to other programs and machines until Ctrl-C.",
        discussion: """
            Owns the dongle and serves the bridge protocol (docs/PROTOCOL.md, "Multiplexing") on a
            Unix socket, $XDG_RUNTIME_DIR/espnow/SERIAL.sock (or /run/espnow/SERIAL.sock), mode
            0660. Other commands use it with --port unix:PATH (and --port auto finds it). With
            --tcp it also listens on TCP: TLS with --tls-cert/--tls-key and a client token
            (--token-file; clients set ESPNOW_TOKEN or ESPNOW_TOKEN_FILE) or client certificates
            (--client-ca; clients set ESPNOW_TLS_CERT and ESPNOW_TLS_KEY); plaintext only with
            --insecure on a loopback address. Clients connect with --port tls://HOST:PORT
            (ESPNOW_TLS_CA names the CA that signed the broker's certificate).
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("The Unix socket (default: named after the dongle's USB serial number).", valueName: "PATH"))
    var socket: String?

    @Flag(help: "Serve no Unix socket (TCP only).")
    var noSocket = false

    @Option(help: ArgumentHelp("Also listen on TCP.", valueName: "HOST:PORT"))
    var tcp: String?

    @Option(help: ArgumentHelp("Server certificate chain (PEM) for TLS.", valueName: "FILE"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("Server private key (PEM) for TLS.", valueName: "FILE"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("Require client certificates signed by this CA (mutual TLS).", valueName: "FILE"))
    var clientCa: String?

    @Option(help: ArgumentHelp("Clients must present the token in FILE (its first line).", valueName: "FILE"))
    var tokenFile: String?

    @Flag(help: "Allow plaintext TCP (loopback addresses only).")
    var insecure = false

    @Flag(help: "Let clients reset the dongle, deinit ESP-NOW or change the channel while others are attached.")
    var allowAdmin = false

    @Option(help: "Connection limit.")
    var maxClients = 32

    @Option(help: ArgumentHelp("Events queued towards one client before they are dropped (and reported) for it.", valueName: "N"))
    var clientQueue = 4096

    func validate() throws {
        if tcp == nil && noSocket { throw ValidationError("nothing to serve on: --no-socket needs --tcp") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tcp != nil && tlsCert == nil && !insecure {
            throw ValidationError("--tcp needs TLS (--tls-cert, --tls-key) or --insecure (loopback only)")
        }
        guard maxClients > 0, clientQueue >= 2 else { throw ValidationError("--max-clients and --client-queue must be positive") }
    }

    func run() async throws {
        guard !connection.port.hasPrefix("unix:"), !connection.port.contains("://") else {
            throw CLIError(.usage, "--port must be the dongle itself (a serial port, auto or sim), not a broker")
        }
        let (resolved, air) = try await Session.resolve(connection)
        var c = BrokerConfiguration(devicePath: resolved.path)
        if let b = connection.baud { c.device.serial.baudRate = b }
        c.socketPath = noSocket ? nil : socket
        c.defaultSocket = !noSocket && socket == nil
        c.socketName = resolved.dongle?.serialNumber
        c.insecure = insecure
        c.allowAdmin = allowAdmin
        c.maxClients = maxClients
        c.clientQueueLimit = clientQueue
        if let t = tcp {
            guard let colon = t.lastIndex(of: ":"), let port = Int(t[t.index(after: colon)...]), (0...65535).contains(port) else {
                throw CLIError(.usage, "--tcp wants HOST:PORT, e.g. 0.0.0.0:7600 or 127.0.0.1:7600")
            }
            c.tcpHost = String(t[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            c.tcpPort = port
        }
        if let cert = tlsCert, let key = tlsKey {
            c.tls = .init(certificateFile: cert, keyFile: key, clientCAFile: clientCa)
        }
        if let f = tokenFile {
            guard let text = try? String(contentsOfFile: f, encoding: .utf8),
                  let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !line.isEmpty else {
                throw CLIError(.io, "cannot read a token from \(f) (its first line is the token)")
            }
            c.token = Array(line.utf8)
        }
        var logger = Logger(label: "espnow.serve")
        logger.logLevel = connection.verbose ? .debug : .notice
        let broker: Broker
        do {
            broker = try await Broker.start(c, logger: logger)
        } catch let e as BrokerError {
            await air?.stop()
            throw CLIError(.device, e.description)
        } catch {
            await air?.stop()
            throw CLIError.from(error, port: resolved.path)
        }
        let tcpAddr = broker.tcpAddress.map { a -> String in
            let scheme = c.tls == nil ? "tcp" : "tls"
            return "\(scheme)://\(c.tcpHost ?? "?"):\(a.port ?? c.tcpPort)"
        }
        if connection.json {
            var o: [(String, JSON)] = [("event", .string("serving")), ("port", .string(resolved.path))]
            if let s = broker.socketPath { o.append(("socket", .string("unix:\(s)"))) }
            if let t = tcpAddr { o.append(("tcp", .string(t))) }
            Out.json(.object(o))
        } else {
            let where_ = [broker.socketPath.map { "--port unix:\($0)" }, tcpAddr.map { "--port \($0)" }].compactMap { $0 }
            Out.err("serving \(resolved.path) (\(broker.device.info.staMAC)); clients: \(where_.joined(separator: " or "))")
        }
        try await Interrupt.loop {
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
        let k = broker.counters
        await broker.close()
        await air?.stop()
        if connection.json {
            Out.json(.object([("event", .string("stopped")), ("clients", JSON.int(k.clientsAccepted)),
                           ("dropped_for_clients", JSON.int(k.droppedForClients)), ("refused", JSON.int(k.refused))]))
        } else {
            Out.err("stopped: \(k.clientsAccepted) clients served, \(k.droppedForClients) events dropped for slow clients, "
                    + "\(k.refused) calls refused, \(k.clientLink.dropped) bad client frames")
        }
    }
}
