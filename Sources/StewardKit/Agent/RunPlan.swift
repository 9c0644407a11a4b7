#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a runner executes: the steps of a document with their parameters substituted.
public struct RunPlan: Sendable, Codable, Hashable {
    public var schemaVersion: String
    public var steps: [PlanStep]
    /// Extra environment for every step (`SSM_<name>` for ENV_VAR parameters).
    public var environment: [String: String]

    public init(schemaVersion: String, steps: [PlanStep], environment: [String: String] = [:]) {
        self.schemaVersion = schemaVersion
        self.steps = steps
        self.environment = environment
    }
}

public struct PlanStep: Sendable, Codable, Hashable {
    public var name: String
    public var action: String
    public var inputs: JSONValue
    public var precondition: JSONValue?

    public init(name: String, action: String, inputs: JSONValue, precondition: JSONValue? = nil) {
        self.name = name
        self.action = action
        self.inputs = inputs
        self.precondition = precondition
    }

    /// Whether the step applies to a node of this platform type (`Linux`, `Windows`, `MacOS`).
    public func applies(toPlatform platform: String) -> Bool {
        guard let args = precondition?["StringEquals"]?.arrayValue, args.count == 2 else { return true }
        let a = args[0].textValue
        let b = args[1].textValue
        if a == "platformType" { return b.lowercased() == platform.lowercased() }
        if b == "platformType" { return a.lowercased() == platform.lowercased() }
        return a == b
    }

    /// The execution timeout the step asks for, with the agent's rule: 5 to 172800 seconds, else 3600.
    public var executionTimeoutSeconds: Int {
        let raw = inputs["timeoutSeconds"]
        let value: Int? =
            switch raw {
            case .number(let n)?: Int(n)
            case .string(let s)?: Int(s.trimmingSpaces)
            default: nil
            }
        guard let value, (5...172_800).contains(value) else { return 3600 }
        return value
    }
}
