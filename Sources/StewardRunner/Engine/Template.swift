import StewardKit

/// Resolves AWSTOE `{{ ... }}` expressions: parameters and constants by name, step chaining
/// (`{{ build.Step.outputs.stdout }}`, `{{ build.Step.inputs.path }}`, `{{ build.Step.inputs[0].path }}`)
/// and loop variables (`{{ loop.index }}`, `{{ loop.value }}`, `{{ name.index }}` for a named loop).
/// Spaces inside the braces are trimmed; an expression that names nothing known is left as it is.
public struct Template: Sendable {
    public var variables: [String: String]
    /// Steps run so far, by `phase.step`.
    public var steps: [String: StepState]
    public var loop: LoopVariables?

    public struct LoopVariables: Sendable {
        public var name: String?
        public var index: Int
        public var value: String
    }

    public init(variables: [String: String], steps: [String: StepState], loop: LoopVariables? = nil) {
        self.variables = variables
        self.steps = steps
        self.loop = loop
    }

    public func apply(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let s): .string(resolve(s))
        case .array(let items): .array(items.map(apply))
        case .object(let fields): .object(fields.mapValues(apply))
        default: value
        }
    }

    public func resolve(_ text: String) -> String {
        guard text.contains("{{") else { return text }
        var out = ""
        var rest = text[...]
        while let open = rest.firstRange(of: "{{") {
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else { break }
            out += rest[..<open.lowerBound]
            let expression = String(rest[open.upperBound..<close.lowerBound]).trimmingSpaces
            if let value = lookup(expression) {
                out += value
            } else {
                out += rest[open.lowerBound..<close.upperBound]
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    func lookup(_ expression: String) -> String? {
        if let v = variables[expression] { return v }
        let parts = expression.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2, let loop, parts[0] == "loop" || parts[0] == loop.name {
            switch parts[1] {
            case "index": return String(loop.index)
            case "value": return loop.value
            default: return nil
            }
        }
        guard parts.count >= 4, let state = steps["\(parts[0]).\(parts[1])"] else { return nil }
        var section = parts[2]
        var index: Int?
        if let bracket = section.firstIndex(of: "["), section.hasSuffix("]") {
            index = Int(section[section.index(after: bracket)..<section.index(before: section.endIndex)])
            section = String(section[..<bracket])
        }
        let key = parts[3...].joined(separator: ".")
        switch section {
        case "outputs":
            guard state.status == .success || state.status == .ignoredFailure || state.status == .rebootThenNext else { return nil }
            return state.outputs?[key].map(\.textValue)
        case "inputs":
            var inputs = state.resolvedInputs ?? state.step.inputs
            if let index {
                guard case .array(let list) = inputs, list.indices.contains(index) else { return nil }
                inputs = list[index]
            } else if case .array(let list) = inputs, list.count == 1 {
                inputs = list[0]
            }
            return inputs[key]?.textValue
        default:
            return nil
        }
    }
}
