// swift-tools-version:6.0
import PackageDescription

// Layering (each layer only knows the ones above it):
//   ESPIDFHost  – the Linux emulation of the ESP-IDF esp_now/esp_wifi API (firmware-bridge/host/idf).
//   BridgeCore  – the firmware's portable C core (firmware-bridge/components/bridge_core),
//                 built here against ESPIDFHost so Swift tests and the simulated dongle run
//                 the same C files as the chip.
//   espnow-sim  – a simulated dongle: the core on a pseudo-terminal (firmware-bridge/host/app).
//   ESPNowWire  – pure Swift wire codec (COBS, CRC-32, frames, message layouts); no I/O.
let strictC: [CSetting] = [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]

let package = Package(
    name: "espnow-bridge",
    products: [
        .library(name: "ESPNowWire", targets: ["ESPNowWire"]),
        .executable(name: "espnow-sim", targets: ["espnow-sim"]),
        .executable(name: "codec-bench", targets: ["codec-bench"]),
        .executable(name: "wire-demo", targets: ["wire-demo"]),
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
        .executableTarget(
            name: "espnow-sim",
            dependencies: ["BridgeCore", "ESPIDFHost"],
            path: "firmware-bridge/host/app",
            cSettings: strictC
        ),
        .target(name: "ESPNowWire", path: "Sources/ESPNowWire"),
        .executableTarget(
            name: "codec-bench",
            dependencies: ["ESPNowWire", "BridgeCore"],
            path: "Sources/CodecBench"
        ),
        .executableTarget(
            name: "wire-demo",
            dependencies: ["ESPNowWire", "BridgeCore"],
            path: "Sources/WireDemo"
        ),
        .testTarget(
            name: "ESPNowWireTests",
            dependencies: ["ESPNowWire"],
            path: "Tests/ESPNowWireTests"
        ),
        .testTarget(
            name: "SimulatorTests",
            dependencies: ["ESPNowWire"],
            path: "Tests/SimulatorTests"
        ),
        .testTarget(
            name: "BridgeCoreTests",
            dependencies: ["BridgeCore", "ESPNowWire"],
            path: "Tests/BridgeCoreTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
