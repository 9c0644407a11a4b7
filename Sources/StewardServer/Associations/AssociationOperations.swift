import Foundation
import StewardKit
import StewardStore

/// State Manager's API: associations, their versions, executions and per-node status.
struct AssociationOperations: Sendable {
    let store: Store
    let catalog: DocumentCatalog
    let pager: Pager
    let runner: AssociationRunner

    func register(into ops: inout [String: Operation]) {
        ops["CreateAssociation"] = create
        ops["CreateAssociationBatch"] = createBatch
        ops["DescribeAssociation"] = describe
        ops["ListAssociations"] = list
        ops["UpdateAssociation"] = update
        ops["ListAssociationVersions"] = listVersions
        ops["DeleteAssociation"] = delete
        ops["StartAssociationsOnce"] = startOnce
        ops["DescribeInstanceAssociationsStatus"] = instanceStatus
        ops["DescribeEffectiveInstanceAssociations"] = effective
        ops["DescribeAssociationExecutions"] = executions
        ops["DescribeAssociationExecutionTargets"] = executionTargets
    }

    static let severities: Set<String> = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNSPECIFIED"]

    /// Checks a Create/Update body and builds the stored association (AWS's AssociationDescription fields).
    func build(_ ctx: APIContext, _ body: RequestBody, base: JSONValue?) async throws -> JSONValue {
        var a = base ?? [:]
        if let name = try body.string("Name") ?? (base == nil ? nil : a["Name"]?.stringValue) {
            let version = try body.string("DocumentVersion") ?? a["DocumentVersion"]?.stringValue
            let resolved: DocumentCatalog.Resolved
            do {
                resolved = try await catalog.resolve(region: ctx.region, name: name, version: version == "$DEFAULT" ? nil : version)
            } catch {
                let code = (error as? AWSError)?.code == "InvalidDocumentVersion" ? "InvalidDocumentVersion" : "InvalidDocument"
                throw AWSError(
                    code, code == "InvalidDocument" ? "The document \(name) does not exist." : "\((error as? AWSError)?.message ?? "")")
            }
            a["Name"] = .string(resolved.version.name)
            a["DocumentVersion"] = .string(version ?? "$DEFAULT")
            if let parameters = try body.parameterMap("Parameters") {
                do { _ = try resolved.document.resolveParameters(parameters) } catch {
                    throw AWSError("InvalidParameters", error.message)
                }
                a["Parameters"] = .object(parameters.mapValues { JSONValue($0) })
            } else if base == nil {
                do { _ = try resolved.document.resolveParameters([:]) } catch {
                    throw AWSError("InvalidParameters", error.message)
                }
            }
        } else {
            throw AWSError.validation("Name (the document) is required.")
        }
        if let targets = try body.objectList("Targets") {
            let pairs = try targets.map { t throws(AWSError) in (key: try t.requiredString("Key"), values: try t.stringList("Values") ?? [])
            }
            if let group = try AssociationTargets(pairs).group {
                _ = try await runner.groups.targetQuery(group: group, region: ctx.region)
            }
            a["Targets"] = .array(pairs.map { ["Key": .string($0.key), "Values": JSONValue($0.values)] })
        } else if let instanceId = try body.string("InstanceId") {
            guard let instance = try await store.instance(id: instanceId), instance.region == ctx.region else {
                throw AWSError("InvalidInstanceId", "The instance \(instanceId) is not a managed instance.")
            }
            a["InstanceId"] = .string(instanceId)
            a["Targets"] = [["Key": "InstanceIds", "Values": [.string(instanceId)]]]
        } else if base == nil {
            throw AWSError("InvalidTarget", "Give Targets (or InstanceId) to say which nodes the association is for.")
        }
        if let schedule = try body.string("ScheduleExpression") {
            guard schedule.count <= 256 else { throw AWSError("InvalidSchedule", "ScheduleExpression is at most 256 characters.") }
            do { _ = try Schedule.parse(schedule) } catch {
                throw AWSError("InvalidSchedule", "The schedule is not valid: \(error.description).")
            }
            a["ScheduleExpression"] = .string(schedule)
        }
        if let name = try body.string("AssociationName") {
            guard AssociationOperations.matches(name, #"^[a-zA-Z0-9_\-.]{3,128}$"#) else {
                throw AWSError.validation("AssociationName must be 3 to 128 letters, digits, '_', '-' or '.'.")
            }
            a["AssociationName"] = .string(name)
        }
        if let c = try body.string("MaxConcurrency") {
            _ = try RateLimit.parseConcurrency(c)
            a["MaxConcurrency"] = .string(c)
        }
        if let e = try body.string("MaxErrors") {
            _ = try RateLimit.parseErrors(e)
            a["MaxErrors"] = .string(e)
        }
        if let s = try body.string("ComplianceSeverity") {
            guard Self.severities.contains(s) else {
                throw AWSError.validation("ComplianceSeverity must be CRITICAL, HIGH, MEDIUM, LOW or UNSPECIFIED.")
            }
            a["ComplianceSeverity"] = .string(s)
        }
        if let s = try body.string("SyncCompliance") {
            guard ["AUTO", "MANUAL"].contains(s) else { throw AWSError.validation("SyncCompliance must be AUTO or MANUAL.") }
            a["SyncCompliance"] = .string(s)
        }
        if let only = try body.bool("ApplyOnlyAtCronInterval") {
            if only, a["ScheduleExpression"]?.stringValue?.hasPrefix("cron(") != true {
                throw AWSError("InvalidSchedule", "ApplyOnlyAtCronInterval needs a cron() schedule.")
            }
            a["ApplyOnlyAtCronInterval"] = .bool(only)
        }
        return a
    }

    static func matches(_ text: String, _ pattern: String) -> Bool { (try? Regex(pattern).wholeMatch(in: text)) != nil }

    func create(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        ["AssociationDescription": try await createOne(ctx, body)]
    }

    func createOne(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var a = try await build(ctx, body, base: nil)
        if let instanceId = a["InstanceId"]?.stringValue {
            let existing = try await store.records(kind: "association", region: ctx.region)
            if existing.contains(where: { $0["InstanceId"]?.stringValue == instanceId && $0["Name"] == a["Name"] }) {
                throw AWSError("AssociationAlreadyExists", "The association already exists.")
            }
        }
        let associationId = UUID().uuidString.lowercased()
        a["AssociationId"] = .string(associationId)
        a["AssociationVersion"] = "1"
        a["Date"] = .number(ctx.nowSeconds)
        a["LastUpdateAssociationDate"] = .number(ctx.nowSeconds)
        a["ComplianceSeverity"] = a["ComplianceSeverity"] ?? "UNSPECIFIED"
        a["SyncCompliance"] = a["SyncCompliance"] ?? "AUTO"
        a["ApplyOnlyAtCronInterval"] = a["ApplyOnlyAtCronInterval"] ?? .bool(false)
        a["_NextRun"] = await runner.nextRun(a, after: ctx.nowSeconds)
        try await save(ctx, a)
        if a["ApplyOnlyAtCronInterval"] != .bool(true) {
            try await runner.run(region: ctx.region, association: a, only: nil, trigger: "Create", now: ctx.nowSeconds)
        }
        await runner.associationsChanged(region: ctx.region)
        return try await describeJSON(ctx, a)
    }

    func save(_ ctx: APIContext, _ a: JSONValue) async throws {
        let id = a["AssociationId"]?.textValue ?? ""
        try await store.putRecord(kind: "association", region: ctx.region, id: id, body: a, now: ctx.nowSeconds)
        let version = Int(a["AssociationVersion"]?.textValue ?? "1") ?? 1
        try await store.putRecord(
            kind: "association-version", region: ctx.region, id: "\(id)|\(String(format: "%06d", version))", parent: id, body: a,
            now: ctx.nowSeconds)
    }

    func createBatch(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        guard let entries = try body.objectList("Entries"), (1...10).contains(entries.count) else {
            throw AWSError.validation("Entries must hold between 1 and 10 associations.")
        }
        var successful: [JSONValue] = []
        var failed: [JSONValue] = []
        for entry in entries {
            do { successful.append(try await createOne(ctx, entry)) } catch {
                guard let e = error as? AWSError, e.status < 500 else { throw error }
                failed.append(["Entry": .object(entry.fields), "Message": .string(e.message), "Fault": "Client"])
            }
        }
        return ["Successful": .array(successful), "Failed": .array(failed)]
    }

    func find(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        if let id = try body.string("AssociationId") {
            guard let a = try await store.record(kind: "association", region: ctx.region, id: id) else {
                throw AWSError("AssociationDoesNotExist", "The specified association does not exist.")
            }
            return a
        }
        let name = try body.string("Name")
        let instanceId = try body.string("InstanceId")
        guard name != nil || instanceId != nil else { throw AWSError.validation("Give AssociationId, or Name and InstanceId.") }
        let all = try await store.records(kind: "association", region: ctx.region)
        guard
            let a = all.first(where: {
                (name == nil || $0["Name"]?.stringValue == name) && (instanceId == nil || $0["InstanceId"]?.stringValue == instanceId)
            })
        else { throw AWSError("AssociationDoesNotExist", "The specified association does not exist.") }
        return a
    }

    /// The stored association as AWS shows it: without internal fields, with the overview of node statuses.
    func describeJSON(_ ctx: APIContext, _ a: JSONValue) async throws -> JSONValue {
        var out = (a.objectValue ?? [:]).filter { !$0.key.hasPrefix("_") }
        let id = a["AssociationId"]?.textValue ?? ""
        var counts: [String: Int] = [:]
        for (_, status) in try await statuses(ctx.region, associationId: id) where status["Status"]?.textValue != "Left" {
            counts[status["Status"]?.textValue ?? "Pending", default: 0] += 1
        }
        let overall = counts["Failed"] != nil ? "Failed" : counts["Pending"] != nil || counts.isEmpty ? "Pending" : "Success"
        out["Overview"] = [
            "Status": .string(overall), "DetailedStatus": .string(overall),
            "AssociationStatusAggregatedCount": .object(counts.mapValues { JSONValue($0) }),
        ]
        return .object(out)
    }

    func statuses(_ region: String, associationId: String) async throws -> [(String, JSONValue)] {
        try await store.records(kind: "instance-association", region: region).filter { $0["AssociationId"]?.textValue == associationId }.map
        {
            ($0["InstanceId"]?.textValue ?? "", $0)
        }
    }

    func describe(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let a = try await find(ctx, body)
        if let version = try body.string("AssociationVersion"), version != "$LATEST", version != a["AssociationVersion"]?.textValue {
            let id = a["AssociationId"]?.textValue ?? ""
            guard let n = Int(version),
                let old = try await store.record(kind: "association-version", region: ctx.region, id: "\(id)|\(String(format: "%06d", n))")
            else { throw AWSError("InvalidAssociationVersion", "The association version \(version) does not exist.") }
            return ["AssociationDescription": try await describeJSON(ctx, old)]
        }
        return ["AssociationDescription": try await describeJSON(ctx, a)]
    }

    func list(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var all = try await store.records(kind: "association", region: ctx.region)
        for f in try body.objectList("AssociationFilterList") ?? [] {
            let key = try f.requiredString("key")
            let value = try f.requiredString("value")
            switch key {
            case "InstanceId":
                let ids = Set(
                    try await store.records(kind: "instance-association", region: ctx.region, parent: value).map {
                        $0["AssociationId"]?.textValue ?? ""
                    })
                all = all.filter { ids.contains($0["AssociationId"]?.textValue ?? "") || $0["InstanceId"]?.stringValue == value }
            case "Name": all = all.filter { $0["Name"]?.textValue == value }
            case "AssociationId": all = all.filter { $0["AssociationId"]?.textValue == value }
            case "AssociationName": all = all.filter { $0["AssociationName"]?.textValue == value }
            case "AssociationStatusName":
                var kept: [JSONValue] = []
                for a in all where try await describeJSON(ctx, a)["Overview"]?["Status"]?.textValue == value { kept.append(a) }
                all = kept
            case "LastExecutedBefore", "LastExecutedAfter":
                guard let t = ISO8601DateFormatter().date(from: value)?.timeIntervalSince1970 ?? Double(value) else {
                    throw AWSError("InvalidFilterValue", "\(key) takes a time such as 2026-11-29T12:00:00Z.")
                }
                all = all.filter { a in
                    let last = a["LastExecutionDate"]?.numberValue ?? 0
                    return key == "LastExecutedBefore" ? last < t : last > t
                }
            default:
                throw AWSError("InvalidFilterKey", "The filter key \(key) is not valid.")
            }
        }
        let page = try pager.page(
            all, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery, key: { $0["AssociationId"]?.textValue ?? "" })
        var items: [JSONValue] = []
        for a in page.items {
            let full = try await describeJSON(ctx, a)
            items.append(
                .compact([
                    "Name": full["Name"] ?? .null, "InstanceId": full["InstanceId"] ?? .null,
                    "AssociationId": full["AssociationId"] ?? .null,
                    "AssociationVersion": full["AssociationVersion"] ?? .null, "DocumentVersion": full["DocumentVersion"] ?? .null,
                    "Targets": full["Targets"] ?? .null, "LastExecutionDate": full["LastExecutionDate"] ?? .null,
                    "Overview": full["Overview"] ?? .null,
                    "ScheduleExpression": full["ScheduleExpression"] ?? .null, "AssociationName": full["AssociationName"] ?? .null,
                ]))
        }
        return .compact(["Associations": .array(items), "NextToken": page.nextToken])
    }

    func update(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let id = try body.requiredString("AssociationId")
        guard let current = try await store.record(kind: "association", region: ctx.region, id: id) else {
            throw AWSError("AssociationDoesNotExist", "The specified association does not exist.")
        }
        if let expected = try body.string("AssociationVersion"), expected != "$LATEST", expected != current["AssociationVersion"]?.textValue
        {
            throw AWSError("AssociationVersionLimitExceeded", "The association was updated since version \(expected); describe it again.")
        }
        var a = try await build(ctx, body, base: current)
        a["AssociationVersion"] = .string(String((Int(current["AssociationVersion"]?.textValue ?? "1") ?? 1) + 1))
        a["LastUpdateAssociationDate"] = .number(ctx.nowSeconds)
        a["_NextRun"] = await runner.nextRun(a, after: ctx.nowSeconds)
        try await save(ctx, a)
        if a["ApplyOnlyAtCronInterval"] != .bool(true) {
            try await runner.run(region: ctx.region, association: a, only: nil, trigger: "Update", now: ctx.nowSeconds)
        }
        await runner.associationsChanged(region: ctx.region)
        return ["AssociationDescription": try await describeJSON(ctx, a)]
    }

    func listVersions(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let id = try body.requiredString("AssociationId")
        guard try await store.record(kind: "association", region: ctx.region, id: id) != nil else {
            throw AWSError("AssociationDoesNotExist", "The specified association does not exist.")
        }
        let versions = try await store.records(kind: "association-version", region: ctx.region, parent: id)
        let page = try pager.page(
            versions, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery,
            key: { $0["AssociationVersion"]?.textValue ?? "" })
        return .compact([
            "AssociationVersions": .array(
                page.items.map { v in
                    var o = (v.objectValue ?? [:]).filter {
                        !$0.key.hasPrefix("_") && $0.key != "LastExecutionDate" && $0.key != "LastSuccessfulExecutionDate"
                    }
                    o["CreatedDate"] = v["LastUpdateAssociationDate"] ?? v["Date"] ?? .null
                    return .object(o)
                }),
            "NextToken": page.nextToken,
        ])
    }

    func delete(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let a = try await find(ctx, body)
        let id = a["AssociationId"]?.textValue ?? ""
        try await store.deleteRecords(kind: "association", region: ctx.region, id: id)
        try await store.deleteRecords(kind: "association-version", region: ctx.region, parent: id)
        for (instanceId, _) in try await statuses(ctx.region, associationId: id) {
            try await store.deleteRecords(kind: "instance-association", region: ctx.region, id: "\(instanceId)|\(id)")
            try await store.deleteRecords(kind: "compliance", region: ctx.region, id: "\(instanceId)|Association|\(id)")
        }
        await runner.associationsChanged(region: ctx.region)
        return [:]
    }

    func startOnce(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        guard let ids = try body.stringList("AssociationIds"), !ids.isEmpty else {
            throw AWSError.validation("AssociationIds is required.")
        }
        var found: [JSONValue] = []
        for id in ids {
            guard let a = try await store.record(kind: "association", region: ctx.region, id: id) else {
                throw AWSError("InvalidAssociation", "The association \(id) does not exist.")
            }
            found.append(a)
        }
        for a in found { try await runner.run(region: ctx.region, association: a, only: nil, trigger: "Manual", now: ctx.nowSeconds) }
        return [:]
    }

    func instanceStatus(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let instanceId = try body.requiredString("InstanceId")
        guard let instance = try await store.instance(id: instanceId), instance.region == ctx.region else {
            throw AWSError("InvalidInstanceId", "The instance \(instanceId) is not a managed instance.")
        }
        let all = try await store.records(kind: "instance-association", region: ctx.region, parent: instanceId)
        let page = try pager.page(
            all, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery, key: { $0["AssociationId"]?.textValue ?? "" })
        return .compact([
            "InstanceAssociationStatusInfos": .array(
                page.items.map { .object(($0.objectValue ?? [:]).filter { $0.key != "ExecutionId" && !$0.key.hasPrefix("_") }) }),
            "NextToken": page.nextToken,
        ])
    }

    func effective(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let instanceId = try body.requiredString("InstanceId")
        guard let instance = try await store.instance(id: instanceId), instance.region == ctx.region else {
            throw AWSError("InvalidInstanceId", "The instance \(instanceId) is not a managed instance.")
        }
        var items: [JSONValue] = []
        for a in try await store.records(kind: "association", region: ctx.region) {
            let targets = try AssociationRunner.targets(a)
            let member = !(try await targets.members(of: [instance], region: ctx.region, groups: runner.groups)).isEmpty
            guard member else { continue }
            let content: JSONValue = .compact([
                "Name": a["Name"] ?? .null, "DocumentVersion": a["DocumentVersion"] ?? .null, "Parameters": a["Parameters"] ?? [:],
                "ScheduleExpression": a["ScheduleExpression"] ?? .null,
            ])
            items.append([
                "AssociationId": a["AssociationId"] ?? .null, "InstanceId": .string(instanceId),
                "Content": .string(JSONWriter.string(content)),
            ])
        }
        let page = try pager.page(
            items, body: body, range: 1...5, defaultSize: 5, query: body.pagingQuery, key: { $0["AssociationId"]?.textValue ?? "" })
        return .compact(["Associations": .array(Array(page.items)), "NextToken": page.nextToken])
    }

    func executions(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let id = try body.requiredString("AssociationId")
        guard try await store.record(kind: "association", region: ctx.region, id: id) != nil else {
            throw AWSError("AssociationDoesNotExist", "The specified association does not exist.")
        }
        var all = try await store.records(kind: "association-execution", region: ctx.region, parent: id)
        for f in try body.objectList("Filters") ?? [] {
            let key = try f.requiredString("Key")
            let value = try f.requiredString("Value")
            let type = try f.requiredString("Type")
            switch key {
            case "ExecutionId": all = all.filter { $0["ExecutionId"]?.textValue == value }
            case "Status": all = all.filter { $0["Status"]?.textValue == value }
            case "CreatedTime":
                guard let t = ISO8601DateFormatter().date(from: value)?.timeIntervalSince1970 else {
                    throw AWSError.validation("CreatedTime takes a time such as 2026-11-29T12:00:00Z.")
                }
                all = all.filter { e in
                    let c = e["CreatedTime"]?.numberValue ?? 0
                    return type == "LESS_THAN" ? c < t : type == "GREATER_THAN" ? c > t : c == t
                }
            default: throw AWSError("InvalidFilterKey", "The filter key \(key) is not valid.")
            }
        }
        all.sort { ($0["_Created"]?.numberValue ?? 0) > ($1["_Created"]?.numberValue ?? 0) }
        let page = try pager.page(
            all, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery, key: { $0["ExecutionId"]?.textValue ?? "" })
        return .compact([
            "AssociationExecutions": .array(page.items.map { .object(($0.objectValue ?? [:]).filter { !$0.key.hasPrefix("_") }) }),
            "NextToken": page.nextToken,
        ])
    }

    func executionTargets(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let id = try body.requiredString("AssociationId")
        let executionId = try body.requiredString("ExecutionId")
        guard let execution = try await store.record(kind: "association-execution", region: ctx.region, id: executionId),
            execution["AssociationId"]?.textValue == id
        else { throw AWSError("AssociationExecutionDoesNotExist", "The association execution \(executionId) does not exist.") }
        var all = try await store.records(kind: "association-target", region: ctx.region, parent: executionId)
        for f in try body.objectList("Filters") ?? [] {
            let key = try f.requiredString("Key")
            let value = try f.requiredString("Value")
            guard ["Status", "ResourceId", "ResourceType"].contains(key) else {
                throw AWSError("InvalidFilterKey", "The filter key \(key) is not valid.")
            }
            all = all.filter { $0[key]?.textValue == value }
        }
        let page = try pager.page(
            all, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery, key: { $0["ResourceId"]?.textValue ?? "" })
        return .compact(["AssociationExecutionTargets": .array(Array(page.items)), "NextToken": page.nextToken])
    }
}
