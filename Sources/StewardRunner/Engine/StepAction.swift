import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An action module: `ExecuteBash`, `CreateFile`, `aws:runShellScript`, ...
public protocol StepAction: Sendable {
    /// Runs one iteration of a step with resolved inputs.
    func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult
}

/// What an action sees of the run it is part of.
public struct ActionContext: Sendable {
    public var phase: String
    public var stepName: String
    /// A folder of this run for scripts and temporary files.
    public var workFolder: String
    /// Where programs start.
    public var workingDirectory: String
    public var environment: [String: String]
    /// When the step's time is up (all loop iterations together), or nil for no limit.
    public var deadline: ContinuousClock.Instant?
    public var outputLimit: Int
    /// Receives output as it is produced (already masked).
    public var console: Console
    /// Told the process group of each child the action starts, so the journal can name it.
    public var processStarted: @Sendable (Int32) -> Void
    /// Runs nested component documents (ExecuteDocument); set by the component front end.
    public var documents: (any NestedDocuments)?

    public init(
        phase: String, stepName: String, workFolder: String, workingDirectory: String? = nil, environment: [String: String],
        deadline: ContinuousClock.Instant?,
        outputLimit: Int, console: Console, processStarted: @escaping @Sendable (Int32) -> Void = { _ in },
        documents: (any NestedDocuments)? = nil
    ) {
        self.phase = phase
        self.stepName = stepName
        self.workFolder = workFolder
        self.workingDirectory = workingDirectory ?? workFolder
        self.environment = environment
        self.deadline = deadline
        self.outputLimit = outputLimit
        self.console = console
        self.processStarted = processStarted
        self.documents = documents
    }

    /// Time left before the deadline, or nil without one.
    public var remaining: Duration? {
        guard let deadline else { return nil }
        return max(.zero, deadline - .now)
    }
}

/// ExecuteDocument's view of the component front end.
public protocol NestedDocuments: Sendable {
    func run(document: String, phases: [String]?, parameters: [String: String], context: ActionContext) async -> ActionResult
}

/// How one action iteration ended.
public struct ActionResult: Sendable {
    public var outputs: [String: JSONValue]
    /// nil on success.
    public var failure: String?
    public var exitCode: Int
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool
    public var cancelled: Bool
    public var reboot: RebootRequest?
    /// The step succeeded and says nothing more needs doing (exit 168): the run ends here, successfully.
    public var stopRun = false
    /// Extra detail for the detailed output (a nested document's own report).
    public var detailedOutput: JSONValue?

    public enum RebootRequest: Sendable {
        /// Exit code 194: reboot, then run this step again.
        case repeatStep
        /// The Reboot action: reboot, then continue with the next step.
        case nextStep
    }

    public init(
        outputs: [String: JSONValue] = [:], failure: String? = nil, exitCode: Int = 0, stdout: String = "", stderr: String = "",
        timedOut: Bool = false, cancelled: Bool = false, reboot: RebootRequest? = nil, detailedOutput: JSONValue? = nil
    ) {
        self.outputs = outputs
        self.failure = failure
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
        self.cancelled = cancelled
        self.reboot = reboot
        self.detailedOutput = detailedOutput
    }

    public static func failed(_ message: String, exitCode: Int = 1) -> ActionResult {
        ActionResult(failure: message, exitCode: exitCode)
    }

    public var succeeded: Bool { failure == nil && !timedOut && !cancelled }
}

/// The action modules by name.
public struct ActionRegistry: Sendable {
    public var actions: [String: any StepAction]

    public init(_ actions: [String: any StepAction]) { self.actions = actions }

    public subscript(name: String) -> (any StepAction)? { actions[name] }

    /// Every module this runner implements.
    public static let standard = ActionRegistry(
        [
            "aws:runShellScript": RunShellScript(),
            "ExecuteBash": ExecuteBash(),
            "ExecuteBinary": ExecuteBinary(),
            "ExecuteDocument": ExecuteDocument(),
            "Reboot": RebootAction(),
            "UpdateOS": UpdateOS(),
            "WebDownload": WebDownload(),
            "Assert": AssertAction(),
        ].merging(FileActions.all) { a, _ in a })
}

/// Where a run's output goes as it is produced: a console log, a terminal, or nowhere.
public final class Console: Sendable {
    let sink: (@Sendable (String) -> Void)?
    /// Told which stream each piece of output came from (the direct channel keeps stdout and stderr apart).
    let streams: (@Sendable (_ text: String, _ isStandardError: Bool) -> Void)?
    let secrets: [String]

    public init(secrets: [String] = [], sink: (@Sendable (String) -> Void)? = nil) {
        self.secrets = secrets.filter { !$0.isEmpty }
        self.sink = sink
        self.streams = nil
    }

    public init(secrets: [String] = [], streams: (@Sendable (_ text: String, _ isStandardError: Bool) -> Void)?) {
        self.secrets = secrets.filter { !$0.isEmpty }
        self.sink = nil
        self.streams = streams
    }

    public static let silent = Console()

    public func write(_ text: String, standardError: Bool = false) {
        guard !text.isEmpty else { return }
        if let sink { sink(mask(text)) }
        if let streams { streams(mask(text), standardError) }
    }

    /// The text with every secret replaced by `****`.
    public func mask(_ text: String) -> String {
        var text = text
        for secret in secrets where text.contains(secret) { text = text.replacing(secret, with: "****") }
        return text
    }
}
