import Foundation
import StewardKit

/// `{{ name }}` substitution as the SSM agent does it.
///
/// A string that is exactly one placeholder takes the parameter's typed value (so a StringList
/// stays a list); a placeholder inside other text takes the value as text. Values are not
/// scanned again, and references such as `{{ssm:name}}` are left for the resolver.
public enum Interpolation {
    public static func apply(_ value: JSONValue, values: [String: JSONValue]) -> JSONValue {
        switch value {
        case .string(let s): return substitute(s, values: values)
        case .array(let items): return .array(items.map { apply($0, values: values) })
        case .object(let fields): return .object(fields.mapValues { apply($0, values: values) })
        default: return value
        }
    }

    static func substitute(_ text: String, values: [String: JSONValue]) -> JSONValue {
        let tokens = placeholders(in: text)
        guard !tokens.isEmpty else { return .string(text) }
        if tokens.count == 1, tokens[0].range == text.startIndex..<text.endIndex, let v = values[tokens[0].name] {
            return v
        }
        var out = ""
        var cursor = text.startIndex
        for token in tokens {
            out += text[cursor..<token.range.lowerBound]
            if let v = values[token.name] {
                out += v.textValue
            } else {
                out += text[token.range]
            }
            cursor = token.range.upperBound
        }
        out += text[cursor...]
        return .string(out)
    }

    /// Placeholders of the form `{{ name }}` whose name is letters, digits and underscores.
    public static func placeholders(in text: String) -> [(name: String, range: Range<String.Index>)] {
        var found: [(String, Range<String.Index>)] = []
        var i = text.startIndex
        while let open = text[i...].range(of: "{{") {
            guard let close = text[open.upperBound...].range(of: "}}") else { break }
            let inner = text[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if !inner.isEmpty, inner.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
                found.append((inner, open.lowerBound..<close.upperBound))
                i = close.upperBound
            } else {
                i = open.upperBound
            }
        }
        return found
    }
}
