// swift-tools-version:6.0
import PackageDescription

// Layering (each layer only knows the ones above it):
//   BridgeCore  – the firmware's portable C core (firmware-bridge/components/bridge_core),
//                 built here so Swift tests and the simulated dongle use the same C files as the chip.
//   ESPNowWire  – pure Swift wire codec (COBS, CRC-32, frames, message layouts); no I/O.
let strictC: [CSetting] = [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]

let package = Package(
    name: "espnow-bridge",
    products: [
        .library(name: "ESPNowWire", targets: ["ESPNowWire"]),
        .executable(name: "codec-bench", targets: ["codec-bench"]),
        .executable(name: "wire-demo", targets: ["wire-demo"]),
    ],
    targets: [
        .target(
            name: "BridgeCore",
            path: "firmware-bridge/components/bridge_core",
            exclude: ["CMakeLists.txt"],
            sources: ["src"],
            publicHeadersPath: "include",
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
            name: "BridgeCoreTests",
            dependencies: ["BridgeCore", "ESPNowWire"],
            path: "Tests/BridgeCoreTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
