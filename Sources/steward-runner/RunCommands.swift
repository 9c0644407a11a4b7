import ArgumentParser
import StewardDocuments
import StewardKit
import StewardRunner

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The standalone runner, as `steward-runner` and through `steward-agent run|resume|validate` (which hand over to it, so
/// that the long-running agent does not load the YAML parser and Foundation).
@main
struct RunnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steward-runner",
        abstract: "Run AWSTOE component documents on this host, surviving crashes and reboots (also `steward-agent run`).",
        subcommands: [RunDocuments.self, ResumeRun.self, ValidateDocuments.self, PlanDocument.self])
}

/// A one-line error without the usage text.
struct AgentFailure: Error, CustomStringConvertible {
    let description: String
}

/// `steward-agent run`: runs AWSTOE component documents on this host, like `awstoe run`, and survives reboots.
struct RunDocuments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run AWSTOE component documents on this host; the run survives crashes and reboots.",
        discussion: """
            Phases run in document order, documents in the order given. The journal in --state-dir records every step \
            before and after it runs; after a crash, `steward-agent resume --state-dir DIR` continues the run. A step \
            that exits 194, or the Reboot action, installs a start-up hook, reboots with --reboot-command, and the hook \
            resumes the run at boot. Exit status: 0 success, 1 failed, 194 rebooting.
            """)

    @Option(name: [.customShort("d"), .long], help: "Component documents, comma-separated (local paths).") var documents: String
    @Option(name: [.customShort("p"), .long], help: "Phases to run, comma-separated (default: all).") var phases: String?
    @Option(help: "Parameter values: name=value,name=value.") var parameters: String?
    @Option(help: "Parameter values as a JSON object of strings; any value, commas included. Merged over --parameters.")
    var parametersJson: String?
    @Option(name: [.customShort("i"), .long], help: "The run's execution id (default: a new UUID).") var executionId: String?
    @Option(name: [.customShort("s"), .customLong("state-dir")], help: "Where the run's journal lives.")
    var stateDir: String = "/var/lib/steward/runner"
    @Option(name: [.customShort("l"), .long], help: "Where the run's log folder is created.") var logDirectory: String = "."
    @Option(help: "The command that reboots this machine (run with /bin/sh -c).") var rebootCommand: String?
    @Option(help: "The most reboots one run may ask for.") var maxReboots: Int = 10
    @Option(help: "How the run is started at boot: auto, systemd, crontab, rc-local, none or script:PATH.")
    var startupHook: String = "auto"
    @Flag(help: "Do not echo step output to the terminal (it still goes to console.log).") var quiet = false

    func run() async throws {
        do {
            let sources = try documents.split(separator: ",").map { try ComponentLoader.load(absolute(String($0))) }
            guard !sources.isEmpty else { throw RunnerError("--documents names no document") }
            let stateDirectory = absolute(stateDir)
            var options = ComponentRun.Options(
                logDirectory: absolute(logDirectory), stateDirectory: stateDirectory,
                rebootCommand: rebootCommand ?? ComponentRun.defaultRebootCommand, maxReboots: maxReboots, startupHook: startupHook,
                resumeCommand: resumeCommand(stateDirectory), echo: !quiet)
            options.phases = phases.map { $0.split(separator: ",").map { String($0).trimmingSpaces } }
            if let wanted = options.phases,
                let bad = wanted.first(where: { !["build", "validate", "test", "container-host-test"].contains($0) })
            {
                throw RunnerError("--phases: \(bad) is not a phase (build, validate, test)")
            }
            options.parameters = try parseParameters(parameters)
            if let parametersJson {
                guard let given = try? JSONDecoder().decode([String: String].self, from: Data(parametersJson.utf8)) else {
                    throw RunnerError("--parameters-json must be a JSON object of strings, as in {\"name\": \"a, b\"}")
                }
                options.parameters.merge(given) { _, new in new }
            }
            options.executionId = executionId
            let exit = try await ComponentRun(load: ComponentLoader.load).start(sources, options: options)
            throw ExitCode(exit.rawValue)
        } catch let error as RunnerError {
            throw AgentFailure(description: error.description)
        }
    }
}

/// `steward-agent resume`: what the start-up hook runs; also continues a run after a crash.
struct ResumeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Continue the run journaled in a state folder (after a reboot or a crash).")

    @Option(name: [.customShort("s"), .customLong("state-dir")], help: "The state folder of the run.")
    var stateDir: String = "/var/lib/steward/runner"

    func run() async throws {
        do {
            let exit = try await ComponentRun(load: ComponentLoader.load).resume(stateDirectory: absolute(stateDir))
            throw ExitCode(exit.rawValue)
        } catch let error as RunnerError {
            throw AgentFailure(description: error.description)
        }
    }
}

/// `steward-agent validate`: checks component documents without running them.
struct ValidateDocuments: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check AWSTOE component documents.")

    @Option(name: [.customShort("d"), .long], help: "Component documents, comma-separated.") var documents: String

    func run() throws {
        var failed = false
        for path in documents.split(separator: ",").map(String.init) {
            do {
                let source = try ComponentLoader.load(absolute(path))
                let steps = source.document.phases.reduce(0) { $0 + $1.steps.count }
                print("\(path): valid (\(source.document.phases.map(\.name).joined(separator: ", ")); \(steps) steps)")
            } catch {
                let line = Array("\(error)\n".utf8)
                _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }
}

func absolute(_ path: String) -> String {
    path.hasPrefix("/")
        ? path : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL.path
}

func parseParameters(_ text: String?) throws -> [String: String] {
    guard let text, !text.isEmpty else { return [:] }
    var out: [String: String] = [:]
    for pair in text.split(separator: ",") {
        guard let eq = pair.firstIndex(of: "=") else { throw RunnerError("--parameters: \(pair) is not name=value") }
        let name = String(pair[..<eq]).trimmingSpaces
        let value = String(pair[pair.index(after: eq)...])
        guard !name.isEmpty else { throw RunnerError("--parameters: \(pair) has no name") }
        guard !value.isEmpty else { throw RunnerError("--parameters: \(name) is given without a value") }
        out[name] = value
    }
    return out
}

/// The command line that resumes a run in this state folder: this very executable, or `STEWARD_RUNNER_COMMAND` when
/// the runner was started through something else (a bundled dynamic loader in an image build's instance).
func resumeCommand(_ stateDirectory: String) -> String {
    if let given = ProcessInfo.processInfo.environment["STEWARD_RUNNER_COMMAND"], !given.isEmpty {
        return "\(given) resume --state-dir \(shellQuote(stateDirectory))"
    }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return "\(shellQuote(exe)) resume --state-dir \(shellQuote(stateDirectory))"
}

func shellQuote(_ s: String) -> String {
    s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-".contains($0) }) ? s : "'" + s.replacing("'", with: "'\\''") + "'"
}
