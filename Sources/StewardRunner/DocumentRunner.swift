import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Runs an SSM Command document's ``RunPlan`` on the ``StepEngine``, as the SSM agent does: steps in order,
/// `onFailure`/`onSuccess`, platform preconditions, exit 194 for "reboot and run this step again".
///
/// The journal lives in the run's folder, so a run interrupted by a reboot or a crash continues when the agent
/// starts again and calls ``run(_:context:)`` with the same folder.
public struct DocumentRunner: Sendable {
    /// Facts about the run that scripts see in their environment.
    public struct Context: Sendable {
        public var commandId: String
        public var instanceId: String
        public var region: String
        public var platformType: String
        public var platformName: String
        public var platformVersion: String
        /// The run's folder: its journal, its scripts, and the default working directory.
        public var workFolder: String
        public var outputLimit: Int
        /// Values replaced by `****` in every step's output.
        public var secrets: [String] = []
        /// Reboots one run may ask for before it is stopped.
        public var maxReboots = 10
        /// Actions the host adds to the standard ones (the agent's `aws:softwareInventory`).
        public var extraActions: [String: any StepAction] = [:]
        /// Receives the run's output as it is produced (masked), by stream; nil keeps it in the result only.
        public var output: (@Sendable (_ text: String, _ isStandardError: Bool) -> Void)?
        /// Whether the run keeps its journal on disk, flushed on every change, to resume after a crash; off for runs
        /// that are never resumed (direct tasks: their audit record says what happened), whose journal stays in memory.
        public var durableJournal = true

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

    public enum Outcome: Sendable {
        case finished(InvocationResult)
        /// A step exited 194: the state is saved; reboot, then call `run` again with the same folder.
        case reboot
    }

    public init() {}

    /// Whether the folder holds a run that was started and has not finished.
    public static func hasUnfinishedRun(in folder: String) -> Bool {
        guard let state = try? RunJournal(folder: folder).load() else { return false }
        return !state.isFinished
    }

    public func run(_ plan: RunPlan, context: Context) async -> Outcome {
        let journal = context.durableJournal ? RunJournal(folder: context.workFolder) : RunJournal(folder: nil)
        var state: RunState
        do {
            if let saved = try journal.load() {
                state = saved
            } else {
                state = Self.plan(plan, context: context)
                try journal.save(state)
            }
        } catch {
            return .finished(failure(context, "The agent cannot keep the run's journal: \(error)"))
        }
        var env = ProcessInfo.processInfo.environment
        env["SSM_COMMAND_ID"] = context.commandId
        env["AWS_SSM_INSTANCE_ID"] = context.instanceId
        env["AWS_SSM_REGION_NAME"] = context.region
        env["AWS_SSM_PLATFORM_NAME"] = context.platformName
        env["AWS_SSM_PLATFORM_VERSION"] = context.platformVersion
        for (k, v) in plan.environment { env[k] = v }
        let actions = ActionRegistry(ActionRegistry.standard.actions.merging(context.extraActions) { _, extra in extra })
        let engine = StepEngine(
            journal: journal, actions: actions, workFolder: context.workFolder, environment: env, outputLimit: context.outputLimit,
            console: Console(secrets: context.secrets, streams: context.output))
        do {
            if try await engine.run(&state) == .reboot { return .reboot }
        } catch {
            return .finished(failure(context, "The agent cannot keep the run's journal: \(error)"))
        }
        return .finished(Self.result(state, context: context))
    }

    static func plan(_ plan: RunPlan, context: Context) -> RunState {
        let steps = plan.steps.map { step in
            let onFailure: FailurePolicy =
                switch step.inputs["onFailure"]?.stringValue {
                case "exit": .abort
                case "successAndExit": .successAndExit
                default: .continue
                }
            return StepState(
                step: RunStep(
                    name: step.name, action: step.action, inputs: step.inputs, timeoutSeconds: step.executionTimeoutSeconds,
                    onFailure: onFailure, exitOnSuccess: step.inputs["onSuccess"]?.stringValue == "exit",
                    condition: step.applies(toPlatform: context.platformType) ? nil : .bool(false)))
        }
        return RunState(
            executionId: context.commandId,
            documents: [
                DocumentState(
                    name: context.commandId, filePath: "", description: nil, variables: [:],
                    phases: [PhaseState(name: "command", steps: steps)])
            ],
            startTime: Date().timeIntervalSince1970, maxReboots: context.maxReboots)
    }

    /// The invocation's result in the agent's words: one plugin per step.
    static func result(_ state: RunState, context: Context) -> InvocationResult {
        let plugins = state.documents.flatMap { $0.phases.flatMap(\.steps) }.map { s -> PluginResult in
            let (status, details): (String, String)
            var code = s.exitCode ?? -1
            switch s.status {
            case .success: (status, details) = ("Success", "Success")
            case .cancelled: (status, details) = ("Cancelled", "Cancelled")
            case .failed where s.timedOut:
                (status, details) = ("TimedOut", "ExecutionTimedOut")
                code = -1
            case .failed, .ignoredFailure: (status, details) = ("Failed", "Failed")
            default: (status, details) = ("Skipped", "Skipped")
            }
            var stderr = s.stderr
            if status == "Failed", let message = s.failureMessage, !stderr.contains(message) {
                stderr += message.hasSuffix("\n") ? message : message + "\n"
            }
            return PluginResult(
                name: s.step.name, action: s.step.action, status: status, statusDetails: details,
                responseCode: status == "Skipped" ? -1 : code,
                startedAt: s.startTime, finishedAt: s.endTime, stdout: s.stdout, stderr: stderr)
        }
        let ran = plugins.filter { $0.status != "Skipped" }
        let invocationState: InvocationState
        if ran.contains(where: { $0.status == "Cancelled" }) {
            invocationState = .cancelled
        } else if ran.contains(where: { $0.status == "TimedOut" }) {
            invocationState = .executionTimedOut
        } else if ran.contains(where: { $0.status == "Failed" }) {
            invocationState = .failed
        } else {
            invocationState = .success
        }
        return InvocationResult(
            commandId: context.commandId, instanceId: context.instanceId, state: invocationState, responseCode: ran.last?.responseCode ?? 0,
            startedAt: state.startTime, finishedAt: state.endTime ?? Date().timeIntervalSince1970, plugins: plugins)
    }

    func failure(_ context: Context, _ message: String) -> InvocationResult {
        let now = Date().timeIntervalSince1970
        return InvocationResult(
            commandId: context.commandId, instanceId: context.instanceId, state: .failed, responseCode: -1, startedAt: now, finishedAt: now,
            plugins: [
                PluginResult(
                    name: "", action: "", status: "Failed", statusDetails: "Failed", responseCode: -1, startedAt: now, finishedAt: now,
                    stdout: "", stderr: message)
            ])
    }
}
