import Foundation
import StewardKit

/// A parameter that a document declares, with the rules its values must follow.
public struct DocumentParameter: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case string = "String"
        case stringList = "StringList"
        case integer = "Integer"
        case boolean = "Boolean"
        case stringMap = "StringMap"
        case mapList = "MapList"
    }

    public var name: String
    public var kind: Kind
    public var description: String?
    public var defaultValue: JSONValue?
    public var allowedValues: [String]?
    public var allowedPattern: String?
    public var minItems: Int?
    public var maxItems: Int?
    public var minChars: Int?
    public var maxChars: Int?
    /// `ENV_VAR` passes the value as `SSM_<name>` in the environment instead of text substitution.
    public var interpolationType: String?

    /// The `Parameters` entry of `DocumentDescription`.
    public var descriptionJSON: JSONValue {
        .compact([
            "Name": .string(name), "Type": .string(kind.rawValue), "Description": JSONValue(description),
            "DefaultValue": defaultValue.map { .string($0.textValue) } ?? .null,
        ])
    }
}

extension DocumentParameter {
    static let namePattern = try! NSRegularExpression(pattern: "^[a-zA-Z0-9_]+$")

    static func parse(name: String, _ value: JSONValue) throws(AWSError) -> DocumentParameter {
        func invalid(_ what: String) -> AWSError {
            AWSError("InvalidDocumentContent", "parameters.\(name): \(what)")
        }
        guard namePattern.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil else {
            throw AWSError(
                "InvalidDocumentContent", "parameters.\(name): a parameter name may contain only letters, digits and underscores")
        }
        guard case .object(let fields) = value else { throw invalid("must be a map") }
        guard let typeText = fields["type"]?.stringValue else { throw invalid("'type' is required") }
        guard let kind = Kind(rawValue: typeText) else {
            throw invalid("type '\(typeText)' is not one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var p = DocumentParameter(name: name, kind: kind)
        p.description = fields["description"]?.stringValue
        if let d = fields["default"], !d.isNull { p.defaultValue = d }
        if let values = fields["allowedValues"] {
            guard let list = values.arrayValue else { throw invalid("'allowedValues' must be a list") }
            p.allowedValues = list.map(\.textValue)
        }
        if let pattern = fields["allowedPattern"] {
            guard let text = pattern.stringValue else { throw invalid("'allowedPattern' must be a string") }
            guard (try? NSRegularExpression(pattern: text)) != nil else {
                throw invalid("'allowedPattern' is not a valid regular expression")
            }
            p.allowedPattern = text
        }
        func intField(_ key: String) throws(AWSError) -> Int? {
            guard let v = fields[key], !v.isNull else { return nil }
            if case .number(let n) = v, n >= 0, n == n.rounded() { return Int(n) }
            if case .string(let s) = v, let n = Int(s), n >= 0 { return n }
            throw invalid("'\(key)' must be a non-negative integer")
        }
        p.minItems = try intField("minItems")
        p.maxItems = try intField("maxItems")
        p.minChars = try intField("minChars")
        p.maxChars = try intField("maxChars")
        if let it = fields["interpolationType"] {
            guard it.stringValue == "ENV_VAR" else { throw invalid("'interpolationType' must be ENV_VAR") }
            p.interpolationType = "ENV_VAR"
        }
        if let d = p.defaultValue, !(d.stringValue?.hasPrefix("{{") ?? false) {
            do { _ = try p.typed(from: d) } catch {
                throw invalid("the default value does not fit type \(kind.rawValue): \(error.message)")
            }
        }
        return p
    }

    /// Checks the values supplied for this parameter and returns its typed value.
    public func validate(_ values: [String]) throws(AWSError) -> JSONValue {
        let value: JSONValue
        switch kind {
        case .stringList:
            value = .array(values.map { .string($0) })
        case .mapList:
            var items: [JSONValue] = []
            for v in values { items.append(try parseJSONObject(v)) }
            value = .array(items)
        default:
            guard values.count == 1 else {
                throw invalidParameter("takes exactly one value, got \(values.count)")
            }
            value = .string(values[0])
        }
        return try typed(from: value)
    }

    /// Converts a raw or default value to this parameter's type and checks every rule.
    func typed(from raw: JSONValue) throws(AWSError) -> JSONValue {
        let value: JSONValue
        switch kind {
        case .string:
            guard case .string = raw else { throw invalidParameter("must be a string") }
            value = raw
        case .stringList:
            switch raw {
            case .array(let items): value = .array(items.map { .string($0.textValue) })
            case .string(let s): value = .array([.string(s)])
            default: throw invalidParameter("must be a list of strings")
            }
        case .integer:
            switch raw {
            case .number(let n) where n == n.rounded(): value = raw
            case .string(let s):
                guard let n = Int(s) else { throw invalidParameter("must be an integer") }
                value = .number(Double(n))
            default: throw invalidParameter("must be an integer")
            }
        case .boolean:
            switch raw {
            case .bool: value = raw
            case .string(let s) where s.lowercased() == "true" || s.lowercased() == "false": value = .bool(s.lowercased() == "true")
            default: throw invalidParameter("must be true or false")
            }
        case .stringMap:
            switch raw {
            case .object: value = raw
            case .string(let s): value = try parseJSONObject(s)
            default: throw invalidParameter("must be a map")
            }
        case .mapList:
            guard case .array = raw else { throw invalidParameter("must be a list of maps") }
            value = raw
        }
        try checkRules(value)
        return value
    }

    private func checkRules(_ value: JSONValue) throws(AWSError) {
        let texts: [String]
        switch value {
        case .array(let items): texts = items.map(\.textValue)
        default: texts = [value.textValue]
        }
        if case .array(let items) = value {
            if let min = minItems, items.count < min { throw invalidParameter("needs at least \(min) item(s)") }
            if let max = maxItems, items.count > max { throw invalidParameter("allows at most \(max) item(s)") }
        }
        for text in texts {
            if let allowed = allowedValues, !allowed.contains(text) {
                throw invalidParameter("value '\(text)' is not one of the allowed values: \(allowed.joined(separator: ", "))")
            }
            if let pattern = allowedPattern, !DocumentParameter.matches(pattern, text) {
                throw invalidParameter("value '\(text)' does not match the allowed pattern \(pattern)")
            }
            if let min = minChars, text.count < min { throw invalidParameter("needs at least \(min) character(s)") }
            if let max = maxChars, text.count > max { throw invalidParameter("allows at most \(max) character(s)") }
        }
    }

    /// The whole value must match, as the SSM API's (Java) validation requires.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return false }
        return re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    private func parseJSONObject(_ text: String) throws(AWSError) -> JSONValue {
        guard let v = try? JSONReader.parse(text), case .object = v else { throw invalidParameter("must be a JSON map") }
        return v
    }

    func invalidParameter(_ what: String) -> AWSError {
        AWSError("InvalidParameters", "Parameter \"\(name)\" \(what).")
    }
}
