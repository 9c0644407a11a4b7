/// Typed access to the members of an AWS JSON request body.
///
/// A member of the wrong JSON type is a `SerializationException`, as AWS answers it;
/// a missing required member or a value out of range is a `ValidationException`.
public struct RequestBody: Sendable {
    public private(set) var fields: [String: JSONValue]

    public init(_ value: JSONValue) throws(AWSError) {
        guard case .object(let fields) = value else {
            throw .serialization("The request body must be a JSON object.")
        }
        self.fields = fields
    }

    public init(bytes: some Collection<UInt8>) throws(AWSError) {
        if bytes.isEmpty {
            try self.init(JSONValue.object([:]))
            return
        }
        let value: JSONValue
        do { value = try JSONReader.parse(bytes) } catch {
            throw .serialization("Start of structure or map found where not expected, or the body is not valid JSON.")
        }
        try self.init(value)
    }

    public func has(_ name: String) -> Bool {
        if let v = fields[name], !v.isNull { return true }
        return false
    }

    private func present(_ name: String) -> JSONValue? {
        guard let v = fields[name], !v.isNull else { return nil }
        return v
    }

    private func mismatch(_ name: String, _ expected: String) -> AWSError {
        .serialization("Member \(name) must be \(expected).")
    }

    public func string(_ name: String) throws(AWSError) -> String? {
        guard let v = present(name) else { return nil }
        guard case .string(let s) = v else { throw mismatch(name, "a string") }
        return s
    }

    public func requiredString(_ name: String) throws(AWSError) -> String {
        guard let s = try string(name) else {
            throw .validation(
                "1 validation error detected: Value null at '\(lowerFirst(name))' failed to satisfy constraint: Member must not be null")
        }
        return s
    }

    public func int(_ name: String) throws(AWSError) -> Int? {
        guard let v = present(name) else { return nil }
        guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e15 else { throw mismatch(name, "an integer") }
        return Int(n)
    }

    public func bool(_ name: String) throws(AWSError) -> Bool? {
        guard let v = present(name) else { return nil }
        guard case .bool(let b) = v else { throw mismatch(name, "a boolean") }
        return b
    }

    public func stringList(_ name: String) throws(AWSError) -> [String]? {
        guard let v = present(name) else { return nil }
        guard case .array(let items) = v else { throw mismatch(name, "a list of strings") }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw mismatch(name, "a list of strings") }
            out.append(s)
        }
        return out
    }

    public func objectList(_ name: String) throws(AWSError) -> [RequestBody]? {
        guard let v = present(name) else { return nil }
        guard case .array(let items) = v else { throw mismatch(name, "a list of structures") }
        var out: [RequestBody] = []
        for item in items {
            guard case .object(let o) = item else { throw mismatch(name, "a list of structures") }
            out.append(try RequestBody(.object(o)))
        }
        return out
    }

    public func object(_ name: String) throws(AWSError) -> RequestBody? {
        guard let v = present(name) else { return nil }
        guard case .object = v else { throw mismatch(name, "a structure") }
        return try RequestBody(v)
    }

    /// A map of string to list of strings, the shape of SSM `Parameters`.
    public func parameterMap(_ name: String) throws(AWSError) -> [String: [String]]? {
        guard let v = present(name) else { return nil }
        guard case .object(let o) = v else { throw mismatch(name, "a map of string lists") }
        var out: [String: [String]] = [:]
        for (k, item) in o {
            guard case .array(let values) = item else { throw mismatch(name, "a map of string lists") }
            var list: [String] = []
            for value in values {
                guard case .string(let s) = value else { throw mismatch(name, "a map of string lists") }
                list.append(s)
            }
            out[k] = list
        }
        return out
    }

    /// `MaxResults` checked against the operation's range.
    public func maxResults(range: ClosedRange<Int>, default fallback: Int) throws(AWSError) -> Int {
        guard let n = try int("MaxResults") else { return fallback }
        guard range.contains(n) else {
            throw .validation(
                "1 validation error detected: Value '\(n)' at 'maxResults' failed to satisfy constraint: Member must have value between \(range.lowerBound) and \(range.upperBound)"
            )
        }
        return n
    }

    private func lowerFirst(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.lowercased() + s.dropFirst()
    }
}

/// A `{Key, Value}` tag as AWS sends it.
public struct Tag: Sendable, Hashable, Codable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    public var json: JSONValue { ["Key": .string(key), "Value": .string(value)] }

    public static func list(from body: RequestBody, member: String = "Tags") throws(AWSError) -> [Tag] {
        guard let items = try body.objectList(member) else { return [] }
        var tags: [Tag] = []
        for item in items {
            let key = try item.requiredString("Key")
            let value = try item.string("Value") ?? ""
            guard (1...128).contains(key.count) else { throw .validation("Tag keys must be 1 to 128 characters.") }
            guard value.count <= 256 else { throw .validation("Tag values must be at most 256 characters.") }
            tags.append(Tag(key: key, value: value))
        }
        guard tags.count <= 1000 else { throw AWSError("TooManyTagsError", "Too many tags.") }
        return tags
    }
}
