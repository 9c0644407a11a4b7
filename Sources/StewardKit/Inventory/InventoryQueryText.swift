/// Steward's small language for fleet questions, turned into GetInventory filters and aggregators:
///
///     AWS:Application.Name = openssl and AWS:Application.Version < 3.0.13
///     AWS:InstanceInformation.PlatformName ^= Ubuntu
///     not AWS:Service.Name = nginx                      (nodes lacking it)
///     Custom:Role.Tier in (web, api)
///     AWS:File.Name exists
///     count by AWS:InstanceInformation.PlatformName, AWS:InstanceInformation.PlatformVersion
///
/// Conditions on one type hold for the same entry; `count by` counts instances per value.
/// Values may be quoted with ' or "; `{{name}}` placeholders are filled from parameters before parsing.
public struct InventoryQueryText: Sendable, Hashable {
    public struct Condition: Sendable, Hashable {
        public var key: String
        /// Equal, NotEqual, BeginWith, LessThan, GreaterThan or Exists (GetInventory's words).
        public var type: String
        public var values: [String]
    }

    public var conditions: [Condition]
    public var countBy: [String]

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Named questions that come with Steward; a saved query of the same name replaces one.
    public static let predefined: [SavedInventoryQuery] = [
        SavedInventoryQuery(
            name: "os-releases", query: "count by AWS:InstanceInformation.PlatformName, AWS:InstanceInformation.PlatformVersion",
            description: "How many nodes run each operating system release.", created: 0),
        SavedInventoryQuery(
            name: "agent-versions", query: "count by AWS:InstanceInformation.AgentVersion",
            description: "How many nodes run each agent version.",
            created: 0),
        SavedInventoryQuery(
            name: "package-below", query: "AWS:Application.Name = {{package}} and AWS:Application.Version < {{version}}",
            description: "Nodes with a package older than a version (parameters: package, version).", created: 0),
        SavedInventoryQuery(
            name: "lacking-service", query: "not AWS:Service.Name = {{service}}",
            description: "Nodes that lack a service (parameter: service).", created: 0),
        SavedInventoryQuery(
            name: "lacking-package", query: "not AWS:Application.Name = {{package}}",
            description: "Nodes that lack a package (parameter: package).", created: 0),
    ]

    /// Fills `{{name}}` placeholders; a missing one is an error that names it.
    public static func fill(_ text: String, parameters: [String: String]) throws(ParseError) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else { break }
            let name = String(rest[open.upperBound..<close.lowerBound]).trimmingSpaces
            guard let value = parameters[name] else {
                throw ParseError(description: "the query needs a value for \(name) (--param \(name)=...)")
            }
            out += rest[..<open.lowerBound]
            out += value.contains(where: { $0 == " " || $0 == "," || $0 == ")" }) ? "'\(value)'" : value
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    public static func parse(_ text: String) throws(ParseError) -> InventoryQueryText {
        var tokens = try tokenize(text)
        var conditions: [Condition] = []
        var countBy: [String] = []
        func next() -> String? { tokens.isEmpty ? nil : tokens.removeFirst() }
        func key(_ t: String?) throws(ParseError) -> String {
            guard let t, t.hasPrefix("AWS:") || t.hasPrefix("Custom:"), t.contains(".") else {
                throw ParseError(description: "expected TypeName.Attribute (for example AWS:Application.Name), found \(t ?? "the end")")
            }
            return t
        }
        while let first = tokens.first {
            if first.lowercased() == "count" {
                _ = next()
                guard next()?.lowercased() == "by" else { throw ParseError(description: "expected 'by' after 'count'") }
                countBy.append(try key(next()))
                while tokens.first == "," {
                    _ = next()
                    countBy.append(try key(next()))
                }
                guard tokens.isEmpty else { throw ParseError(description: "nothing may follow the count by list, found \(tokens[0])") }
                break
            }
            var negate = false
            if first.lowercased() == "not" {
                negate = true
                _ = next()
            }
            let k = try key(next())
            guard let op = next() else { throw ParseError(description: "expected an operator after \(k)") }
            var condition: Condition
            switch op.lowercased() {
            case "exists":
                condition = Condition(key: k, type: "Exists", values: [])
            case "in":
                guard next() == "(" else { throw ParseError(description: "expected ( after in") }
                var values: [String] = []
                while let v = next(), v != ")" {
                    if v == "," { continue }
                    values.append(v)
                }
                guard !values.isEmpty else { throw ParseError(description: "in ( ) needs at least one value") }
                condition = Condition(key: k, type: "Equal", values: values)
            case "=", "==", "!=", "<", ">", "^=":
                guard let value = next() else { throw ParseError(description: "expected a value after \(k) \(op)") }
                let type =
                    switch op {
                    case "!=": "NotEqual"
                    case "<": "LessThan"
                    case ">": "GreaterThan"
                    case "^=": "BeginWith"
                    default: "Equal"
                    }
                condition = Condition(key: k, type: type, values: [value])
            default:
                throw ParseError(description: "unknown operator \(op); use =, !=, <, >, ^=, in (...) or exists")
            }
            if negate {
                guard condition.type == "Equal" else { throw ParseError(description: "not takes = or in (...)") }
                condition.type = "NotEqual"
            }
            conditions.append(condition)
            if let joiner = tokens.first {
                guard joiner.lowercased() == "and" || joiner.lowercased() == "count" else {
                    throw ParseError(description: "expected 'and' or 'count by', found \(joiner)")
                }
                if joiner.lowercased() == "and" { _ = next() }
            }
        }
        guard !conditions.isEmpty || !countBy.isEmpty else { throw ParseError(description: "the query is empty") }
        guard conditions.count <= 5 else { throw ParseError(description: "a query has at most 5 conditions") }
        return InventoryQueryText(conditions: conditions, countBy: countBy)
    }

    static func tokenize(_ text: String) throws(ParseError) -> [String] {
        var tokens: [String] = []
        var chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" {
                i += 1
            } else if c == "'" || c == "\"" {
                var j = i + 1
                while j < chars.count && chars[j] != c { j += 1 }
                guard j < chars.count else { throw ParseError(description: "a quoted value is not closed") }
                tokens.append(String(chars[(i + 1)..<j]))
                i = j + 1
            } else if "(),".contains(c) {
                tokens.append(String(c))
                i += 1
            } else if "=!<>^".contains(c) {
                var j = i + 1
                if j < chars.count && chars[j] == "=" { j += 1 }
                tokens.append(String(chars[i..<j]))
                i = j
            } else {
                var j = i
                while j < chars.count && !" \t\n(),=!<>^'\"".contains(chars[j]) { j += 1 }
                tokens.append(String(chars[i..<j]))
                i = j
            }
        }
        chars.removeAll()
        return tokens
    }

    /// The GetInventory request body for this query.
    public var request: JSONValue {
        var fields: [String: JSONValue] = [:]
        if !conditions.isEmpty {
            fields["Filters"] = .array(
                conditions.map {
                    ["Key": .string($0.key), "Type": .string($0.type), "Values": JSONValue($0.values.isEmpty ? ["*"] : $0.values)]
                })
        }
        if !countBy.isEmpty {
            // Nested in order: the first attribute outermost.
            fields["Aggregators"] = [Self.nest(countBy)]
        } else if let typed = conditions.first(where: { $0.type != "NotEqual" && !$0.key.hasPrefix("AWS:InstanceInformation.") }) {
            fields["ResultAttributes"] = [["TypeName": .string(String(typed.key[..<typed.key.lastIndex(of: ".")!]))]]
        }
        return .object(fields)
    }

    static func nest(_ keys: [String]) -> JSONValue {
        guard let first = keys.first else { return .null }
        if keys.count == 1 { return ["Expression": .string(first)] }
        return ["Expression": .string(first), "Aggregators": [nest(Array(keys.dropFirst()))]]
    }
}
