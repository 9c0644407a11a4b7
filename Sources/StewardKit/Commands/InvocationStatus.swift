/// The state of one invocation (a command on one node), as SSM reports it in `Status` and `StatusDetails`.
public enum InvocationState: String, Sendable, Codable, CaseIterable {
    case pending = "Pending"
    case inProgress = "InProgress"
    case delayed = "Delayed"
    case success = "Success"
    case failed = "Failed"
    case executionTimedOut = "ExecutionTimedOut"
    case deliveryTimedOut = "DeliveryTimedOut"
    case cancelling = "Cancelling"
    case cancelled = "Cancelled"
    case terminated = "Terminated"
    case undeliverable = "Undeliverable"

    /// The coarse `Status` value.
    public var status: String {
        switch self {
        case .executionTimedOut, .deliveryTimedOut: "TimedOut"
        case .terminated: "Cancelled"
        case .undeliverable: "Failed"
        default: rawValue
        }
    }

    /// `StatusDetails`.
    public var details: String { rawValue }

    public var isTerminal: Bool {
        switch self {
        case .pending, .inProgress, .delayed, .cancelling: false
        default: true
        }
    }

    /// Failed and ExecutionTimedOut count toward MaxErrors; delivery timeouts and Undeliverable do not.
    public var countsAsError: Bool { self == .failed || self == .executionTimedOut }

}

/// The aggregate state of a command over its invocations.
public struct CommandState: Sendable, Hashable {
    public var status: String
    public var details: String
    public var completedCount: Int
    public var errorCount: Int
    public var deliveryTimedOutCount: Int

    /// Derives the command's status from its invocations, following the SSM rules for MaxErrors.
    public static func aggregate(
        _ states: [InvocationState], errorThreshold: Int, cancelRequested: Bool, noTargets: Bool = false
    ) -> CommandState {
        let completed = states.filter(\.isTerminal).count
        let errors = states.filter(\.countsAsError).count
        let deliveryTimedOut = states.filter { $0 == .deliveryTimedOut }.count
        func make(_ status: String, _ details: String) -> CommandState {
            CommandState(
                status: status, details: details, completedCount: completed, errorCount: errors, deliveryTimedOutCount: deliveryTimedOut)
        }
        if noTargets { return make("Failed", "NoInstancesInTag") }
        if completed < states.count {
            if cancelRequested { return make("Cancelling", "Cancelling") }
            let started = states.contains { $0 != .pending }
            return started ? make("InProgress", "InProgress") : make("Pending", "Pending")
        }
        if cancelRequested && states.contains(where: { $0 == .cancelled }) { return make("Cancelled", "Cancelled") }
        if states.allSatisfy({ $0 == .success }) { return make("Success", "Success") }
        if errors > errorThreshold {
            let errorStates = states.filter(\.countsAsError)
            if errorStates.allSatisfy({ $0 == .executionTimedOut }) { return make("TimedOut", "ExecutionTimedOut") }
            return make("Failed", "Failed")
        }
        if states.allSatisfy({ $0 == .deliveryTimedOut }) { return make("TimedOut", "DeliveryTimedOut") }
        if states.allSatisfy({ $0 == .undeliverable }) { return make("Failed", "Undeliverable") }
        if states.contains(.success) || states.contains(.deliveryTimedOut) || errors > 0 { return make("Failed", "Incomplete") }
        return make("Cancelled", "Cancelled")
    }
}
