/// An AWSTOE component document (schema 1.0), validated.
///
/// Built from the document's JSON value (YAML is turned into JSON by StewardDocuments); every rule that
/// `awstoe validate` checks is checked here, and each violation names the field.
public struct ComponentDocument: Sendable, Codable, Hashable {
    public var name: String?
    public var description: String?
    public var parameters: [Variable]
    public var constants: [Variable]
    public var phases: [Phase]

    public struct Variable: Sendable, Codable, Hashable {
        public var name: String
        /// The default of a parameter, or the value of a constant.
        public var value: String?
        public var description: String?
    }

    public struct Phase: Sendable, Codable, Hashable {
        public var name: String
        public var steps: [Step]
    }

    public struct Step: Sendable, Codable, Hashable {
        public var name: String
        public var action: String
        public var timeoutSeconds: Int?
        public var onFailure: FailurePolicy
        public var maxAttempts: Int
        public var condition: JSONValue?
        public var loop: JSONValue?
        public var inputs: JSONValue
    }

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The action modules this runner implements.
    public static let actions: Set<String> = [
        "ExecuteBash", "ExecuteBinary", "ExecuteDocument", "CreateFile", "AppendFile", "CreateFolder", "CreateSymlink", "CopyFile",
        "CopyFolder", "MoveFile", "MoveFolder", "DeleteFile", "DeleteFolder", "ReadFile", "ListFiles", "SetFilePermissions",
        "SetFolderPermissions", "SetFileOwner", "SetFolderOwner", "WebDownload", "UpdateOS", "Reboot", "Assert",
    ]

    static let defaultTimeout = 7200

    public init(_ json: JSONValue) throws(Invalid) {
        guard case .object(let root) = json else { throw Invalid("the document must be a map") }
        switch root["schemaVersion"] {
        case .number(let n)? where n == 1.0: break
        case .string(let s)? where s == "1.0" || s == "1": break
        case nil: throw Invalid("schemaVersion is missing; it must be 1.0")
        case let other?: throw Invalid("schemaVersion \(other.textValue) is not supported; it must be 1.0")
        }
        name = root["name"]?.stringValue
        description = root["description"]?.stringValue
        parameters = try Self.variables(root["parameters"], field: "parameters", valueKey: "default")
        constants = try Self.variables(root["constants"], field: "constants", valueKey: "value")
        var seen = Set<String>()
        for v in parameters + constants where !seen.insert(v.name).inserted {
            throw Invalid("the name \(v.name) is declared twice among parameters and constants")
        }
        for c in constants where c.value == nil { throw Invalid("constants.\(c.name): value is required") }
        guard case .array(let list)? = root["phases"], !list.isEmpty else { throw Invalid("phases must be a non-empty list") }
        var phaseNames = Set<String>()
        var phases: [Phase] = []
        for (i, item) in list.enumerated() {
            guard let phaseName = item["name"]?.stringValue, !phaseName.isEmpty else { throw Invalid("phases[\(i)].name is required") }
            guard phaseNames.insert(phaseName).inserted else { throw Invalid("the phase \(phaseName) is declared twice") }
            guard case .array(let stepList)? = item["steps"], !stepList.isEmpty else {
                throw Invalid("phases.\(phaseName).steps must be a non-empty list")
            }
            var stepNames = Set<String>()
            var loopNames = Set<String>()
            var steps: [Step] = []
            for (j, raw) in stepList.enumerated() {
                let step = try Self.step(raw, at: "phases.\(phaseName).steps[\(j)]")
                guard stepNames.insert(step.name).inserted else {
                    throw Invalid("the step \(step.name) is declared twice in phase \(phaseName)")
                }
                if let loopName = step.loop?["name"]?.stringValue, !loopNames.insert(loopName).inserted {
                    throw Invalid("the loop name \(loopName) is used twice in phase \(phaseName)")
                }
                steps.append(step)
            }
            phases.append(Phase(name: phaseName, steps: steps))
        }
        guard phases.contains(where: { ["build", "validate", "test"].contains($0.name) }) else {
            throw Invalid("the document needs at least one of the phases build, validate and test")
        }
        self.phases = phases
    }

    static func variables(_ value: JSONValue?, field: String, valueKey: String) throws(Invalid) -> [Variable] {
        guard let value, !value.isNull else { return [] }
        guard case .array(let items) = value else { throw Invalid("\(field) must be a list of one-key maps") }
        var out: [Variable] = []
        for item in items {
            guard case .object(let map) = item, map.count == 1, let (name, spec) = map.first else {
                throw Invalid("\(field) must be a list of one-key maps")
            }
            guard (3...128).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else { throw Invalid("\(field).\(name): a name is 3 to 128 letters, digits, '_' or '-'") }
            guard spec["type"]?.stringValue == "string" else { throw Invalid("\(field).\(name).type is required and must be string") }
            let raw = spec[valueKey]
            let text: String? =
                switch raw {
                case .string(let s)?: s
                case .number, .bool: raw!.textValue
                default: nil
                }
            out.append(Variable(name: name, value: text, description: spec["description"]?.stringValue))
        }
        return out
    }

    static func step(_ raw: JSONValue, at path: String) throws(Invalid) -> Step {
        guard case .object(let map) = raw else { throw Invalid("\(path) must be a map") }
        guard let name = map["name"]?.stringValue, !name.isEmpty else { throw Invalid("\(path).name is required") }
        let at = "step \(name)"
        guard let action = map["action"]?.stringValue else { throw Invalid("\(at): action is required") }
        guard actions.contains(action) else { throw Invalid("\(at): the action \(action) is not supported") }
        var timeout: Int? = defaultTimeout
        if let t = map["timeoutSeconds"] {
            guard let n = integer(t), n == -1 || n > 0 else { throw Invalid("\(at): timeoutSeconds must be -1 or a positive whole number") }
            timeout = n == -1 ? nil : n
        }
        if action == "ExecuteDocument" { timeout = nil }
        var policy = FailurePolicy.abort
        if let f = map["onFailure"] {
            guard let text = f.stringValue, let p = FailurePolicy(componentWord: text) else {
                throw Invalid("\(at): onFailure must be Abort, Continue or Ignore")
            }
            policy = p
        }
        var attempts = 1
        if let a = map["maxAttempts"] {
            guard let n = integer(a), n >= 1 else { throw Invalid("\(at): maxAttempts must be a whole number of at least 1") }
            attempts = action == "ExecuteDocument" ? 1 : n
        }
        let inputs = map["inputs"] ?? .null
        if inputs.isNull, !["Reboot", "UpdateOS"].contains(action) { throw Invalid("\(at): inputs is required") }
        if let condition = map["if"] { try checkCondition(condition, at: at, depth: 0) }
        if let loop = map["loop"] { try checkLoop(loop, at: at) }
        return Step(
            name: name, action: action, timeoutSeconds: timeout, onFailure: policy, maxAttempts: attempts, condition: map["if"],
            loop: map["loop"], inputs: inputs)
    }

    static func integer(_ v: JSONValue) -> Int? {
        switch v {
        case .number(let n) where n == n.rounded(): Int(n)
        case .string(let s): Int(s.trimmingSpaces)
        default: nil
        }
    }

    static let logical: Set<String> = ["and", "or", "not"]

    static func checkCondition(_ c: JSONValue, at: String, depth: Int) throws(Invalid) {
        guard case .object(let map) = c else { throw Invalid("\(at): if must be a map") }
        let keys = Set(map.keys).subtracting(["then", "else", "value", "path"])
        guard keys.count == 1, let op = keys.first else { throw Invalid("\(at): if needs exactly one operator") }
        for key in ["then", "else"] {
            if let a = map[key]?.stringValue, !["Execute", "Skip", "Abort"].contains(a) {
                throw Invalid("\(at): if.\(key) must be Execute, Skip or Abort")
            }
        }
        if logical.contains(op) {
            guard depth < 4 else { throw Invalid("\(at): logical operators nest at most 4 levels") }
            switch (op, map[op]!) {
            case ("not", .array(let items)) where items.count == 1:
                try checkCondition(items[0], at: at, depth: depth + 1)
            case ("not", .object):
                try checkCondition(map[op]!, at: at, depth: depth + 1)
            case (_, .array(let items)) where !items.isEmpty:
                for item in items { try checkCondition(item, at: at, depth: depth + 1) }
            default:
                throw Invalid("\(at): \(op) takes a list of conditions")
            }
        } else {
            guard Condition.operators.contains(op) else { throw Invalid("\(at): unknown comparison operator \(op)") }
            if op.hasPrefix("file"), op.hasSuffix("Equals") {
                if map["path"] == nil { throw Invalid("\(at): \(op) needs a path") }
            } else if Condition.twoValue.contains(op), map["value"] == nil {
                throw Invalid("\(at): \(op) needs a value")
            }
        }
    }

    static func checkLoop(_ loop: JSONValue, at: String) throws(Invalid) {
        guard case .object(let map) = loop else { throw Invalid("\(at): loop must be a map") }
        if let name = map["name"] {
            guard let s = name.stringValue, !s.isEmpty, !["loop"].contains(s) else { throw Invalid("\(at): loop.name must be a name") }
        }
        if let spec = map["for"] {
            guard let start = spec["start"].flatMap(integer), let end = spec["end"].flatMap(integer),
                let by = spec["updateBy"].flatMap(integer)
            else { throw Invalid("\(at): loop.for needs whole numbers start, end and updateBy") }
            guard by != 0, (end - start).signum() * by.signum() >= 0 else {
                throw Invalid("\(at): loop.for from \(start) to \(end) by \(by) would never end")
            }
            if map["forEach"] != nil { throw Invalid("\(at): a loop has either for or forEach") }
        } else if let each = map["forEach"] {
            switch each {
            case .array: break
            case .object(let m):
                guard m["list"]?.stringValue != nil else { throw Invalid("\(at): loop.forEach.list is required") }
                if let d = m["delimiter"], d.stringValue?.count != 1 { throw Invalid("\(at): loop.forEach.delimiter is one character") }
            default: throw Invalid("\(at): loop.forEach must be a list or a map with list and delimiter")
            }
        } else {
            throw Invalid("\(at): a loop needs for or forEach")
        }
    }
}

/// What happens when a step has failed all its attempts.
public enum FailurePolicy: String, Sendable, Codable, Hashable {
    /// Stop the run; the document fails.
    case abort
    /// Go on with the next step; the document still fails.
    case `continue`
    /// Go on; the step counts as IgnoredFailure and the document as SuccessWithIgnoredFailure.
    case ignore
    /// SSM `onFailure: successAndExit`: stop, and report the step as a success.
    case successAndExit

    public init?(componentWord: String) {
        switch componentWord.lowercased() {
        case "abort": self = .abort
        case "continue": self = .continue
        case "ignore": self = .ignore
        default: return nil
        }
    }

    public var componentWord: String {
        switch self {
        case .abort: "Abort"
        case .continue: "Continue"
        case .ignore: "Ignore"
        case .successAndExit: "successAndExit"
        }
    }
}

/// The comparison operators of AWSTOE conditions, and their evaluation over resolved values.
public enum Condition {
    public static let twoValue: Set<String> = [
        "stringEquals", "stringLessThan", "stringLessThanEquals", "stringGreaterThan", "stringGreaterThanEquals", "patternMatches",
        "numberEquals", "numberLessThan", "numberLessThanEquals", "numberGreaterThan", "numberGreaterThanEquals", "fileMD5Equals",
        "fileSHA1Equals", "fileSHA256Equals", "fileSHA512Equals",
    ]
    public static let operators: Set<String> = twoValue.union([
        "stringIsEmpty", "stringIsWhitespace", "fileExists", "folderExists", "binaryExists",
    ])
}
