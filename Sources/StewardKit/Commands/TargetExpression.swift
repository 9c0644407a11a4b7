#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Which managed nodes a command or association is for, from SSM `Targets` or `InstanceIds`.
///
/// Keys are ANDed; the values of one key are ORed, as in AWS.
public struct TargetExpression: Sendable, Hashable {
    public enum Clause: Sendable, Hashable {
        case instanceIds(Set<String>)
        case allInstances
        case tag(key: String, values: Set<String>)
        case tagKey(Set<String>)
    }

    public var clauses: [Clause]

    /// What a node offers for matching.
    public struct Node: Sendable {
        public var instanceId: String
        public var tags: [String: String]
        public init(instanceId: String, tags: [String: String]) {
            self.instanceId = instanceId
            self.tags = tags
        }
    }

    public init(clauses: [Clause]) { self.clauses = clauses }

    /// Parses SSM `Targets` (`[{Key, Values}]`).
    public init(targets: [(key: String, values: [String])]) throws(AWSError) {
        guard !targets.isEmpty else { throw AWSError("InvalidTarget", "At least one target is required.") }
        guard targets.count <= 5 else { throw AWSError.validation("A command accepts at most 5 targets.") }
        var clauses: [Clause] = []
        for t in targets {
            guard !t.values.isEmpty else { throw AWSError("InvalidTarget", "Target \(t.key) needs at least one value.") }
            guard t.values.count <= 50 else { throw AWSError("InvalidTarget", "Target \(t.key) accepts at most 50 values.") }
            if t.key.lowercased() == "instanceids" {
                if t.values.contains("*") {
                    clauses.append(.allInstances)
                } else {
                    for id in t.values where !InstanceID.isValid(id) {
                        throw AWSError("InvalidInstanceId", "Instance Id \(id) is not valid.")
                    }
                    clauses.append(.instanceIds(Set(t.values)))
                }
            } else if t.key == "tag-key" {
                clauses.append(.tagKey(Set(t.values)))
            } else if t.key.hasPrefix("tag:") {
                let key = String(t.key.dropFirst(4))
                guard !key.isEmpty else { throw AWSError("InvalidTarget", "Target key 'tag:' needs a tag name.") }
                clauses.append(.tag(key: key, values: Set(t.values)))
            } else if t.key.hasPrefix("resource-groups:") {
                throw AWSError("InvalidTarget", "Resource group targets are not supported by this server; use tags.")
            } else {
                throw AWSError("InvalidTarget", "Target key \(t.key) is not valid; use InstanceIds, tag:<name> or tag-key.")
            }
        }
        self.clauses = clauses
    }

    public func matches(_ node: Node) -> Bool {
        clauses.allSatisfy { clause in
            switch clause {
            case .allInstances: true
            case .instanceIds(let ids): ids.contains(node.instanceId)
            case .tag(let key, let values): node.tags[key].map(values.contains) ?? false
            case .tagKey(let keys): keys.contains { node.tags[$0] != nil }
            }
        }
    }
}

/// Managed instance ids: `mi-` and 17 hex digits for nodes registered by activation.
public enum InstanceID {
    /// `i-` and 8 or 17, or `mi-` and 17, letters and digits.
    public static func isValid(_ id: String) -> Bool {
        let rest: Substring
        let lengths: Set<Int>
        if id.hasPrefix("mi-") {
            rest = id.dropFirst(3)
            lengths = [17]
        } else if id.hasPrefix("i-") {
            rest = id.dropFirst(2)
            lengths = [8, 17]
        } else {
            return false
        }
        return lengths.contains(rest.count) && rest.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
    }

    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return "mi-" + String((0..<17).map { _ in digits[Int(rng.next() % 16)] })
    }
}
