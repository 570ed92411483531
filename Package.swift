// swift-tools-version:6.1
import PackageDescription

// Layering (each layer only knows the ones above it):
//   ESPIDFHost  – the Linux emulation of the ESP-IDF esp_now/esp_wifi API (firmware-bridge/host/idf).
//   BridgeCore  – the firmware's portable C core (firmware-bridge/components/bridge_core),
//                 built here against ESPIDFHost so Swift tests and the simulated dongle run
//                 the same C files as the chip.
//   SimAir      – the coordinator of the simulated air: medium, dongle processes, nodes (firmware-bridge/host/air).
//   espnow-sim  – a simulated dongle: the core on a pseudo-terminal (firmware-bridge/host/app).
//   ESPNowWire  – pure Swift wire codec (COBS, CRC-32, frames, message layouts); no I/O.
//   ESPNowSerial    – termios serial link + SwiftNIO frame codec handlers.
//   ESPNowDevice    – the device client: one async call per protocol command, events, recovery.
//   ESPNow          – the MicroPython-compatible ESPNow / WLAN API users import.
//   ESPNowSimulator – starts espnow-sim dongles (or hands out $ESPNOW_PORTS) for tests.
let strictC: [CSetting] = [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]

let package = Package(
    name: "espnow-bridge",
    products: [
        .library(name: "ESPNowWire", targets: ["ESPNowWire"]),
        .library(name: "ESPNow", targets: ["ESPNow", "ESPNowDevice", "ESPNowSerial"]),
        .library(name: "ESPNowSimulator", targets: ["ESPNowSimulator"]),
        .library(name: "ESPNowDiscovery", targets: ["ESPNowDiscovery"]),
        .library(name: "ESPNowAutoConnect", targets: ["ESPNowAutoConnect"]),
        .library(name: "ESPNowTesting", targets: ["ESPNowTesting"]),
        .library(name: "ESPNowBroker", targets: ["ESPNowBroker"]),
        .executable(name: "espnow-sim", targets: ["espnow-sim"]),
        .executable(name: "codec-bench", targets: ["codec-bench"]),
        .executable(name: "host-bench", targets: ["host-bench"]),
        .executable(name: "wire-demo", targets: ["wire-demo"]),
        .executable(name: "espnow", targets: ["espnow"]),
        .library(name: "ESPNowGateway", targets: ["ESPNowGateway"]),
        .library(name: "ESPNowGatewayHTTP", targets: ["ESPNowGatewayHTTP"]),
        .executable(name: "gateway-bench", targets: ["gateway-bench"]),
        .executable(name: "soak", targets: ["soak"]),
        .executable(name: "broker-bench", targets: ["broker-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // Without its default traits Hummingbird does not pull swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .target(
            name: "ESPIDFHost",
            path: "firmware-bridge/host/idf",
            sources: ["src"],
            publicHeadersPath: "include",
            cSettings: strictC
        ),
        .target(
            name: "BridgeCore",
            dependencies: ["ESPIDFHost"],
            path: "firmware-bridge/components/bridge_core",
            exclude: ["CMakeLists.txt"],
            sources: ["src"],
            publicHeadersPath: "include",
            cSettings: strictC
        ),
        .target(
            name: "SimAir",
            dependencies: ["ESPIDFHost"],
            path: "firmware-bridge/host/air",
            publicHeadersPath: "include",
            cSettings: strictC
        ),
        .executableTarget(
            name: "espnow-sim",
            dependencies: ["BridgeCore", "ESPIDFHost", "SimAir"],
            path: "firmware-bridge/host/app",
            cSettings: strictC
        ),
        .target(name: "ESPNowWire", path: "Sources/ESPNowWire"),
        .executableTarget(
            name: "codec-bench",
            dependencies: ["ESPNowWire", "BridgeCore"],
            path: "Benchmarks/CodecBench"
        ),
        .executableTarget(
            name: "wire-demo",
            dependencies: ["ESPNowWire", "BridgeCore"],
            path: "Benchmarks/WireDemo"
        ),
        .testTarget(
            name: "ESPNowWireTests",
            dependencies: ["ESPNowWire", "ProtocolVectors"],
            path: "Tests/ESPNowWireTests"
        ),
        .testTarget(
            name: "SimulatorTests",
            dependencies: ["ESPNowWire"],
            path: "Tests/SimulatorTests"
        ),
        .testTarget(
            name: "BridgeCoreTests",
            dependencies: ["BridgeCore", "ESPNowWire", "ProtocolVectors"],
            path: "Tests/BridgeCoreTests"
        ),
        .target(
            name: "ESPNowSerial",
            dependencies: [
                "ESPNowWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/ESPNowSerial"
        ),
        .target(
            name: "ESPNowDevice",
            dependencies: [
                "ESPNowWire", "ESPNowSerial",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/ESPNowDevice"
        ),
        .target(
            name: "ESPNow",
            dependencies: [
                "ESPNowWire", "ESPNowDevice",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Sources/ESPNow"
        ),
        .target(
            name: "ESPNowSimulator",
            dependencies: ["ESPNowWire", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            path: "Sources/ESPNowSimulator"
        ),
        .testTarget(
            name: "ESPNowHostTests",
            dependencies: [
                "ESPNow", "ESPNowDevice", "ESPNowSerial", "ESPNowSimulator", "ESPNowWire", "BuiltProducts",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/ESPNowHostTests"
        ),
        // Discovery and hotplug through libudev (issue #6). The tests drive real libudev
        // against umockdev testbeds (libumockdev is loaded at run time, see the tests' README).
        .systemLibrary(
            name: "CUdev",
            path: "Sources/CUdev",
            pkgConfig: "libudev",
            providers: [.apt(["libudev-dev"])]
        ),
        .target(
            name: "ESPNowDiscovery",
            dependencies: ["CUdev", "ESPNowWire", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            path: "Sources/ESPNowDiscovery"
        ),
        // `auto` and reconnections that follow the physical dongle: the device client's
        // reconnect hook fed by a udev DongleTracker (ESPNowDevice itself knows no udev).
        .target(
            name: "ESPNowAutoConnect",
            dependencies: ["ESPNowDevice", "ESPNowDiscovery"],
            path: "Sources/ESPNowAutoConnect"
        ),
        .testTarget(
            name: "ESPNowDiscoveryTests",
            dependencies: ["ESPNowDiscovery", "ESPNowWire", "ESPNowAutoConnect", "ESPNowDevice", "ESPNowBroker", "ESPNowGateway"],
            path: "Tests/ESPNowDiscoveryTests"
        ),
        // Sharing a dongle (docs/PROTOCOL.md "Multiplexing"): a broker that owns the dongle
        // and serves the bridge protocol to clients over Unix sockets and (TLS) TCP.
        .target(
            name: "ESPNowBroker",
            dependencies: [
                "ESPNowWire", "ESPNowSerial", "ESPNowDevice",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/ESPNowBroker"
        ),
        .testTarget(
            name: "BrokerTests",
            dependencies: [
                "ESPNowBroker", "ESPNow", "ESPNowDevice", "ESPNowSerial", "ESPNowSimulator", "ESPNowWire", "BuiltProducts",
                "ProtocolVectors",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/BrokerTests",
            exclude: ["certs"]
        ),
        // The `espnow` command-line tool (issue #6, docs/CLI.md) and its tests, which run the
        // built binary against simulated dongles.
        .executableTarget(
            name: "espnow",
            dependencies: [
                "ESPNowDevice", "ESPNowSerial", "ESPNowWire", "ESPNowDiscovery", "ESPNowBroker", "ESPNowTesting",
                "ESPNowGateway", "ESPNowGatewayHTTP", "ESPNowSimulator",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            path: "Sources/ESPNowCLI"
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["BuiltProducts"],
            path: "Tests/CLITests"
        ),
        // The hardware-in-the-loop kit (docs/HIL.md): a Testbed of dongles and devices under
        // test with expectations and faults, and the YAML scenario runner behind `espnow test`.
        .target(
            name: "ESPNowTesting",
            dependencies: [
                "ESPNow", "ESPNowDevice", "ESPNowSimulator", "ESPNowWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/ESPNowTesting"
        ),
        .testTarget(
            name: "ESPNowTestingTests",
            dependencies: ["ESPNowTesting", "ESPNowSimulator", "ESPNowWire", "BuiltProducts"],
            path: "Tests/ESPNowTestingTests"
        ),
        // The Swift half of examples/hil (the sensor suite of sensor.yaml with ESPNowTesting).
        .testTarget(
            name: "HILExampleTests",
            dependencies: ["ESPNowTesting", "ESPNowWire"],
            path: "examples/hil/swift"
        ),
        // Host library figures against simulated dongles (`make bench-host`; prints, never fails).
        .executableTarget(
            name: "host-bench",
            dependencies: [
                "ESPNow", "ESPNowDevice", "ESPNowSimulator",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/HostBench"
        ),
        // The sensor gateway: dongles -> decoders -> SQLite or PostgreSQL (docs/GATEWAY.md).
        .target(
            name: "ESPNowGateway",
            dependencies: [
                "ESPNowDevice", "ESPNowWire", "ESPNowSimulator", "ESPNowBroker",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/ESPNowGateway"
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "GatewayTestSupport", "ESPNowGateway", "ESPNowDevice", "ESPNowSimulator", "ESPNowWire",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/GatewayTests"
        ),
        // The shared protocol vectors' file model (Tests/Fixtures/protocol-vectors.json).
        .target(name: "ProtocolVectors", dependencies: ["ESPNowWire"], path: "Tests/ProtocolVectors"),
        // Where the tests find the built executables (espnow, espnow-sim, ...).
        .target(name: "BuiltProducts", path: "Tests/BuiltProducts"),
        // The tests' PostgreSQL and store back-ends, shared by both gateway test targets.
        .target(
            name: "GatewayTestSupport",
            dependencies: [
                "ESPNowGateway",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/GatewayTestSupport"
        ),
        // The gateway on the web: REST API, OpenAPI document, SSE/WebSocket stream, dashboard
        // files (Resources/, written without a build step) — docs/GATEWAY.md "HTTP API".
        .target(
            name: "ESPNowGatewayHTTP",
            dependencies: [
                "ESPNowGateway", "ESPNowWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/ESPNowGatewayHTTP",
            resources: [.copy("Resources"), .copy("API")]
        ),
        .testTarget(
            name: "GatewayHTTPTests",
            dependencies: [
                "GatewayTestSupport", "BuiltProducts", "ESPNowGatewayHTTP", "ESPNowGateway", "ESPNowWire", "ESPNowSimulator",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/GatewayHTTPTests"
        ),
        // `make bench-gateway`: prints readings/s, latency, memory; never fails.
        .executableTarget(
            name: "gateway-bench",
            dependencies: [
                "ESPNowGateway", "ESPNowSimulator", "ESPNowWire",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/GatewayBench",
            exclude: ["sse_clients.py"]
        ),
        // The soak (`make soak`): mixed traffic, serial bit errors, reboots and unplugs, with
        // independent books; its short fixed-seed version runs in the Swift suite.
        .target(
            name: "SoakKit",
            dependencies: [
                "ESPNowDevice", "ESPNowSimulator", "ESPNowWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Benchmarks/SoakKit"
        ),
        .executableTarget(name: "soak", dependencies: ["SoakKit"], path: "Benchmarks/Soak"),
        // `make bench-broker`: latency a broker adds, and fan-out to eight listeners (prints).
        .executableTarget(
            name: "broker-bench",
            dependencies: [
                "ESPNowBroker", "ESPNowDevice", "ESPNowSimulator", "ESPNowWire",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/BrokerBench"
        ),
        .testTarget(name: "SoakTests", dependencies: ["SoakKit"], path: "Tests/SoakTests"),
    ],
    swiftLanguageModes: [.v6]
)
