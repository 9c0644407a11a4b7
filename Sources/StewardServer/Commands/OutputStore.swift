import Foundation
import StewardKit
import StewardStore

/// Full command output. What fits the API limits lives in the invocation's row; longer output is kept
/// whole as files in the data folder: `outputs/<command>/<instance>/<plugin>/stdout|stderr`.
struct OutputStore: Sendable {
    let root: String
    let store: Store

    static func pluginFolder(_ name: String) -> String {
        String(name.map { $0 == ":" ? "_" : ($0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_") })
    }

    func folder(commandId: String, instanceId: String, plugin: String) -> String {
        "\(root)/\(commandId)/\(instanceId)/\(Self.pluginFolder(plugin))"
    }

    /// Writes the full output of every plugin whose output the API fields cut; called before the
    /// result is acknowledged to the agent.
    func save(_ result: InvocationResult) throws {
        for plugin in result.plugins where plugin.stdout.count > 24_000 || plugin.stderr.count > 8_000 {
            let dir = folder(commandId: result.commandId, instanceId: result.instanceId, plugin: plugin.name)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data(plugin.stdout.utf8).write(to: URL(fileURLWithPath: "\(dir)/stdout"))
            try Data(plugin.stderr.utf8).write(to: URL(fileURLWithPath: "\(dir)/stderr"))
        }
    }

    /// Reads one stream: from its file if the output was long, else from the invocation's row.
    /// The path parts come from a URL, so they are checked before use.
    func read(region: String, commandId: String, instanceId: String, plugin: String, stream: String) async throws -> Data? {
        for part in [commandId, instanceId, plugin] where part.isEmpty || part.contains("/") || part.hasPrefix(".") {
            return nil
        }
        guard stream == "stdout" || stream == "stderr" else { return nil }
        guard let invocation = try await store.invocation(commandId: commandId, instanceId: instanceId), invocation.region == region,
            let p = invocation.plugins.first(where: { Self.pluginFolder($0.name) == plugin })
        else { return nil }
        if let data = FileManager.default.contents(
            atPath: "\(folder(commandId: commandId, instanceId: instanceId, plugin: p.name))/\(stream)")
        {
            return data
        }
        return Data((stream == "stdout" ? p.stdout : p.stderr).utf8)
    }

    func url(base: String, commandId: String, instanceId: String, plugin: String, stream: String) -> String {
        "\(base)/outputs/\(commandId)/\(instanceId)/\(Self.pluginFolder(plugin))/\(stream)"
    }
}
