#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The associations that apply to one node, as the server last told it (sealed to the agent, like an invocation):
/// what the agent applies on its own, on each association's schedule, while the server is unreachable.
public struct AssociationSet: Sendable, Codable, Hashable {
    public var instanceId: String
    /// When the server built the set; an older set never replaces a newer one.
    public var issuedAt: Double
    public var associations: [HeldAssociation]

    public init(instanceId: String, issuedAt: Double, associations: [HeldAssociation]) {
        self.instanceId = instanceId
        self.issuedAt = issuedAt
        self.associations = associations
    }
}

/// One association as a node keeps it: the plan with its parameters (and Parameter Store references) resolved,
/// and the schedule, anchored as the server anchors it, so the node runs it at the times the server would have.
public struct HeldAssociation: Sendable, Codable, Hashable {
    public var associationId: String
    public var associationVersion: String
    public var associationName: String?
    public var documentName: String
    public var scheduleExpression: String?
    /// The schedule's anchor (the association's creation time) for `rate()` expressions.
    public var anchor: Double
    public var plan: RunPlan
    /// SecureString values in the plan, masked in output like an invocation's.
    public var secrets: [String]

    public init(
        associationId: String, associationVersion: String, associationName: String?, documentName: String, scheduleExpression: String?,
        anchor: Double, plan: RunPlan, secrets: [String]
    ) {
        self.associationId = associationId
        self.associationVersion = associationVersion
        self.associationName = associationName
        self.documentName = documentName
        self.scheduleExpression = scheduleExpression
        self.anchor = anchor
        self.plan = plan
        self.secrets = secrets
    }
}

/// A run the agent made on its own while the server was unreachable, kept in its outbox until the server has it.
public struct OfflineRun: Sendable, Codable, Hashable {
    public var runId: String
    public var associationId: String
    public var associationVersion: String
    public var result: InvocationResult

    public init(runId: String, associationId: String, associationVersion: String, result: InvocationResult) {
        self.runId = runId
        self.associationId = associationId
        self.associationVersion = associationVersion
        self.result = result
    }
}
