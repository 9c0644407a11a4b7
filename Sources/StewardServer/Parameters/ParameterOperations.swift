import Foundation
import StewardKit
import StewardStore
import Synchronization

/// The latest version of recently read parameters, for a server that is the database's only writer (SQLite).
/// With PostgreSQL several replicas may write, so nothing is cached there.
final class LatestParameters: Sendable {
    private struct Table {
        var entries: [String: ParameterVersion] = [:]
        /// Bumped by every write, so a read that began before a write cannot cache what it saw.
        var generation = 0
    }

    private let table = Mutex(Table())
    let enabled: Bool

    init(enabled: Bool) { self.enabled = enabled }

    /// The cached version, or nil and the generation to pass to ``put(_:seen:)`` after reading the database.
    func get(_ region: String, _ name: String) -> (ParameterVersion?, Int) {
        guard enabled else { return (nil, 0) }
        return table.withLock { ($0.entries[region + "\u{0}" + name], $0.generation) }
    }

    func put(_ p: ParameterVersion, seen generation: Int) {
        guard enabled else { return }
        table.withLock { t in
            guard t.generation == generation else { return }
            if t.entries.count > 100_000 { t.entries.removeAll() }
            t.entries[p.region + "\u{0}" + p.name] = p
        }
    }

    func forget(_ region: String, _ name: String) {
        guard enabled else { return }
        table.withLock { t in
            t.generation += 1
            t.entries[region + "\u{0}" + name] = nil
        }
    }
}

/// Parameter Store: PutParameter, GetParameter(s), GetParametersByPath, DeleteParameter(s), DescribeParameters,
/// GetParameterHistory, LabelParameterVersion and UnlabelParameterVersion.
struct ParameterOperations: Sendable {
    let store: Store
    let vault: ParameterVault
    let pager: Pager
    let latest: LatestParameters

    init(store: Store, vault: ParameterVault, pager: Pager) {
        self.store = store
        self.vault = vault
        self.pager = pager
        self.latest = LatestParameters(enabled: store.engine == .sqlite)
    }

    func register(into ops: inout [String: Operation]) {
        ops["PutParameter"] = putParameter
        ops["GetParameter"] = getParameter
        ops["GetParameters"] = getParameters
        ops["GetParametersByPath"] = getParametersByPath
        ops["DeleteParameter"] = deleteParameter
        ops["DeleteParameters"] = deleteParameters
        ops["DescribeParameters"] = describeParameters
        ops["GetParameterHistory"] = getParameterHistory
        ops["LabelParameterVersion"] = labelParameterVersion
        ops["UnlabelParameterVersion"] = unlabelParameterVersion
    }

    static let types: Set<String> = ["String", "StringList", "SecureString"]

    // MARK: Names

    /// Checks a parameter name against the AWS rules.
    static func checkName(_ name: String) throws(AWSError) {
        guard !name.isEmpty, name.count <= 1011 else {
            throw AWSError.validation("Parameter name must be 1 to 1011 characters long.")
        }
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-/".contains($0)) }) else {
            throw AWSError.validation(
                "Parameter name: can only contain letters, numbers and the symbols ., -, _ and /; \(name) is not valid.")
        }
        if name.contains("/") {
            guard name.hasPrefix("/") else { throw AWSError.validation("Parameter name must be a fully qualified name.") }
            guard !name.contains("//"), !name.hasSuffix("/") else {
                throw AWSError.validation("Parameter name: \(name) has an empty level.")
            }
            guard name.filter({ $0 == "/" }).count <= 15 else {
                throw AWSError("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of 15 levels.")
            }
        }
        let bare = (name.hasPrefix("/") ? String(name.dropFirst()) : name).lowercased()
        if bare.hasPrefix("aws") || bare.hasPrefix("ssm") {
            throw AWSError.validation(
                "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_"
            )
        }
    }

    /// `name`, `name:version` or `name:label`.
    struct Selector {
        var name: String
        var version: Int?
        var label: String?
        var text: String?

        init(_ raw: String) {
            guard let colon = raw.firstIndex(of: ":") else {
                name = raw
                return
            }
            name = String(raw[..<colon])
            let rest = String(raw[raw.index(after: colon)...])
            text = ":" + rest
            if let n = Int(rest) { version = n } else { label = rest }
        }
    }

    /// The version a selector picks, or `ParameterNotFound` / `ParameterVersionNotFound`.
    func resolve(_ raw: String, region: String) async throws -> (ParameterVersion, Selector) {
        let selector = Selector(raw)
        if selector.version == nil && selector.label == nil {
            let (cached, generation) = latest.get(region, selector.name)
            if let cached { return (cached, selector) }
            guard let found = try await store.latestParameter(region: region, name: selector.name) else {
                throw AWSError("ParameterNotFound", "Parameter \(raw) not found.")
            }
            latest.put(found, seen: generation)
            return (found, selector)
        }
        let versions = try await store.parameterVersions(region: region, name: selector.name)
        guard let latest = versions.last else { throw AWSError("ParameterNotFound", "Parameter \(raw) not found.") }
        if let version = selector.version {
            guard let v = versions.first(where: { $0.version == version }) else {
                throw AWSError(
                    "ParameterVersionNotFound",
                    "Systems Manager could not find version \(version) of \(selector.name). Verify the version and try again.")
            }
            return (v, selector)
        }
        if let label = selector.label {
            guard let v = versions.first(where: { $0.labels.contains(label) }) else {
                throw AWSError(
                    "ParameterVersionNotFound", "Systems Manager could not find a version of \(selector.name) labelled \(label).")
            }
            return (v, selector)
        }
        return (latest, selector)
    }

    func arn(_ ctx: APIContext, _ name: String) -> String {
        Self.arn(region: ctx.region, accountId: ctx.accountId, name)
    }

    static func arn(region: String, accountId: String, _ name: String) -> String {
        "arn:aws:ssm:\(region):\(accountId):parameter" + (name.hasPrefix("/") ? name : "/" + name)
    }

    /// The value as the API shows it: decrypted only when asked.
    func shownValue(_ p: ParameterVersion, decrypt: Bool) async throws -> String {
        guard p.type == "SecureString" else { return p.value }
        return decrypt ? try await vault.open(p.value, region: p.region) : ParameterVault.ciphertext(p.value)
    }

    func keyName(_ p: ParameterVersion) -> JSONValue {
        guard p.type == "SecureString", let id = p.keyId else { return .null }
        return .string(id)
    }

    func parameterJSON(_ p: ParameterVersion, _ ctx: APIContext, decrypt: Bool, selector: String? = nil) async throws -> JSONValue {
        Self.parameterJSON(p, value: try await shownValue(p, decrypt: decrypt), arn: arn(ctx, p.name), selector: selector)
    }

    static func parameterJSON(_ p: ParameterVersion, value: String, arn: String, selector: String?) -> JSONValue {
        .compact([
            "Name": .string(p.name), "Type": .string(p.type), "Value": .string(value), "Version": JSONValue(p.version),
            "Selector": JSONValue(selector), "LastModifiedDate": .number(p.lastModified), "ARN": .string(arn),
            "DataType": .string(p.dataType),
        ])
    }

    /// GetParameter answered from memory without waiting for anything, for requests served on the network thread:
    /// nil unless the request names only the latest version of a parameter whose row (and, to decrypt, whose key)
    /// is already in memory. Whatever it answers, ``getParameter(_:_:)`` would have answered the same.
    func getParameterFromMemory(_ body: StewardKit.RequestBody, region: String, accountId: String) -> JSONValue? {
        guard body.fields.keys.allSatisfy({ $0 == "Name" || $0 == "WithDecryption" }),
            case .string(let name)? = body.fields["Name"], !name.contains(":")
        else { return nil }
        let decrypt: Bool
        switch body.fields["WithDecryption"] {
        case nil, .null?: decrypt = false
        case .bool(let flag)?: decrypt = flag
        default: return nil
        }
        guard let p = latest.get(region, name).0 else { return nil }
        let value: String
        if p.type != "SecureString" {
            value = p.value
        } else if decrypt {
            guard let plain = vault.openWithKnownKey(p.value, region: region) else { return nil }
            value = plain
        } else {
            value = ParameterVault.ciphertext(p.value)
        }
        return [
            "Parameter": Self.parameterJSON(p, value: value, arn: Self.arn(region: region, accountId: accountId, p.name), selector: nil)
        ]
    }

    // MARK: Writing

    func putParameter(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        try Self.checkName(name)
        let value = try body.requiredString("Value")
        let overwrite = try body.bool("Overwrite") ?? false
        let existing = try await store.parameterVersions(region: ctx.region, name: name).last
        let type = try body.string("Type") ?? existing?.type ?? "String"
        guard Self.types.contains(type) else {
            throw AWSError(
                "UnsupportedParameterType", "The parameter type \(type) is not supported; use String, StringList or SecureString.")
        }
        if let existing, !overwrite {
            throw AWSError(
                "ParameterAlreadyExists",
                "The parameter \(existing.name) already exists. To overwrite this value, set the overwrite option in the request to true.")
        }
        var tier = try body.string("Tier") ?? existing?.tier ?? "Standard"
        switch tier {
        case "Standard", "Advanced": break
        case "Intelligent-Tiering": tier = value.count > 4096 ? "Advanced" : (existing?.tier ?? "Standard")
        default: throw AWSError.validation("Tier must be Standard, Advanced or Intelligent-Tiering.")
        }
        if existing?.tier == "Advanced" && tier == "Standard" {
            throw AWSError.validation("An Advanced parameter cannot be changed back to the Standard tier.")
        }
        let limit = tier == "Advanced" ? 8192 : 4096
        guard !value.isEmpty, value.count <= limit else {
            throw AWSError.validation("Parameter value must be 1 to \(limit) characters for the \(tier) tier.")
        }
        let dataType = try body.string("DataType") ?? "text"
        guard dataType == "text" else { throw AWSError.validation("DataType \(dataType) is not supported; use text.") }
        let description = try body.string("Description") ?? (overwrite ? existing?.description : nil)
        if let description, description.count > 1024 { throw AWSError.validation("Description must be at most 1024 characters.") }
        let allowedPattern = try body.string("AllowedPattern") ?? (overwrite ? existing?.allowedPattern : nil)
        if let allowedPattern {
            guard allowedPattern.count <= 1024, let re = try? NSRegularExpression(pattern: "^(?:\(allowedPattern))$") else {
                throw AWSError("InvalidAllowedPatternException", "The request does not meet the regular expression requirement.")
            }
            guard re.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil else {
                throw AWSError(
                    "ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: \(allowedPattern)")
            }
        }
        let tags = try Tag.list(from: body)
        if !tags.isEmpty && overwrite && existing != nil {
            throw AWSError.validation("Tags can only be given when a parameter is created; use AddTagsToResource to change them.")
        }
        var stored = value
        var keyId: String?
        if type == "SecureString" {
            let key = try await vault.key(region: ctx.region, named: try body.string("KeyId") ?? existing?.keyId)
            stored = try vault.seal(value, with: key)
            keyId = key.alias ?? key.id
        } else if body.has("KeyId") {
            throw AWSError.validation("KeyId can only be given for a SecureString parameter.")
        }
        let version = ParameterVersion(
            region: ctx.region, name: name, version: 0, type: type, value: stored, keyId: keyId, description: description,
            allowedPattern: allowedPattern, tier: tier, dataType: dataType, lastModified: ctx.nowSeconds,
            lastModifiedUser: "arn:aws:iam::\(ctx.accountId):user/steward", labels: [])
        self.latest.forget(ctx.region, name)
        defer { self.latest.forget(ctx.region, name) }
        switch try await store.putParameter(version, overwrite: overwrite) {
        case .stored(let p):
            if !tags.isEmpty { _ = try await store.addTags(region: ctx.region, type: "Parameter", id: name, tags: tags) }
            return ["Version": JSONValue(p.version), "Tier": .string(p.tier)]
        case .alreadyExists:
            throw AWSError(
                "ParameterAlreadyExists",
                "The parameter \(name) already exists. To overwrite this value, set the overwrite option in the request to true.")
        case .versionLimit:
            throw AWSError(
                "ParameterMaxVersionLimitExceeded",
                "You attempted to create a new version of \(name) by calling the PutParameter API with the overwrite flag. Version 1, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again."
            )
        }
    }

    func deleteParameter(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        defer { self.latest.forget(ctx.region, name) }
        guard try await store.deleteParameter(region: ctx.region, name: name) else {
            throw AWSError("ParameterNotFound", "Parameter \(name) not found.")
        }
        return [:]
    }

    func deleteParameters(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let names = try body.stringList("Names") ?? []
        guard (1...10).contains(names.count) else { throw AWSError.validation("Names must hold 1 to 10 names.") }
        var deleted: [JSONValue] = []
        var invalid: [JSONValue] = []
        for name in names {
            defer { self.latest.forget(ctx.region, name) }
            if try await store.deleteParameter(region: ctx.region, name: name) {
                deleted.append(.string(name))
            } else {
                invalid.append(.string(name))
            }
        }
        return ["DeletedParameters": .array(deleted), "InvalidParameters": .array(invalid)]
    }

    // MARK: Reading

    func getParameter(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (p, selector) = try await resolve(try body.requiredString("Name"), region: ctx.region)
        return ["Parameter": try await parameterJSON(p, ctx, decrypt: try body.bool("WithDecryption") ?? false, selector: selector.text)]
    }

    func getParameters(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let names = try body.stringList("Names") ?? []
        guard (1...10).contains(names.count) else { throw AWSError.validation("Names must hold 1 to 10 names.") }
        let decrypt = try body.bool("WithDecryption") ?? false
        var found: [JSONValue] = []
        var invalid: [JSONValue] = []
        for name in names {
            do {
                let (p, selector) = try await resolve(name, region: ctx.region)
                found.append(try await parameterJSON(p, ctx, decrypt: decrypt, selector: selector.text))
            } catch let error as AWSError where error.code == "ParameterNotFound" || error.code == "ParameterVersionNotFound" {
                invalid.append(.string(name))
            }
        }
        return ["Parameters": .array(found), "InvalidParameters": .array(invalid)]
    }

    func getParametersByPath(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var path = try body.requiredString("Path")
        guard path.hasPrefix("/") else { throw AWSError.validation("The path must start with a forward slash (/).") }
        if !path.hasSuffix("/") { path += "/" }
        let recursive = try body.bool("Recursive") ?? false
        let decrypt = try body.bool("WithDecryption") ?? false
        var items = try await store.latestParameters(region: ctx.region).filter { p in
            guard p.name.hasPrefix(path) else { return false }
            return recursive || !p.name.dropFirst(path.count).contains("/")
        }
        let filters = try parameterFilters(body, allowed: ["Type", "KeyId", "Label"])
        items = try await apply(filters, to: items, region: ctx.region)
        let page = try pager.page(
            items, body: body, range: 1...10, defaultSize: 10, query: "params-path:\(ctx.region):\(body.pagingQuery)", key: \.name)
        var out: [JSONValue] = []
        for p in page.items { out.append(try await parameterJSON(p, ctx, decrypt: decrypt)) }
        return .compact(["Parameters": .array(out), "NextToken": page.nextToken])
    }

    func getParameterHistory(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        let decrypt = try body.bool("WithDecryption") ?? false
        let versions = try await store.parameterVersions(region: ctx.region, name: name)
        guard !versions.isEmpty else { throw AWSError("ParameterNotFound", "Parameter \(name) not found.") }
        let page = try pager.page(
            versions, body: body, range: 1...50, defaultSize: 50, query: "params-history:\(ctx.region):\(name)", key: { String($0.version) }
        )
        var out: [JSONValue] = []
        for p in page.items {
            out.append(
                .compact([
                    "Name": .string(p.name), "Type": .string(p.type), "KeyId": keyName(p), "LastModifiedDate": .number(p.lastModified),
                    "LastModifiedUser": .string(p.lastModifiedUser), "Description": JSONValue(p.description),
                    "Value": .string(try await shownValue(p, decrypt: decrypt)), "AllowedPattern": JSONValue(p.allowedPattern),
                    "Version": JSONValue(p.version), "Labels": JSONValue(p.labels), "Tier": .string(p.tier), "Policies": [],
                    "DataType": .string(p.dataType),
                ]))
        }
        return .compact(["Parameters": .array(out), "NextToken": page.nextToken])
    }

    // MARK: DescribeParameters

    struct ParameterFilter {
        var key: String
        var option: String
        var values: [String]
    }

    func parameterFilters(_ body: RequestBody, allowed: Set<String>?) throws(AWSError) -> [ParameterFilter] {
        var out: [ParameterFilter] = []
        for f in try body.objectList("ParameterFilters") ?? [] {
            let key = try f.requiredString("Key")
            let option = try f.string("Option") ?? "Equals"
            let values = try f.stringList("Values") ?? []
            let known = ["Name", "Type", "KeyId", "Path", "Tier", "Label", "DataType"].contains(key) || key.hasPrefix("tag:")
            guard known, allowed.map({ $0.contains(key) }) ?? true else {
                throw AWSError("InvalidFilterKey", "The filter key \(key) is not valid here.")
            }
            let options: Set<String> =
                switch key {
                case "Path": ["Recursive", "OneLevel"]
                case "Name": ["Equals", "BeginsWith", "Contains"]
                case _ where key.hasPrefix("tag:"): ["Equals", "BeginsWith", "Contains"]
                default: ["Equals"]
                }
            guard options.contains(option) else {
                throw AWSError(
                    "InvalidFilterOption",
                    "The filter option \(option) is not valid for key \(key); use \(options.sorted().joined(separator: ", ")).")
            }
            guard !values.isEmpty || key.hasPrefix("tag:") else { throw AWSError("InvalidFilterValue", "The filter \(key) needs values.") }
            out.append(.init(key: key, option: option, values: values))
        }
        for f in try body.objectList("Filters") ?? [] {
            let key = try f.requiredString("Key")
            guard ["Name", "Type", "KeyId"].contains(key) else { throw AWSError("InvalidFilterKey", "The filter key \(key) is not valid.") }
            out.append(.init(key: key, option: key == "Name" ? "BeginsWith" : "Equals", values: try f.stringList("Values") ?? []))
        }
        return out
    }

    func apply(_ filters: [ParameterFilter], to items: [ParameterVersion], region: String) async throws -> [ParameterVersion] {
        var items = items
        let tags = filters.contains { $0.key.hasPrefix("tag:") } ? try await store.tagsByResource(region: region, type: "Parameter") : [:]
        for f in filters {
            func textMatch(_ s: String) -> Bool {
                f.values.contains { v in
                    switch f.option {
                    case "BeginsWith": s.hasPrefix(v)
                    case "Contains": s.contains(v)
                    default: s == v
                    }
                }
            }
            switch f.key {
            case "Name": items = items.filter { textMatch($0.name) || textMatch(String($0.name.drop { $0 == "/" })) }
            case "Type": items = items.filter { f.values.contains($0.type) }
            case "KeyId": items = items.filter { $0.keyId.map(f.values.contains) ?? false }
            case "Tier": items = items.filter { f.values.contains($0.tier) }
            case "DataType": items = items.filter { f.values.contains($0.dataType) }
            case "Path":
                items = items.filter { p in
                    f.values.contains { raw in
                        let path = raw.hasSuffix("/") ? raw : raw + "/"
                        guard p.name.hasPrefix(path) || raw == "/" else { return false }
                        let rest = p.name.dropFirst(raw == "/" ? 1 : path.count)
                        return f.option == "Recursive" || !rest.contains("/")
                    }
                }
            case "Label":
                var matching: Set<String> = []
                for p in items {
                    let versions = try await store.parameterVersions(region: region, name: p.name)
                    if versions.contains(where: { !$0.labels.filter(f.values.contains).isEmpty }) { matching.insert(p.name) }
                }
                items = items.filter { matching.contains($0.name) }
            default:
                let key = String(f.key.dropFirst(4))
                items = items.filter { p in
                    guard let value = tags[p.name]?[key] else { return false }
                    return f.values.isEmpty || textMatch(value)
                }
            }
        }
        return items
    }

    func describeParameters(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try parameterFilters(body, allowed: nil)
        let items = try await apply(filters, to: try await store.latestParameters(region: ctx.region), region: ctx.region)
        let page = try pager.page(
            items, body: body, range: 1...50, defaultSize: 50, query: "params-describe:\(ctx.region):\(body.pagingQuery)", key: \.name)
        return .compact([
            "Parameters": .array(
                page.items.map { p in
                    .compact([
                        "Name": .string(p.name), "ARN": .string(arn(ctx, p.name)), "Type": .string(p.type), "KeyId": keyName(p),
                        "LastModifiedDate": .number(p.lastModified), "LastModifiedUser": .string(p.lastModifiedUser),
                        "Description": JSONValue(p.description), "AllowedPattern": JSONValue(p.allowedPattern),
                        "Version": JSONValue(p.version), "Tier": .string(p.tier), "Policies": [], "DataType": .string(p.dataType),
                    ])
                }),
            "NextToken": page.nextToken,
        ])
    }

    // MARK: Labels

    static func labelProblem(_ label: String) -> Bool {
        let lower = label.lowercased()
        return label.isEmpty || label.count > 100 || lower.hasPrefix("aws") || lower.hasPrefix("ssm") || label.first!.isNumber
            || !label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
    }

    func labelParameterVersion(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        let labels = try body.stringList("Labels") ?? []
        guard (1...10).contains(labels.count) else { throw AWSError.validation("Labels must hold 1 to 10 labels.") }
        let versions = try await store.parameterVersions(region: ctx.region, name: name)
        guard let latest = versions.last else { throw AWSError("ParameterNotFound", "Parameter \(name) not found.") }
        let number = try body.int("ParameterVersion") ?? latest.version
        guard let target = versions.first(where: { $0.version == number }) else {
            throw AWSError(
                "ParameterVersionNotFound", "Systems Manager could not find version \(number) of \(name). Verify the version and try again."
            )
        }
        let invalid = labels.filter(Self.labelProblem)
        let valid = labels.filter { !Self.labelProblem($0) }
        guard Set(target.labels).union(valid).count <= 10 else {
            throw AWSError("ParameterVersionLabelLimitExceeded", "A parameter version can have at most 10 labels.")
        }
        var updated: [Int: [String]] = [:]
        for v in versions {
            let kept = v.version == number ? Array(Set(v.labels).union(valid)).sorted() : v.labels.filter { !valid.contains($0) }
            if kept != v.labels { updated[v.version] = kept }
        }
        try await store.setParameterLabels(region: ctx.region, name: name, labels: updated)
        self.latest.forget(ctx.region, name)
        return ["InvalidLabels": JSONValue(invalid), "ParameterVersion": JSONValue(number)]
    }

    func unlabelParameterVersion(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        guard let number = try body.int("ParameterVersion") else { throw AWSError.validation("ParameterVersion is required.") }
        let labels = try body.stringList("Labels") ?? []
        guard (1...10).contains(labels.count) else { throw AWSError.validation("Labels must hold 1 to 10 labels.") }
        let versions = try await store.parameterVersions(region: ctx.region, name: name)
        guard !versions.isEmpty else { throw AWSError("ParameterNotFound", "Parameter \(name) not found.") }
        guard let target = versions.first(where: { $0.version == number }) else {
            throw AWSError(
                "ParameterVersionNotFound", "Systems Manager could not find version \(number) of \(name). Verify the version and try again."
            )
        }
        let removed = labels.filter(target.labels.contains)
        let invalid = labels.filter { !target.labels.contains($0) }
        try await store.setParameterLabels(region: ctx.region, name: name, labels: [number: target.labels.filter { !removed.contains($0) }])
        self.latest.forget(ctx.region, name)
        return ["RemovedLabels": JSONValue(removed), "InvalidLabels": JSONValue(invalid)]
    }
}
