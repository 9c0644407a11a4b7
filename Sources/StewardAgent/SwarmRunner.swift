import Logging
import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Many agent identities in one process, each with its own keys, state folder and channel.
public enum SwarmRunner {
    public static func prepare(
        server: String, activationId: String, activationCode: String, count: Int, stateDir: String, maxConcurrent: Int,
        logger: Logger
    ) async throws -> [AgentRuntime] {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let slots = Slots(maxConcurrent)
        var runtimes: [AgentRuntime] = []
        let info = NodeFacts.current()
        for n in 0..<count {
            let dir = "\(stateDir)/agent-\(n)"
            let folder = try StateFolder(path: dir)
            if (try? folder.identity()) == nil {
                var mine = info
                mine.computerName = "\(info.computerName)-swarm-\(n)"
                _ = try await Registration.register(
                    server: server, activationId: activationId, activationCode: activationCode, stateDir: dir, info: mine, logger: quiet)
            }
            var mine = info
            mine.computerName = "\(info.computerName)-swarm-\(n)"
            runtimes.append(try AgentRuntime(stateDir: dir, info: mine, slots: slots, logger: quiet))
        }
        return runtimes
    }

    public static func run(_ runtimes: [AgentRuntime]) async {
        await withTaskGroup(of: Void.self) { group in
            for r in runtimes { group.addTask { await r.run() } }
        }
    }
}
