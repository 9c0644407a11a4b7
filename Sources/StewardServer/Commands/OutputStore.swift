import Foundation
import StewardKit

/// Full command output, kept as files in the data folder: `outputs/<command>/<instance>/<plugin>/stdout|stderr`.
struct OutputStore: Sendable {
    let root: String

    static func pluginFolder(_ name: String) -> String {
        String(name.map { $0 == ":" ? "_" : ($0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_") })
    }

    func folder(commandId: String, instanceId: String, plugin: String) -> String {
        "\(root)/\(commandId)/\(instanceId)/\(Self.pluginFolder(plugin))"
    }

    /// Writes every plugin's full output; called before the result is acknowledged to the agent.
    func save(_ result: InvocationResult) throws {
        for plugin in result.plugins where !plugin.stdout.isEmpty || !plugin.stderr.isEmpty {
            let dir = folder(commandId: result.commandId, instanceId: result.instanceId, plugin: plugin.name)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            // An empty stream has no file; reading it gives empty text.
            if !plugin.stdout.isEmpty { try Data(plugin.stdout.utf8).write(to: URL(fileURLWithPath: "\(dir)/stdout")) }
            if !plugin.stderr.isEmpty { try Data(plugin.stderr.utf8).write(to: URL(fileURLWithPath: "\(dir)/stderr")) }
        }
    }

    /// Reads one stream; the path parts come from a URL, so they are checked before use.
    func read(commandId: String, instanceId: String, plugin: String, stream: String) -> Data? {
        for part in [commandId, instanceId, plugin] where part.isEmpty || part.contains("/") || part.hasPrefix(".") {
            return nil
        }
        guard stream == "stdout" || stream == "stderr" else { return nil }
        let dir = "\(root)/\(commandId)/\(instanceId)/\(Self.pluginFolder(plugin))"
        if let data = FileManager.default.contents(atPath: "\(dir)/\(stream)") { return data }
        return FileManager.default.fileExists(atPath: dir) ? Data() : nil
    }

    func url(base: String, commandId: String, instanceId: String, plugin: String, stream: String) -> String {
        "\(base)/outputs/\(commandId)/\(instanceId)/\(Self.pluginFolder(plugin))/\(stream)"
    }
}
