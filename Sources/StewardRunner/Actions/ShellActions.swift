import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program for an action: output streamed to the console and captured (masked), the whole
/// process group ended on timeout or cancellation.
enum Program {
    static func run(_ executable: String, _ arguments: [String], workingDirectory: String, context: ActionContext) async -> (
        ProcessOutcome?, stdout: String, stderr: String, error: String?
    ) {
        let console = context.console
        do {
            let outcome = try await ChildProcess.run(
                executable: executable, arguments: arguments, environment: context.environment, workingDirectory: workingDirectory,
                timeout: context.remaining, outputLimit: context.outputLimit, onStart: context.processStarted,
                onOutput: { console.write(String(decoding: $0, as: UTF8.self), standardError: $1) })
            var stdout = console.mask(String(decoding: outcome.stdout, as: UTF8.self))
            var stderr = console.mask(String(decoding: outcome.stderr, as: UTF8.self))
            if outcome.stdoutTruncated { stdout += "\n--output truncated--" }
            if outcome.stderrTruncated { stderr += "\n--output truncated--" }
            return (outcome, stdout, stderr, nil)
        } catch {
            return (nil, "", "\(error)\n", "\(error)")
        }
    }

    /// Writes a script into the run's folder and returns its path.
    static func writeScript(_ text: String, context: ActionContext, suffix: String) throws -> String {
        let name = "\(context.phase)-\(context.stepName)".map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
        let path = "\(context.workFolder)/\(String(name)).\(suffix)"
        try FileManager.default.createDirectory(atPath: context.workFolder, withIntermediateDirectories: true)
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func lines(_ value: JSONValue?) -> String? {
        switch value {
        case .array(let items)?: items.map(\.textValue).joined(separator: "\n")
        case .string(let s)?: s
        default: nil
        }
    }
}

/// `aws:runShellScript` of SSM Command documents. Exit 194 asks for a reboot and a second run of the step;
/// 168 counts as success, as the SSM agent has it.
public struct RunShellScript: StepAction {
    public init() {}

    public func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        guard let script = Program.lines(inputs["runCommand"]) else {
            return .failed("runCommand is missing or is not a list of strings.\n")
        }
        var workDir = inputs["workingDirectory"]?.textValue ?? ""
        if workDir.isEmpty {
            workDir = context.workingDirectory
        } else if !workDir.hasPrefix("/") {
            workDir = "\(context.workingDirectory)/\(workDir)"
        }
        guard FileSystem.kind(workDir) == .folder else { return .failed("Working directory \(workDir) does not exist.\n") }
        let path: String
        do { path = try Program.writeScript(script, context: context, suffix: "sh") } catch {
            return .failed("Could not write the script: \(error)\n")
        }
        let (outcome, stdout, stderrText, error) = await Program.run("/bin/sh", [path], workingDirectory: workDir, context: context)
        var stderr = stderrText
        guard let outcome else { return ActionResult(failure: error, exitCode: 1, stderr: stderr) }
        var code = Int(outcome.exitCode)
        if outcome.cancelled { return ActionResult(failure: "Cancelled", exitCode: code, stdout: stdout, stderr: stderr, cancelled: true) }
        if outcome.timedOut {
            stderr += "\nfailed to run commands: exit status \(code == 143 ? -1 : code)\nCommand execution timed out.\n"
            code = -1
            return ActionResult(failure: "Command execution timed out.", exitCode: code, stdout: stdout, stderr: stderr, timedOut: true)
        }
        switch code {
        case 0:
            return ActionResult(outputs: [:], exitCode: code, stdout: stdout, stderr: stderr)
        case 168:
            // "Already in the intended state": succeed and skip the remaining steps.
            var result = ActionResult(outputs: [:], exitCode: code, stdout: stdout, stderr: stderr)
            result.stopRun = true
            return result
        case 194:
            return ActionResult(exitCode: code, stdout: stdout, stderr: stderr, reboot: .repeatStep)
        default:
            stderr += stderr.isEmpty || stderr.hasSuffix("\n") ? "" : "\n"
            stderr += "failed to run commands: exit status \(code)"
            return ActionResult(failure: "failed to run commands: exit status \(code)", exitCode: code, stdout: stdout, stderr: stderr)
        }
    }
}

/// AWSTOE `ExecuteBash`: the commands are written to a file and run with bash; output `stdout`.
public struct ExecuteBash: StepAction {
    public init() {}

    public func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        guard let script = Program.lines(inputs["commands"]) else { return .failed("ExecuteBash needs commands, a list of strings.") }
        let path: String
        do { path = try Program.writeScript(script, context: context, suffix: "sh") } catch {
            return .failed("Could not write the script: \(error)")
        }
        let shell = FileSystem.findBinary("bash", path: context.environment["PATH"] ?? "/usr/bin:/bin") ?? "/bin/sh"
        let result = await Program.run(shell, [path], workingDirectory: context.workingDirectory, context: context)
        return ExecuteBinary.finish(result, rebootCode: 194)
    }
}

/// AWSTOE `ExecuteBinary`: `path` with `arguments`; output `stdout`. Exit 194 asks for a reboot.
public struct ExecuteBinary: StepAction {
    public init() {}

    public func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        guard let path = inputs["path"]?.stringValue, !path.isEmpty else { return .failed("ExecuteBinary needs path.") }
        let arguments = inputs["arguments"]?.arrayValue?.map(\.textValue) ?? []
        let executable =
            path.contains("/") ? path : FileSystem.findBinary(path, path: context.environment["PATH"] ?? "/usr/bin:/bin") ?? path
        let result = await Program.run(executable, arguments, workingDirectory: context.workingDirectory, context: context)
        return Self.finish(result, rebootCode: 194)
    }

    static func finish(
        _ r: (ProcessOutcome?, stdout: String, stderr: String, error: String?), rebootCode: Int32
    ) -> ActionResult {
        guard let outcome = r.0 else { return ActionResult(failure: r.error, exitCode: 1, stderr: r.stderr) }
        let code = Int(outcome.exitCode)
        var result = ActionResult(outputs: ["stdout": .string(stdoutOutput(r.stdout))], exitCode: code, stdout: r.stdout, stderr: r.stderr)
        if outcome.cancelled {
            result.cancelled = true
            result.failure = "Cancelled"
        } else if outcome.timedOut {
            result.timedOut = true
            result.failure = "The step timed out."
        } else if outcome.exitCode == rebootCode {
            result.reboot = .repeatStep
        } else if code != 0 {
            result.failure = "exit status \(code)"
        }
        return result
    }

    /// The `stdout` output of a step: what it printed, without the final line break.
    static func stdoutOutput(_ text: String) -> String {
        text.hasSuffix("\n") ? String(text.dropLast()) : text
    }
}
