import StewardKit

/// What to gather: the parameters of the AWS-GatherSoftwareInventory document.
public struct GatherPolicy: Sendable, Codable, Hashable {
    public var applications = true
    public var awsComponents = true
    public var networkConfig = true
    public var files: [FileFilter] = []
    public var services = true
    public var instanceDetailedInformation = true
    public var customInventory = true
    public var customInventoryDirectory = "/var/lib/steward/inventory/custom"

    public init() {}

    /// From the document parameters.
    ///
    /// Switches take "Enabled"/"Disabled", as a string or a list of one string. `files` is the JSON text AWS uses
    /// (a list of `{Path, Pattern: [..], Recursive, DirScanLimit}`), as a string, a list of one string, or the list
    /// itself. Names match whatever their case, as the SSM agent's decoder does; other parameters (windowsUpdates,
    /// windowsRoles, windowsRegistry, billingInfo: Windows or EC2 only) are ignored.
    public init(parameters: [String: JSONValue]) throws(ParameterError) {
        for (name, value) in parameters {
            switch name.lowercased() {
            case "applications": applications = try Self.switchValue(name, value)
            case "awscomponents": awsComponents = try Self.switchValue(name, value)
            case "networkconfig": networkConfig = try Self.switchValue(name, value)
            case "services": services = try Self.switchValue(name, value)
            case "instancedetailedinformation": instanceDetailedInformation = try Self.switchValue(name, value)
            case "custominventory": customInventory = try Self.switchValue(name, value)
            case "custominventorydirectory":
                let folder = try Self.single(name, value)
                if !folder.isEmpty { customInventoryDirectory = folder }
            case "files": files = try FileFilter.list(from: value)
            default: continue
            }
        }
    }

    /// A document parameter the inventory plugin cannot use, named for the person who wrote the association.
    public struct ParameterError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    static func switchValue(_ name: String, _ value: JSONValue) throws(ParameterError) -> Bool {
        switch try single(name, value).lowercased() {
        case "enabled": return true
        case "disabled", "": return false
        default: throw ParameterError(description: "the parameter \(name) must be Enabled or Disabled")
        }
    }

    /// A string parameter as AWS passes it: the string, or a list holding it.
    static func single(_ name: String, _ value: JSONValue) throws(ParameterError) -> String {
        switch value {
        case .string(let text): return text
        case .array(let items) where items.isEmpty: return ""
        case .array(let items) where items.count == 1:
            if case .string(let text) = items[0] { return text }
        default: break
        }
        throw ParameterError(description: "the parameter \(name) must be a string, not a \(value.kindName)")
    }
}

/// Which files AWS:File reports: the ones under `path` whose names match any of `patterns`.
public struct FileFilter: Sendable, Codable, Hashable {
    public var path: String
    /// fnmatch patterns matched against the file name, not the path.
    public var patterns: [String]
    public var recursive: Bool
    /// How many folders to read at most; the SSM agent's default is 5,000.
    public var dirScanLimit: Int?

    public init(path: String, patterns: [String], recursive: Bool = false, dirScanLimit: Int? = nil) {
        self.path = path
        self.patterns = patterns
        self.recursive = recursive
        self.dirScanLimit = dirScanLimit
    }

    static func list(from value: JSONValue) throws(GatherPolicy.ParameterError) -> [FileFilter] {
        let parsed: JSONValue
        if case .array(let items) = value, items.allSatisfy({ $0.objectValue != nil }) {
            parsed = value
        } else {
            let text = try GatherPolicy.single("files", value)
            if text.trimmingSpaces.isEmpty { return [] }
            do { parsed = try JSONReader.parse(text) } catch {
                throw GatherPolicy.ParameterError(description: "the parameter files is not JSON: \(error)")
            }
        }
        guard let filters = parsed.arrayValue else {
            throw GatherPolicy.ParameterError(description: "the parameter files must be a list of {Path, Pattern, Recursive}")
        }
        var out: [FileFilter] = []
        for (index, filter) in filters.enumerated() {
            out.append(try FileFilter(filter, index: index))
        }
        return out
    }

    init(_ value: JSONValue, index: Int) throws(GatherPolicy.ParameterError) {
        func fail(_ what: String) -> GatherPolicy.ParameterError {
            GatherPolicy.ParameterError(description: "files[\(index)]: \(what)")
        }
        guard let fields = value.objectValue else { throw fail("must be a map, not a \(value.kindName)") }
        guard let path = fields["Path"]?.stringValue, !path.isEmpty else { throw fail("Path is required") }
        let patterns: [String]
        switch fields["Pattern"] {
        case .array(let items)?:
            patterns = items.compactMap(\.stringValue)
            if patterns.count != items.count { throw fail("Pattern must be a list of strings") }
        case .string(let one)?: patterns = [one]
        default: throw fail("Pattern is required: a list of file name patterns")
        }
        if patterns.isEmpty { throw fail("Pattern must name at least one pattern") }
        let recursive: Bool
        switch fields["Recursive"] {
        case nil, .null?: recursive = false
        case .bool(let flag)?: recursive = flag
        case .string(let text)? where ["true", "false"].contains(text.lowercased()): recursive = text.lowercased() == "true"
        default: throw fail("Recursive must be true or false")
        }
        var limit: Int?
        switch fields["DirScanLimit"] {
        case nil, .null?: limit = nil
        case .number(let n)? where n >= 0 && n == n.rounded() && n < 1e9: limit = Int(n)
        case .string(let text)? where Int(text).map({ $0 >= 0 }) == true: limit = Int(text)
        default: throw fail("DirScanLimit must be a whole number")
        }
        self.init(path: path, patterns: patterns, recursive: recursive, dirScanLimit: limit)
    }
}
