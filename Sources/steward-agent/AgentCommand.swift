import ArgumentParser
import Dispatch
import Logging
import StewardAgent
import StewardRunner

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steward-agent",
        abstract: "The Steward agent: keeps a channel to the control plane and runs what it is sent.",
        version: NodeFacts.agentVersion,
        subcommands: [
            Register.self, Start.self, RotateKeys.self, Swarm.self, RunnerHandOver.Run.self, RunnerHandOver.Resume.self,
            RunnerHandOver.Validate.self,
        ])
}

struct LogOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

struct Register: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Register this node with an activation (once per state folder).")

    @Option(help: "The control plane, for example http://127.0.0.1:8440.") var server: String
    @Option(help: "The activation id from CreateActivation.") var activationId: String
    @Option(help: "The activation code from CreateActivation.") var activationCode: String
    @Option(help: "The agent's state folder (keys, journal, outbox).") var stateDir: String
    @OptionGroup var log: LogOptions

    func run() async throws {
        do {
            let identity = try await Registration.register(
                server: server, activationId: activationId, activationCode: activationCode, stateDir: stateDir,
                logger: log.logger("steward-agent"))
            print(identity.instanceId)
        } catch {
            throw AgentFailure(description: "\(error)")
        }
    }
}

/// A one-line error without the usage text.
struct AgentFailure: Error, CustomStringConvertible {
    let description: String
}

struct RotateKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-keys",
        abstract: "Replace this agent's key pairs; the server revokes the old ones. A running agent picks the new keys up on its own.")

    @Option(help: "The agent's state folder.") var stateDir: String
    @OptionGroup var log: LogOptions

    func run() async throws {
        do {
            try await KeyRotation.rotate(stateDir: stateDir, logger: log.logger("steward-agent"))
            print("rotated the keys of \(stateDir)")
        } catch {
            throw AgentFailure(description: "\(error)")
        }
    }
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent until SIGTERM or SIGINT.")

    @Option(help: "The agent's state folder.") var stateDir: String
    @Option(help: "How many invocations may run at once.") var maxConcurrent: Int = 8
    @Option(help: "The command that reboots this machine when a command exits 194 (run with /bin/sh -c).")
    var rebootCommand: String = ComponentRun.defaultRebootCommand
    @Option(help: "The most reboots one command may ask for.") var maxReboots: Int = 10
    @Option(help: "Where custom inventory files (*.json) are read from.") var customInventoryDir = "/var/lib/steward/inventory/custom"
    @Option(help: "Gather and upload inventory this often on its own, in seconds or with s, m or h (off when not given).")
    var inventoryInterval: String?
    @Flag(
        help:
            "Accept direct tasks from operators with a grant: on a Unix socket in the state folder, and over TCP on 127.0.0.1:8445 unless --direct-listen says otherwise."
    )
    var direct = false
    @Option(help: "Accept direct tasks over TCP on HOST:PORT (implies --direct; port 0 picks one).") var directListen: String?
    @Option(help: "The Unix socket for direct tasks (implies --direct; default: STATE_DIR/direct.sock).") var directSocket: String?
    @OptionGroup var log: LogOptions

    func run() async throws {
        let runtime: AgentRuntime
        guard maxReboots >= 0 else { throw AgentFailure(description: "--max-reboots must be 0 or more") }
        do {
            // After the reboot command, the agent stops with status 194; the machine's start-up starts it again.
            var options = AgentRuntime.Options(
                maxConcurrentRuns: maxConcurrent, rebootCommand: rebootCommand, maxReboots: maxReboots, onReboot: { Glibc.exit(194) })
            options.customInventoryDirectory = customInventoryDir
            if let inventoryInterval {
                let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600]
                let seconds =
                    Int(inventoryInterval)
                    ?? inventoryInterval.last.flatMap { u in units[u].flatMap { f in Int(inventoryInterval.dropLast()).map { $0 * f } } }
                guard let seconds, seconds > 0 else {
                    throw AgentFailure(description: "--inventory-interval is seconds, or a number with s, m or h")
                }
                options.inventoryInterval = .seconds(seconds)
            }
            if direct || directListen != nil || directSocket != nil {
                options.direct.socketPath = directSocket ?? "\(stateDir)/direct.sock"
                options.direct.tcp = try DirectEndpoints.parseAddress(directListen ?? "127.0.0.1:8445")
            }
            runtime = try AgentRuntime(stateDir: stateDir, options: options, logger: log.logger("steward-agent"))
        } catch {
            throw AgentFailure(description: "\(error)")
        }
        let task = Task { await runtime.run() }
        let signals = SignalWatcher { task.cancel() }
        await task.value
        _ = signals
    }
}

struct Swarm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run many agent identities in one process, each with its own keys and channel (for load tests).")

    @Option(help: "The control plane URL.") var server: String
    @Option(help: "Activation id with enough registrations left.") var activationId: String
    @Option(help: "Activation code.") var activationCode: String
    @Option(help: "How many identities.") var count: Int
    @Option(help: "Folder holding one state folder per identity.") var stateDir: String
    @Option(help: "How many invocations may run at once over the whole swarm.") var maxConcurrent: Int = 16
    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = log.logger("steward-swarm")
        let runtimes = try await SwarmRunner.prepare(
            server: server, activationId: activationId, activationCode: activationCode, count: count, stateDir: stateDir,
            maxConcurrent: maxConcurrent, logger: logger)
        print("swarm: \(runtimes.count) identities ready")
        let task = Task { await SwarmRunner.run(runtimes) }
        let signals = SignalWatcher { task.cancel() }
        await task.value
        _ = signals
    }
}

/// Calls `onSignal` on SIGTERM or SIGINT.
final class SignalWatcher {
    let sources: [any DispatchSourceSignal]

    init(onSignal: @escaping @Sendable () -> Void) {
        sources = [SIGTERM, SIGINT].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: onSignal)
            source.resume()
            return source
        }
    }
}

/// `run`, `resume` and `validate` belong to `steward-runner`, installed next to this executable: the agent hands the
/// command line over to it, so the long-running agent never loads the YAML parser.
enum RunnerHandOver {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run AWSTOE component documents on this host, surviving crashes and reboots (see steward-runner run --help).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() throws { try RunnerHandOver.exec("run", arguments) }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Continue a journaled run (see steward-runner resume --help).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() throws { try RunnerHandOver.exec("resume", arguments) }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check AWSTOE component documents (see steward-runner validate --help).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() throws { try RunnerHandOver.exec("validate", arguments) }
    }

    static func exec(_ subcommand: String, _ arguments: [String]) throws {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let me = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        let runner = String(me[..<(me.lastIndex(of: "/") ?? me.startIndex)]) + "/steward-runner"
        let argv = [runner, subcommand] + arguments
        var cArgs = argv.map { strdup($0) } + [nil]
        execv(runner, &cArgs)
        throw AgentFailure(description: "cannot start \(runner): \(String(cString: strerror(errno)))")
    }
}
