import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the steps of a ``RunPlan`` on this host, one after another, as the SSM agent does.
public struct DocumentRunner: Sendable {
    /// Facts about the run that scripts see in their environment.
    public struct Context: Sendable {
        public var commandId: String
        public var instanceId: String
        public var region: String
        public var platformType: String
        public var platformName: String
        public var platformVersion: String
        /// A folder for this run's scripts and default working directory.
        public var workFolder: String
        public var outputLimit: Int
        /// Values replaced by `****` in every step's output.
        public var secrets: [String] = []

        public init(
            commandId: String, instanceId: String, region: String, platformType: String = "Linux",
            platformName: String = "", platformVersion: String = "", workFolder: String, outputLimit: Int = 1 << 20
        ) {
            self.commandId = commandId
            self.instanceId = instanceId
            self.region = region
            self.platformType = platformType
            self.platformName = platformName
            self.platformVersion = platformVersion
            self.workFolder = workFolder
            self.outputLimit = outputLimit
        }
    }

    public init() {}

    public func run(_ plan: RunPlan, context: Context) async -> InvocationResult {
        let startedAt = Date().timeIntervalSince1970
        var plugins: [PluginResult] = []
        var stop = false
        for (index, step) in plan.steps.enumerated() {
            if stop || Task.isCancelled {
                let status = Task.isCancelled ? "Cancelled" : "Skipped"
                plugins.append(skipped(step, status: status, details: status))
                continue
            }
            guard step.applies(toPlatform: context.platformType) else {
                plugins.append(skipped(step, status: "Skipped", details: "Skipped"))
                continue
            }
            let result = await runStep(step, index: index, plan: plan, context: context)
            plugins.append(result)
            let onFailure = step.inputs["onFailure"]?.stringValue
            let onSuccess = step.inputs["onSuccess"]?.stringValue
            switch result.status {
            case "Success":
                if onSuccess == "exit" { stop = true }
            case "Cancelled":
                stop = true
            default:
                if onFailure == "exit" { stop = true }
                if onFailure == "successAndExit" {
                    plugins[plugins.count - 1].status = "Success"
                    plugins[plugins.count - 1].statusDetails = "Success"
                    stop = true
                }
            }
        }
        let ran = plugins.filter { $0.status != "Skipped" }
        let state: InvocationState
        if ran.contains(where: { $0.status == "Cancelled" }) {
            state = .cancelled
        } else if ran.contains(where: { $0.status == "TimedOut" }) {
            state = .executionTimedOut
        } else if ran.contains(where: { $0.status == "Failed" }) {
            state = .failed
        } else {
            state = .success
        }
        return InvocationResult(
            commandId: context.commandId, instanceId: context.instanceId, state: state,
            responseCode: ran.last?.responseCode ?? 0, startedAt: startedAt, finishedAt: Date().timeIntervalSince1970,
            plugins: plugins)
    }

    func skipped(_ step: PlanStep, status: String, details: String) -> PluginResult {
        PluginResult(
            name: step.name, action: step.action, status: status, statusDetails: details, responseCode: -1, startedAt: nil,
            finishedAt: nil, stdout: "", stderr: "")
    }

    func runStep(_ step: PlanStep, index: Int, plan: RunPlan, context: Context) async -> PluginResult {
        let started = Date().timeIntervalSince1970
        func failed(_ message: String) -> PluginResult {
            PluginResult(
                name: step.name, action: step.action, status: "Failed", statusDetails: "Failed", responseCode: 1,
                startedAt: started, finishedAt: Date().timeIntervalSince1970, stdout: "", stderr: message)
        }
        switch step.action {
        case "aws:runShellScript":
            break
        default:
            return failed("The action \(step.action) is not supported by this agent.\n")
        }
        let script: String
        switch step.inputs["runCommand"] {
        case .array(let lines)?: script = lines.map(\.textValue).joined(separator: "\n")
        case .string(let s)?: script = s
        default: return failed("runCommand is missing or is not a list of strings.\n")
        }
        // One folder a run; each step's script sits in it, and it is the default working directory.
        let stepFolder = context.workFolder
        let scriptPath = "\(stepFolder)/\(index)-\(sanitize(step.name)).sh"
        do {
            try FileManager.default.createDirectory(atPath: stepFolder, withIntermediateDirectories: true)
            try Data((script + "\n").utf8).write(to: URL(fileURLWithPath: scriptPath))
        } catch {
            return failed("Could not write the script: \(error)\n")
        }
        var workDir = step.inputs["workingDirectory"]?.textValue ?? ""
        if workDir.isEmpty {
            workDir = stepFolder
        } else if !workDir.hasPrefix("/") {
            workDir = "\(context.workFolder)/\(workDir)"
        }
        var info = stat()
        guard stat(workDir, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            return failed("Working directory \(workDir) does not exist.\n")
        }
        var env = ProcessInfo.processInfo.environment
        env["SSM_COMMAND_ID"] = context.commandId
        env["AWS_SSM_INSTANCE_ID"] = context.instanceId
        env["AWS_SSM_REGION_NAME"] = context.region
        env["AWS_SSM_PLATFORM_NAME"] = context.platformName
        env["AWS_SSM_PLATFORM_VERSION"] = context.platformVersion
        for (k, v) in plan.environment { env[k] = v }
        let outcome: ProcessOutcome
        do {
            outcome = try await ChildProcess.run(
                executable: "/bin/sh", arguments: [scriptPath], environment: env, workingDirectory: workDir,
                timeout: .seconds(step.executionTimeoutSeconds), outputLimit: context.outputLimit)
        } catch {
            return failed("\(error)\n")
        }
        var stdout = String(decoding: outcome.stdout, as: UTF8.self)
        var stderr = String(decoding: outcome.stderr, as: UTF8.self)
        for secret in context.secrets where !secret.isEmpty {
            stdout = stdout.replacing(secret, with: "****")
            stderr = stderr.replacing(secret, with: "****")
        }
        if outcome.stdoutTruncated { stdout += "\n--output truncated--" }
        if outcome.stderrTruncated { stderr += "\n--output truncated--" }
        let finished = Date().timeIntervalSince1970
        let status: String
        let details: String
        var code = Int(outcome.exitCode)
        if outcome.cancelled {
            (status, details) = ("Cancelled", "Cancelled")
        } else if outcome.timedOut {
            (status, details) = ("TimedOut", "ExecutionTimedOut")
            stderr += "\nfailed to run commands: exit status \(code == 143 ? -1 : code)\nCommand execution timed out.\n"
            code = -1
        } else {
            switch code {
            case 0, 168: (status, details) = ("Success", "Success")
            case 194: (status, details) = ("Success", "Success")
            default: (status, details) = ("Failed", "Failed")
            }
            if status == "Failed" {
                stderr += stderr.isEmpty || stderr.hasSuffix("\n") ? "" : "\n"
                stderr += "failed to run commands: exit status \(code)"
            }
        }
        return PluginResult(
            name: step.name, action: step.action, status: status, statusDetails: details, responseCode: code,
            startedAt: started, finishedAt: finished, stdout: stdout, stderr: stderr)
    }

    func sanitize(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }
}
