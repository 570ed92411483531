import Foundation

/// The executables `swift build` put next to the running test bundle (products share one
/// build directory; the bundle may sit a few folders below it).
public enum BuiltProducts {
    /// The build directory that holds `espnow` (the test bundle's own folder when none does).
    public static let directory: URL = {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: me).deletingLastPathComponent()
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("espnow").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: me).deletingLastPathComponent()
    }()

    /// The path of product `name` in ``directory``.
    public static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}
