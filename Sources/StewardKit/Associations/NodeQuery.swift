/// A question over node attributes that decides group membership, written as text:
///
///     tag:Role = web and (PlatformName = Ubuntu or PlatformName ^= Debian)
///     AgentVersion >= 1.2 and PingStatus = Online
///     AWS:Application.Name = nginx or Custom:Role.Tier in (web, api)
///     tag:Team exists and not tag:Stage = test
///
/// Keys: `tag:<name>`, the node attributes in ``NodeQuery/attributes`` (case-insensitive), and inventory facts
/// `AWS:<Type>.<Attribute>` or `Custom:<Type>.<Attribute>` (a node matches when one of its entries does).
/// Operators: `=`, `!=`, `<`, `<=`, `>`, `>=` (version-aware for versions), `^=` (begins with), `in (a, b)` and
/// `exists`; `and` binds tighter than `or`; `not` negates; parentheses group.
public indirect enum NodeQuery: Sendable, Hashable {
    case all([NodeQuery])
    case any([NodeQuery])
    case not(NodeQuery)
    case condition(Condition)

    public enum Operator: String, Sendable, Hashable {
        case equal = "="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
        case beginsWith = "^="
        case exists
    }

    public struct Condition: Sendable, Hashable {
        /// `tag:Name`, a node attribute (canonical spelling), or `AWS:Type.Attribute` / `Custom:Type.Attribute`.
        public var key: String
        public var op: Operator
        public var values: [String]

        public init(key: String, op: Operator, values: [String]) {
            self.key = key
            self.op = op
            self.values = values
        }

        public var isInventory: Bool { key.hasPrefix("AWS:") || key.hasPrefix("Custom:") }
        public var tagName: String? { key.hasPrefix("tag:") ? String(key.dropFirst(4)) : nil }
    }

    /// Node attributes a query may name, in their DescribeInstanceInformation spelling.
    public static let attributes = [
        "InstanceId", "PingStatus", "PlatformName", "PlatformType", "PlatformVersion", "AgentVersion", "ComputerName", "IPAddress",
        "ResourceType",
    ]

    /// What a node offers: its id, tags and attributes (keyed by the names in ``attributes``).
    public struct Node: Sendable {
        public var instanceId: String
        public var tags: [String: String]
        public var attributes: [String: String]

        public init(instanceId: String, tags: [String: String], attributes: [String: String]) {
            self.instanceId = instanceId
            self.tags = tags
            self.attributes = attributes
        }
    }

    /// Every condition in the query (for example to answer the inventory ones in bulk first).
    public var conditions: [Condition] {
        switch self {
        case .all(let parts), .any(let parts): parts.flatMap(\.conditions)
        case .not(let inner): inner.conditions
        case .condition(let c): [c]
        }
    }

    /// Whether `node` belongs; inventory conditions are answered by `inventory`.
    public func matches(_ node: Node, inventory: (Condition) -> Bool) -> Bool {
        switch self {
        case .all(let parts): parts.allSatisfy { $0.matches(node, inventory: inventory) }
        case .any(let parts): parts.contains { $0.matches(node, inventory: inventory) }
        case .not(let inner): !inner.matches(node, inventory: inventory)
        case .condition(let c):
            if c.isInventory {
                inventory(c)
            } else if let tag = c.tagName {
                Self.compare(node.tags[tag], c, versions: false)
            } else {
                Self.compare(node.attributes[c.key], c, versions: c.key.hasSuffix("Version"))
            }
        }
    }

    static func compare(_ actual: String?, _ c: Condition, versions: Bool) -> Bool {
        guard let actual else { return false }
        func order(_ value: String) -> Int {
            versions ? VersionOrder.dpkg.compare(actual, value) : (actual < value ? -1 : actual == value ? 0 : 1)
        }
        switch c.op {
        case .exists: return true
        case .equal: return c.values.contains(actual)
        case .notEqual: return !c.values.contains(actual)
        case .beginsWith: return c.values.contains { actual.hasPrefix($0) }
        case .less: return c.values.contains { order($0) < 0 }
        case .lessOrEqual: return c.values.contains { order($0) <= 0 }
        case .greater: return c.values.contains { order($0) > 0 }
        case .greaterOrEqual: return c.values.contains { order($0) >= 0 }
        }
    }

    // MARK: Text

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The canonical text of the query (parses back to the same query).
    public var text: String {
        func quote(_ v: String) -> String {
            v.isEmpty || v.contains(where: { " \t(),=!<>^'\"".contains($0) }) ? (v.contains("'") ? "\"\(v)\"" : "'\(v)'") : v
        }
        switch self {
        case .all(let parts): return parts.map { if case .any = $0 { "(\($0.text))" } else { $0.text } }.joined(separator: " and ")
        case .any(let parts): return parts.map(\.text).joined(separator: " or ")
        case .not(let inner):
            if case .condition = inner { return "not \(inner.text)" }
            return "not (\(inner.text))"
        case .condition(let c):
            switch c.op {
            case .exists: return "\(c.key) exists"
            case .equal where c.values.count > 1: return "\(c.key) in (\(c.values.map(quote).joined(separator: ", ")))"
            default: return "\(c.key) \(c.op.rawValue) \(quote(c.values.first ?? ""))"
            }
        }
    }

    public static func parse(_ text: String) throws(ParseError) -> NodeQuery {
        let tokens: [String]
        do { tokens = try InventoryQueryText.tokenize(text) } catch { throw ParseError(description: error.description) }
        var parser = Parser(tokens: tokens)
        guard !tokens.isEmpty else { throw ParseError(description: "the query is empty") }
        let query = try parser.expression(depth: 0)
        if let extra = parser.peek { throw ParseError(description: "unexpected \(extra) after a complete query") }
        guard query.conditions.count <= 50 else { throw ParseError(description: "a query has at most 50 conditions") }
        return query
    }

    struct Parser {
        var tokens: [String]
        var position = 0

        var peek: String? { position < tokens.count ? tokens[position] : nil }
        mutating func next() -> String? {
            defer { position += 1 }
            return peek
        }
        func isWord(_ word: String) -> Bool { peek?.lowercased() == word }

        mutating func expression(depth: Int) throws(ParseError) -> NodeQuery {
            guard depth < 10 else { throw ParseError(description: "parentheses nest at most 10 deep") }
            var alternatives = [try conjunction(depth: depth)]
            while isWord("or") {
                position += 1
                alternatives.append(try conjunction(depth: depth))
            }
            return alternatives.count == 1 ? alternatives[0] : .any(alternatives)
        }

        mutating func conjunction(depth: Int) throws(ParseError) -> NodeQuery {
            var parts = [try factor(depth: depth)]
            while isWord("and") {
                position += 1
                parts.append(try factor(depth: depth))
            }
            return parts.count == 1 ? parts[0] : .all(parts)
        }

        mutating func factor(depth: Int) throws(ParseError) -> NodeQuery {
            if isWord("not") {
                position += 1
                return .not(try factor(depth: depth))
            }
            if peek == "(" {
                position += 1
                let inner = try expression(depth: depth + 1)
                guard next() == ")" else { throw ParseError(description: "a ( is not closed") }
                return inner
            }
            return .condition(try condition())
        }

        mutating func condition() throws(ParseError) -> Condition {
            guard let raw = next(), !["(", ")", ","].contains(raw) else {
                throw ParseError(description: "expected a key (tag:Name, PlatformName, AWS:Application.Name, ...), found \(peekText)")
            }
            let key = try NodeQuery.canonicalKey(raw)
            guard let op = next() else { throw ParseError(description: "expected an operator after \(key)") }
            switch op.lowercased() {
            case "exists":
                return Condition(key: key, op: .exists, values: [])
            case "in":
                guard next() == "(" else { throw ParseError(description: "expected ( after in") }
                var values: [String] = []
                var closed = false
                while let v = next() {
                    if v == ")" {
                        closed = true
                        break
                    }
                    if v != "," { values.append(v) }
                }
                guard closed else { throw ParseError(description: "in ( is not closed") }
                guard !values.isEmpty else { throw ParseError(description: "in ( ) needs at least one value") }
                return Condition(key: key, op: .equal, values: values)
            default:
                guard let parsed = Operator(rawValue: op == "==" ? "=" : op), parsed != .exists else {
                    throw ParseError(description: "unknown operator \(op); use =, !=, <, <=, >, >=, ^=, in (...) or exists")
                }
                guard let value = next(), !["(", ")", ","].contains(value) else {
                    throw ParseError(description: "expected a value after \(key) \(op)")
                }
                return Condition(key: key, op: parsed, values: [value])
            }
        }

        var peekText: String { position - 1 < tokens.count && position > 0 ? tokens[position - 1] : "the end" }
    }

    static func canonicalKey(_ raw: String) throws(ParseError) -> String {
        if raw.hasPrefix("tag:") {
            guard raw.count > 4 else { throw ParseError(description: "tag: needs a tag name") }
            return raw
        }
        if raw.hasPrefix("AWS:") || raw.hasPrefix("Custom:") {
            guard let dot = raw.lastIndex(of: "."), raw[raw.index(after: dot)...].count > 0, raw[..<dot].contains(":") else {
                throw ParseError(description: "an inventory key is TypeName.Attribute (for example AWS:Application.Name), not \(raw)")
            }
            return raw
        }
        if let name = attributes.first(where: { $0.lowercased() == raw.lowercased() }) { return name }
        throw ParseError(
            description: "unknown key \(raw); use tag:<name>, \(attributes.joined(separator: ", ")), or AWS:<Type>.<Attribute>")
    }
}
