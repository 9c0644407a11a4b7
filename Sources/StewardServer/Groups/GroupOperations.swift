import StewardKit
import StewardStore

/// The AWS Resource Groups API (REST-JSON, `POST /groups`, `/get-group`, ...) for groups of managed nodes:
/// CreateGroup, GetGroup, GetGroupQuery, UpdateGroup, UpdateGroupQuery, ListGroups, ListGroupResources, DeleteGroup
/// and SearchResources. A group changing its query changes its members at once, so associations are told.
struct GroupOperations: Sendable {
    let store: Store
    let groups: NodeGroups
    let pager: Pager
    /// Called when a region's groups changed: every association over a group looks at its members again.
    let groupsChanged: @Sendable (String) async -> Void

    /// REST paths (all POST) and their operations.
    func register(into ops: inout [String: Operation]) {
        ops["/groups"] = create
        ops["/get-group"] = get
        ops["/get-group-query"] = getQuery
        ops["/update-group"] = update
        ops["/update-group-query"] = updateQuery
        ops["/groups-list"] = list
        ops["/list-group-resources"] = resources
        ops["/delete-group"] = delete
        ops["/resources/search"] = search
    }

    static func bad(_ message: String) -> AWSError { AWSError("BadRequestException", message) }

    func arn(_ ctx: APIContext, _ name: String) -> String { "arn:aws:resource-groups:\(ctx.region):\(ctx.accountId):group/\(name)" }

    static func validName(_ name: String) -> Bool {
        (1...300).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
    }

    /// The group a request names, by `Group` (name or ARN) or the older `GroupName`.
    func named(_ ctx: APIContext, _ body: RequestBody) async throws -> (name: String, record: JSONValue) {
        guard let given = try body.string("Group") ?? body.string("GroupName"), !given.isEmpty else {
            throw Self.bad("Group (a name or an ARN) is required.")
        }
        let name = given.hasPrefix("arn:") ? String(given.split(separator: "/", maxSplits: 1).last ?? "") : given
        guard given.hasPrefix("arn:") ? given == arn(ctx, name) : true,
            let record = try await store.record(kind: "group", region: ctx.region, id: name)
        else {
            throw AWSError("NotFoundException", "Cannot find group \(given).", status: 404)
        }
        return (name, record)
    }

    func groupJSON(_ record: JSONValue) -> JSONValue {
        .compact([
            "GroupArn": record["GroupArn"] ?? .null, "Name": record["Name"] ?? .null, "Description": record["Description"] ?? .null,
        ])
    }

    func queryJSON(_ record: JSONValue) -> JSONValue {
        ["GroupName": record["Name"] ?? .null, "ResourceQuery": record["ResourceQuery"] ?? .null]
    }

    /// Checks a ResourceQuery and answers its stored form.
    func resourceQuery(_ body: RequestBody?) throws(AWSError) -> JSONValue {
        guard let body else { throw Self.bad("ResourceQuery is required: a group of nodes is defined by its query.") }
        let type = try body.requiredString("Type")
        let query = try body.requiredString("Query")
        _ = try NodeGroups.parse(type: type, query: query)
        return ["Type": .string(type), "Query": .string(query)]
    }

    func create(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        guard Self.validName(name) else {
            throw Self.bad("Name must be 1 to 300 letters, digits, periods, hyphens and underscores.")
        }
        guard !name.lowercased().hasPrefix("aws") else { throw Self.bad("Group names may not begin with AWS or aws.") }
        let description = try body.string("Description")
        if let description, description.count > 1024 { throw Self.bad("Description is at most 1024 characters.") }
        let query = try resourceQuery(try body.object("ResourceQuery"))
        var tags: [String: JSONValue] = [:]
        if let map = try body.object("Tags") {
            guard map.fields.count <= 50 else { throw Self.bad("A group has at most 50 tags.") }
            for (k, v) in map.fields {
                guard let value = v.stringValue, (1...128).contains(k.count), value.count <= 256, !k.hasPrefix("aws:") else {
                    throw Self.bad("Tag keys are 1 to 128 characters (not aws:...) and values at most 256.")
                }
                tags[k] = .string(value)
            }
        }
        if try await store.record(kind: "group", region: ctx.region, id: name) != nil {
            throw Self.bad("Cannot create group: group already exists.")
        }
        let record: JSONValue = .compact([
            "Name": .string(name), "GroupArn": .string(arn(ctx, name)), "Description": JSONValue(description),
            "ResourceQuery": query, "Tags": .object(tags), "Created": .number(ctx.nowSeconds),
        ])
        try await store.putRecord(kind: "group", region: ctx.region, id: name, body: record, now: ctx.nowSeconds)
        await groupsChanged(ctx.region)
        return ["Group": groupJSON(record), "ResourceQuery": query, "Tags": .object(tags)]
    }

    func get(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        ["Group": groupJSON(try await named(ctx, body).record)]
    }

    func getQuery(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        ["GroupQuery": queryJSON(try await named(ctx, body).record)]
    }

    func update(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var (name, record) = try await named(ctx, body)
        if let description = try body.string("Description") {
            guard description.count <= 1024 else { throw Self.bad("Description is at most 1024 characters.") }
            record["Description"] = description.isEmpty ? nil : .string(description)
        }
        try await store.putRecord(kind: "group", region: ctx.region, id: name, body: record, now: ctx.nowSeconds)
        return ["Group": groupJSON(record)]
    }

    func updateQuery(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var (name, record) = try await named(ctx, body)
        record["ResourceQuery"] = try resourceQuery(try body.object("ResourceQuery"))
        try await store.putRecord(kind: "group", region: ctx.region, id: name, body: record, now: ctx.nowSeconds)
        await groupsChanged(ctx.region)
        return ["GroupQuery": queryJSON(record)]
    }

    func delete(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (name, record) = try await named(ctx, body)
        try await store.deleteRecords(kind: "group", region: ctx.region, id: name)
        await groupsChanged(ctx.region)
        return ["Group": groupJSON(record)]
    }

    /// The resource types a group's query names (a node query is about managed nodes).
    static func resourceTypes(_ record: JSONValue) -> [String] {
        guard let q = record["ResourceQuery"], q["Type"]?.stringValue == NodeGroups.tagFilters,
            let text = q["Query"]?.stringValue, let parsed = try? JSONReader.parse(text)
        else { return ["AWS::SSM::ManagedInstance"] }
        return parsed["ResourceTypeFilters"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    func list(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var records = try await store.records(kind: "group", region: ctx.region)
        for filter in try body.objectList("Filters") ?? [] {
            let name = try filter.requiredString("Name")
            guard let values = try filter.stringList("Values"), (1...5).contains(values.count) else {
                throw Self.bad("Each filter needs 1 to 5 Values.")
            }
            switch name {
            case "resource-type":
                records = records.filter { r in Self.resourceTypes(r).contains { values.contains($0) || $0 == "AWS::AllSupported" } }
            case "configuration-type":
                records = []  // no group here carries a service configuration
            case "owner", "display-name", "criticality":
                records = records.filter {
                    values.contains($0[name == "owner" ? "Owner" : name == "display-name" ? "DisplayName" : "Criticality"]?.textValue ?? "")
                }
            default:
                throw Self.bad(
                    "Filter name \(name) is not valid; use resource-type, configuration-type, owner, display-name or criticality.")
            }
        }
        let page = try pager.page(records, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery) {
            $0["Name"]?.stringValue ?? ""
        }
        return .compact([
            "GroupIdentifiers": .array(page.items.map { ["GroupName": $0["Name"] ?? .null, "GroupArn": $0["GroupArn"] ?? .null] }),
            "Groups": .array(page.items.map(groupJSON)), "NextToken": page.nextToken,
        ])
    }

    func identifier(_ ctx: APIContext, _ instance: ManagedInstance) -> JSONValue {
        [
            "ResourceArn": .string("arn:aws:ssm:\(ctx.region):\(ctx.accountId):managed-instance/\(instance.instanceId)"),
            "ResourceType": "AWS::SSM::ManagedInstance",
        ]
    }

    /// Members of a query now, as one page of resource identifiers (with the query error when no node type applies).
    func memberPage(_ ctx: APIContext, _ body: RequestBody, type: String, query text: String) async throws -> (
        items: [JSONValue], next: JSONValue, errors: [JSONValue]
    ) {
        let parsed = try NodeGroups.parse(type: type, query: text)
        var members: [ManagedInstance] = []
        var errors: [JSONValue] = []
        if let query = parsed.query {
            members = try await groups.members(query, of: try await store.instances(region: ctx.region), region: ctx.region)
        } else {
            errors.append([
                "ErrorCode": "RESOURCE_TYPE_NOT_SUPPORTED",
                "Message": "Groups here hold managed nodes (AWS::SSM::ManagedInstance); the query names no such type.",
            ])
        }
        for filter in try body.objectList("Filters") ?? [] {
            guard try filter.requiredString("Name") == "resource-type" else { throw Self.bad("The only filter is resource-type.") }
            let values = try filter.stringList("Values") ?? []
            if !values.contains("AWS::SSM::ManagedInstance") && !values.contains("AWS::EC2::Instance") { members = [] }
        }
        members.sort { $0.instanceId < $1.instanceId }
        let page = try pager.page(members, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery) { $0.instanceId }
        return (page.items.map { identifier(ctx, $0) }, page.nextToken, errors)
    }

    func resources(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let record = try await named(ctx, body).record
        let q = record["ResourceQuery"]
        let page = try await memberPage(ctx, body, type: q?["Type"]?.stringValue ?? "", query: q?["Query"]?.stringValue ?? "")
        return .compact([
            "Resources": .array(page.items.map { ["Identifier": $0] }), "ResourceIdentifiers": .array(page.items),
            "NextToken": page.next, "QueryErrors": .array(page.errors),
        ])
    }

    func search(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        guard let q = try body.object("ResourceQuery") else { throw Self.bad("ResourceQuery is required.") }
        let page = try await memberPage(ctx, body, type: try q.requiredString("Type"), query: try q.requiredString("Query"))
        return .compact(["ResourceIdentifiers": .array(page.items), "NextToken": page.next, "QueryErrors": .array(page.errors)])
    }
}
