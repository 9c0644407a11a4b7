import StewardKit
import StewardStore

/// Groups of nodes whose membership is a query over node attributes, kept in the AWS Resource Groups shapes: a
/// `TAG_FILTERS_1_0` group (tags, as AWS has it) or a `STEWARD_NODE_QUERY_1_0` group (a ``NodeQuery`` over tags,
/// platform, agent version, PingStatus and inventory facts, with and/or/not). Membership is never stored: it is the
/// answer to the query now, so a node that changes is in or out of every group at once.
struct NodeGroups: Sendable {
    static let tagFilters = "TAG_FILTERS_1_0"
    static let nodeQuery = "STEWARD_NODE_QUERY_1_0"
    /// The resource types a group of nodes may name; any other filter leaves the group without nodes.
    static let nodeTypes: Set<String> = ["AWS::AllSupported", "AWS::SSM::ManagedInstance", "AWS::EC2::Instance"]

    let store: Store
    let queries: InventoryQueries

    /// A stored group's query, or nil when there is no such group.
    func query(group name: String, region: String) async throws -> NodeQuery? {
        guard let record = try await store.record(kind: "group", region: region, id: name) else { return nil }
        let type = record["ResourceQuery"]?["Type"]?.stringValue ?? ""
        let text = record["ResourceQuery"]?["Query"]?.stringValue ?? ""
        return (try? Self.parse(type: type, query: text))?.query
    }

    /// A resource query parsed: the node query, or nil when its resource types include no node type.
    static func parse(type: String, query text: String) throws(AWSError) -> (query: NodeQuery?, json: JSONValue) {
        func bad(_ message: String) -> AWSError { AWSError("BadRequestException", message) }
        guard text.utf8.count <= 4096 else { throw bad("ResourceQuery.Query is longer than 4096 characters.") }
        switch type {
        case tagFilters:
            guard let parsed = try? JSONReader.parse(text), case .object = parsed else {
                throw bad("A TAG_FILTERS_1_0 query is a JSON object with ResourceTypeFilters and TagFilters.")
            }
            guard let types = parsed["ResourceTypeFilters"]?.arrayValue, !types.isEmpty else {
                throw bad("Query not valid: ResourceTypeFilters is required and may not be empty.")
            }
            let typeNames = types.compactMap(\.stringValue)
            guard typeNames.count == types.count, typeNames.allSatisfy({ $0.hasPrefix("AWS::") }) else {
                throw bad("Query not valid: each ResourceTypeFilters entry is a resource type such as AWS::SSM::ManagedInstance.")
            }
            guard let filters = parsed["TagFilters"]?.arrayValue, !filters.isEmpty, filters.count <= 50 else {
                throw bad("Query not valid: TagFilters needs between 1 and 50 filters.")
            }
            var clauses: [NodeQuery] = []
            for filter in filters {
                guard let key = filter["Key"]?.stringValue, !key.isEmpty, key.count <= 128 else {
                    throw bad("Query not valid: each tag filter needs a Key of 1 to 128 characters.")
                }
                let values = filter["Values"]?.arrayValue?.compactMap(\.stringValue) ?? []
                guard values.count <= 20 else { throw bad("Query not valid: a tag filter has at most 20 values.") }
                clauses.append(
                    .condition(.init(key: "tag:\(key)", op: values.isEmpty ? .exists : .equal, values: values)))
            }
            let applies = typeNames.contains { nodeTypes.contains($0) }
            return (applies ? .all(clauses) : nil, parsed)
        case nodeQuery:
            // The query text itself, or a JSON object with it under "Expression".
            var expression = text
            if let parsed = try? JSONReader.parse(text), case .object = parsed {
                guard let e = parsed["Expression"]?.stringValue else {
                    throw bad("A STEWARD_NODE_QUERY_1_0 query is node query text, or a JSON object with it under Expression.")
                }
                expression = e
            }
            do { return (try NodeQuery.parse(expression), .string(expression)) } catch {
                throw bad("Query not valid: \(error.description).")
            }
        case "CLOUDFORMATION_STACK_1_0":
            throw bad("CLOUDFORMATION_STACK_1_0 groups are not supported here; use TAG_FILTERS_1_0 or STEWARD_NODE_QUERY_1_0.")
        default:
            throw bad("ResourceQuery.Type must be TAG_FILTERS_1_0 or STEWARD_NODE_QUERY_1_0, not \(type.isEmpty ? "empty" : type).")
        }
    }

    /// The members of `query` among `instances` (all of a region's nodes, or the ones that changed).
    func members(_ query: NodeQuery, of instances: [ManagedInstance], region: String) async throws -> [ManagedInstance] {
        guard !instances.isEmpty else { return [] }
        let conditions = query.conditions
        let tags: [String: [String: String]] =
            conditions.contains { $0.tagName != nil }
            ? try await store.tags(region: region, type: "ManagedInstance", ids: instances.map(\.instanceId)) : [:]
        var facts: [NodeQuery.Condition: Set<String>] = [:]
        for c in conditions where c.isInventory && facts[c] == nil {
            facts[c] = try await holders(c, region: region)
        }
        return instances.filter { instance in
            let node = NodeQuery.Node(
                instanceId: instance.instanceId, tags: tags[instance.instanceId] ?? [:], attributes: Self.attributes(instance))
            return query.matches(node) { c in
                let held = facts[c]?.contains(instance.instanceId) ?? false
                return c.op == .notEqual ? !held : held
            }
        }
    }

    /// Nodes with an inventory entry that satisfies `c` (for `!=`, the nodes with an equal one, to be negated).
    func holders(_ c: NodeQuery.Condition, region: String) async throws -> Set<String> {
        let dot = c.key.lastIndex(of: ".")!
        let typeName = String(c.key[..<dot])
        let attribute = String(c.key[c.key.index(after: dot)...])
        func select(_ type: String) async throws -> Set<String> {
            try await queries.select(
                region: region, filters: [.init(typeName: typeName, attribute: attribute, values: c.values, type: type)]
            ).instances
        }
        switch c.op {
        case .equal, .notEqual: return try await select("Equal")
        case .beginsWith: return try await select("BeginWith")
        case .less: return try await select("LessThan")
        case .greater: return try await select("GreaterThan")
        case .lessOrEqual: return try await select("LessThan").union(select("Equal"))
        case .greaterOrEqual: return try await select("GreaterThan").union(select("Equal"))
        case .exists: return try await select("Exists")
        }
    }

    static func attributes(_ instance: ManagedInstance) -> [String: String] {
        var a = ["InstanceId": instance.instanceId, "PingStatus": instance.pingStatus, "ResourceType": "ManagedInstance"]
        if let info = instance.info {
            a["PlatformName"] = info.platformName
            a["PlatformType"] = info.platformType
            a["PlatformVersion"] = info.platformVersion
            a["AgentVersion"] = info.agentVersion
            a["ComputerName"] = info.computerName
            a["IPAddress"] = info.ipAddress
        }
        return a
    }
}

extension NodeGroups {
    /// Separates `resource-groups:Name` (one group) and `resource-groups:ResourceTypeFilters` from the other target keys.
    static func splitTargets(_ pairs: [(key: String, values: [String])]) throws(AWSError) -> (
        plain: [(key: String, values: [String])], group: String?
    ) {
        var plain: [(key: String, values: [String])] = []
        var group: String?
        for p in pairs {
            switch p.key {
            case "resource-groups:Name":
                guard p.values.count == 1, let name = p.values.first, !name.isEmpty else {
                    throw AWSError("InvalidTarget", "Target resource-groups:Name takes exactly one group name.")
                }
                group = name.hasPrefix("arn:") ? String(name.split(separator: "/", maxSplits: 1).last ?? "") : name
            case "resource-groups:ResourceTypeFilters":
                guard (1...5).contains(p.values.count),
                    p.values.allSatisfy({ $0 == "AWS::EC2::Instance" || $0 == "AWS::SSM::ManagedInstance" })
                else {
                    throw AWSError(
                        "InvalidTarget", "resource-groups:ResourceTypeFilters takes AWS::EC2::Instance or AWS::SSM::ManagedInstance.")
                }
            default:
                plain.append(p)
            }
        }
        return (plain, group)
    }

    /// A group's query for a target, or the error a caller gets when the group does not exist.
    func targetQuery(group name: String, region: String) async throws -> NodeQuery {
        guard let query = try await query(group: name, region: region) else {
            if try await store.record(kind: "group", region: region, id: name) != nil {
                // The group exists but holds no node type: it has no members.
                return .any([])
            }
            throw AWSError("InvalidTarget", "Resource group \(name) does not exist.")
        }
        return query
    }
}
