import StewardKit

/// One step as the engine runs it, whatever kind of document it came from.
public struct RunStep: Sendable, Codable, Hashable {
    public var name: String
    public var action: String
    public var inputs: JSONValue
    /// Seconds for all attempts' loop iterations together (reset on each attempt); nil runs without a limit.
    public var timeoutSeconds: Int?
    public var onFailure: FailurePolicy
    /// SSM `onSuccess: exit`: stop the run after this step succeeds.
    public var exitOnSuccess: Bool
    public var maxAttempts: Int
    /// An AWSTOE `if` expression, or `true`/`false` decided when the plan was built.
    public var condition: JSONValue?
    public var loop: JSONValue?

    public init(
        name: String, action: String, inputs: JSONValue, timeoutSeconds: Int?, onFailure: FailurePolicy = .abort,
        exitOnSuccess: Bool = false, maxAttempts: Int = 1, condition: JSONValue? = nil, loop: JSONValue? = nil
    ) {
        self.name = name
        self.action = action
        self.inputs = inputs
        self.timeoutSeconds = timeoutSeconds
        self.onFailure = onFailure
        self.exitOnSuccess = exitOnSuccess
        self.maxAttempts = maxAttempts
        self.condition = condition
        self.loop = loop
    }
}

/// Where a step is. The journal holds one of these per step; after a crash it says exactly what happened.
public enum StepStatus: String, Sendable, Codable, Hashable {
    case pending
    /// Started and not yet recorded as finished: after a crash, the step was interrupted.
    case running
    case success
    case failed
    case ignoredFailure
    case skipped
    case cancelled
    /// The step exited 194: reboot, then run this same step again.
    case rebootThenRepeat
    /// The Reboot action: reboot, then go on with the next step.
    case rebootThenNext

    public var isFinal: Bool { [.success, .failed, .ignoredFailure, .skipped, .cancelled].contains(self) }
}

/// The journaled state of one step.
public struct StepState: Sendable, Codable, Hashable {
    public var step: RunStep
    public var status: StepStatus = .pending
    /// Attempts started, including an interrupted one.
    public var attempts: Int = 0
    /// The `if` result, decided once even across reboots.
    public var conditionResult: Bool?
    public var resolvedInputs: JSONValue?
    public var outputs: [String: JSONValue]?
    public var exitCode: Int?
    public var timedOut = false
    public var failureMessage: String?
    public var startTime: Double?
    public var endTime: Double?
    /// Output kept across repeated runs of the step (194), masked, bounded.
    public var stdout = ""
    public var stderr = ""

    public init(step: RunStep) { self.step = step }
}

public struct PhaseState: Sendable, Codable, Hashable {
    public var name: String
    public var steps: [StepState]
    public var status: String?
    public var startTime: Double?
    public var endTime: Double?

    public init(name: String, steps: [StepState]) {
        self.name = name
        self.steps = steps
    }
}

public struct DocumentState: Sendable, Codable, Hashable {
    public var name: String
    public var filePath: String
    public var description: String?
    /// Parameter and constant values, resolved when the run was planned.
    public var variables: [String: String]
    public var phases: [PhaseState]
    public var status: String?
    public var failureMessage: String?
    public var startTime: Double?
    public var endTime: Double?

    public init(name: String, filePath: String, description: String?, variables: [String: String], phases: [PhaseState]) {
        self.name = name
        self.filePath = filePath
        self.description = description
        self.variables = variables
        self.phases = phases
    }
}

/// A whole run: what the journal holds.
public struct RunState: Sendable, Codable, Hashable {
    public var executionId: String
    public var documents: [DocumentState]
    public var startTime: Double
    public var endTime: Double?
    /// The final status (`success`, `failed`, `SuccessWithIgnoredFailure`, `cancelled`) once the run is over.
    public var status: String?
    public var failureMessage: String?
    /// Reboots this run asked for, and the most it may ask for.
    public var reboots: Int = 0
    public var maxReboots: Int
    /// Facts a front end keeps with the run (log folder, start-up hook, reboot command, ...).
    public var notes: [String: String] = [:]

    public init(executionId: String, documents: [DocumentState], startTime: Double, maxReboots: Int) {
        self.executionId = executionId
        self.documents = documents
        self.startTime = startTime
        self.maxReboots = maxReboots
    }

    public var isFinished: Bool { status != nil }
}
