import Foundation
import StewardKit

/// Resolves `{{ssm:name}}`, `{{ssm:name:3}}`, `{{ssm:name:label}}` and `{{ssm-secure:name}}` in a run plan
/// from Parameter Store, when the server builds the messages for a command.
///
/// The stored command keeps the references; resolved values live only in memory and in the sealed
/// messages. The SecureString values used are returned, so the agent can mask them in output.
struct ParameterReferences: Sendable {
    let parameters: ParameterOperations

    struct Resolved: Sendable {
        var plan: RunPlan
        var secrets: [String]
    }

    struct Reference: Hashable {
        var token: String
        var secure: Bool
        var selector: String
    }

    /// Every reference in a text, with the exact token to replace.
    static func references(in text: String) -> [Reference] {
        var found: [Reference] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            let inner = rest[open.upperBound..<close.lowerBound].trimmingSpaces
            for (prefix, secure) in [("ssm-secure:", true), ("ssm:", false)] where inner.hasPrefix(prefix) {
                let selector = String(inner.dropFirst(prefix.count))
                if !selector.isEmpty, selector.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/_.:-".contains($0)) }) {
                    found.append(Reference(token: String(rest[open.lowerBound..<close.upperBound]), secure: secure, selector: selector))
                }
                break
            }
            rest = rest[close.upperBound...]
        }
        return found
    }

    static func strings(in value: JSONValue) -> [String] {
        switch value {
        case .string(let s): return [s]
        case .array(let items): return items.flatMap(strings)
        case .object(let fields): return fields.values.flatMap(strings)
        default: return []
        }
    }

    static func replace(_ value: JSONValue, _ values: [String: String]) -> JSONValue {
        switch value {
        case .string(let s): return .string(replace(s, values))
        case .array(let items): return .array(items.map { replace($0, values) })
        case .object(let fields): return .object(fields.mapValues { replace($0, values) })
        default: return value
        }
    }

    static func replace(_ text: String, _ values: [String: String]) -> String {
        guard text.contains("{{") else { return text }
        var out = text
        for (token, value) in values { out = out.replacingOccurrences(of: token, with: value) }
        return out
    }

    /// Resolves every reference in the plan; a missing or unreadable parameter is an error that names it.
    func resolve(_ plan: RunPlan, region: String) async throws(AWSError) -> Resolved {
        var texts = plan.steps.flatMap { Self.strings(in: $0.inputs) + ($0.precondition.map(Self.strings) ?? []) }
        texts += plan.environment.values
        let references = Set(texts.flatMap(Self.references))
        guard !references.isEmpty else { return Resolved(plan: plan, secrets: []) }
        var values: [String: String] = [:]
        var secrets: [String] = []
        for reference in references.sorted(by: { $0.token < $1.token }) {
            let version: ParameterVersion
            do {
                version = try await parameters.resolve(reference.selector, region: region).0
            } catch let error as AWSError {
                throw AWSError(error.code, "The parameter reference \(reference.token) cannot be resolved: \(error.message)")
            } catch {
                throw AWSError.internalError()
            }
            if version.type == "SecureString" && !reference.secure {
                throw AWSError(
                    "InvalidParameters", "\(reference.token) names a SecureString; reference it as {{ssm-secure:\(reference.selector)}}.")
            }
            let value: String
            do { value = try await parameters.shownValue(version, decrypt: true) } catch {
                throw AWSError("InvalidParameters", "The parameter reference \(reference.token) cannot be decrypted.")
            }
            values[reference.token] = value
            if version.type == "SecureString" && !value.isEmpty { secrets.append(value) }
        }
        var resolved = plan
        resolved.steps = plan.steps.map { step in
            var s = step
            s.inputs = Self.replace(step.inputs, values)
            s.precondition = step.precondition.map { Self.replace($0, values) }
            return s
        }
        resolved.environment = plan.environment.mapValues { Self.replace($0, values) }
        return Resolved(plan: resolved, secrets: secrets)
    }
}
