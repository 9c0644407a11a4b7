import Foundation
import StewardKit
import StewardStore

/// Compliance: items written by associations (type Association) and by PutComplianceItems (Custom:...), and the
/// summaries over them.
struct ComplianceOperations: Sendable {
    let store: Store
    let pager: Pager

    func register(into ops: inout [String: Operation]) {
        ops["PutComplianceItems"] = put
        ops["ListComplianceItems"] = listItems
        ops["ListResourceComplianceSummaries"] = resourceSummaries
        ops["ListComplianceSummaries"] = summaries
    }

    static let severities: Set<String> = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED"]

    func put(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let resourceId = try body.requiredString("ResourceId")
        let resourceType = try body.requiredString("ResourceType")
        let complianceType = try body.requiredString("ComplianceType")
        guard resourceType == "ManagedInstance" else { throw AWSError("UnsupportedResourceType", "ResourceType must be ManagedInstance.") }
        guard complianceType.hasPrefix("Custom:") || complianceType == "Association" || complianceType == "Patch",
            complianceType.count <= 100
        else {
            throw AWSError("InvalidItemContentException", "ComplianceType is Custom:<name> (or Association, Patch).")
        }
        guard let instance = try await store.instance(id: resourceId), instance.region == ctx.region else {
            throw AWSError("InvalidResourceId", "The resource \(resourceId) is not a managed instance.")
        }
        guard let summary = try body.object("ExecutionSummary"), summary.has("ExecutionTime") else {
            throw AWSError.validation("ExecutionSummary with ExecutionTime is required.")
        }
        guard let items = try body.objectList("Items"), items.count <= 10_000 else {
            throw AWSError("ItemSizeLimitExceededException", "Items holds at most 10,000 items.")
        }
        let uploadType = try body.string("UploadType") ?? "COMPLETE"
        guard ["COMPLETE", "PARTIAL"].contains(uploadType) else { throw AWSError.validation("UploadType is COMPLETE or PARTIAL.") }
        var records: [(String, String, JSONValue)] = []
        for item in items {
            let severity = try item.requiredString("Severity")
            let status = try item.requiredString("Status")
            guard Self.severities.contains(severity) else { throw AWSError.validation("Severity \(severity) is not valid.") }
            guard ["COMPLIANT", "NON_COMPLIANT"].contains(status) else {
                throw AWSError.validation("Status is COMPLIANT or NON_COMPLIANT.")
            }
            let itemId = try item.string("Id") ?? UUID().uuidString.lowercased()
            records.append(
                (
                    "\(resourceId)|\(complianceType)|\(itemId)", resourceId,
                    .compact([
                        "ComplianceType": .string(complianceType), "ResourceType": "ManagedInstance", "ResourceId": .string(resourceId),
                        "Id": .string(itemId), "Title": JSONValue(try item.string("Title")), "Status": .string(status),
                        "Severity": .string(severity),
                        "ExecutionSummary": .object(summary.fields), "Details": item.fields["Details"] ?? .null,
                    ])
                ))
        }
        if uploadType == "COMPLETE" {
            // A complete upload replaces what this type said about the resource before.
            for old in try await store.records(kind: "compliance", region: ctx.region, parent: resourceId)
            where old["ComplianceType"]?.textValue == complianceType {
                try await store.deleteRecords(
                    kind: "compliance", region: ctx.region, id: "\(resourceId)|\(complianceType)|\(old["Id"]?.textValue ?? "")")
            }
        }
        try await store.putRecords(kind: "compliance", region: ctx.region, records, now: ctx.nowSeconds)
        return [:]
    }

    /// Filters of the compliance operations: Key, Values, Type EQUAL|NOT_EQUAL|BEGIN_WITH|LESS_THAN|GREATER_THAN.
    static func matches(_ item: JSONValue, _ filters: [RequestBody]) throws(AWSError) -> Bool {
        for f in filters {
            let key = try f.requiredString("Key")
            let values = try f.stringList("Values") ?? []
            let type = try f.string("Type") ?? "EQUAL"
            let field: String =
                switch key {
                case "ComplianceType", "Status", "Severity", "ResourceId", "ResourceType", "Id", "Title": key
                case "OverallSeverity": "Severity"
                case "ExecutionId": "ExecutionId"
                default: throw AWSError("InvalidFilter", "The filter key \(key) is not valid.")
                }
            let value = field == "ExecutionId" ? item["ExecutionSummary"]?["ExecutionId"]?.textValue ?? "" : item[field]?.textValue ?? ""
            let ok: Bool =
                switch type {
                case "EQUAL": values.contains(value)
                case "NOT_EQUAL": !values.contains(value)
                case "BEGIN_WITH": values.contains { value.hasPrefix($0) }
                case "LESS_THAN": values.first.map { value < $0 } ?? false
                case "GREATER_THAN": values.first.map { value > $0 } ?? false
                default: throw AWSError("InvalidFilter", "The filter type \(type) is not valid.")
                }
            if !ok { return false }
        }
        return true
    }

    func listItems(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try body.objectList("Filters") ?? []
        let resourceIds = Set(try body.stringList("ResourceIds") ?? [])
        var items = try await store.records(kind: "compliance", region: ctx.region)
        if !resourceIds.isEmpty { items = items.filter { resourceIds.contains($0["ResourceId"]?.textValue ?? "") } }
        items = try items.filter { item throws(AWSError) in try Self.matches(item, filters) }
        let page = try pager.page(items, body: body, range: 1...50, defaultSize: 10, query: body.pagingQuery) {
            "\($0["ResourceId"]?.textValue ?? "")|\($0["ComplianceType"]?.textValue ?? "")|\($0["Id"]?.textValue ?? "")"
        }
        return .compact(["ComplianceItems": .array(Array(page.items)), "NextToken": page.nextToken])
    }

    static let severityOrder = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED"]

    static func severitySummary(_ items: [JSONValue]) -> JSONValue {
        var counts: [String: Int] = [:]
        for i in items { counts[i["Severity"]?.textValue ?? "UNSPECIFIED", default: 0] += 1 }
        return [
            "CriticalCount": JSONValue(counts["CRITICAL"] ?? 0), "HighCount": JSONValue(counts["HIGH"] ?? 0),
            "MediumCount": JSONValue(counts["MEDIUM"] ?? 0), "LowCount": JSONValue(counts["LOW"] ?? 0),
            "InformationalCount": JSONValue(counts["INFORMATIONAL"] ?? 0), "UnspecifiedCount": JSONValue(counts["UNSPECIFIED"] ?? 0),
        ]
    }

    func resourceSummaries(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try body.objectList("Filters") ?? []
        let items = try await store.records(kind: "compliance", region: ctx.region)
        let grouped = Dictionary(grouping: items) { "\($0["ResourceId"]?.textValue ?? "")|\($0["ComplianceType"]?.textValue ?? "")" }
        var summaries: [JSONValue] = []
        for key in grouped.keys.sorted() {
            let group = grouped[key]!
            let compliant = group.filter { $0["Status"]?.textValue == "COMPLIANT" }
            let non = group.filter { $0["Status"]?.textValue != "COMPLIANT" }
            let worst = Self.severityOrder.first { s in non.contains { $0["Severity"]?.textValue == s } } ?? "UNSPECIFIED"
            let latest = group.max {
                ($0["ExecutionSummary"]?["ExecutionTime"]?.numberValue ?? 0) < ($1["ExecutionSummary"]?["ExecutionTime"]?.numberValue ?? 0)
            }
            let summary: JSONValue = [
                "ComplianceType": group[0]["ComplianceType"] ?? .null, "ResourceType": "ManagedInstance",
                "ResourceId": group[0]["ResourceId"] ?? .null,
                "Status": non.isEmpty ? "COMPLIANT" : "NON_COMPLIANT", "OverallSeverity": .string(worst),
                "ExecutionSummary": latest?["ExecutionSummary"] ?? .null,
                "CompliantSummary": ["CompliantCount": JSONValue(compliant.count), "SeveritySummary": Self.severitySummary(compliant)],
                "NonCompliantSummary": ["NonCompliantCount": JSONValue(non.count), "SeveritySummary": Self.severitySummary(non)],
            ]
            let probe: JSONValue = [
                "ComplianceType": summary["ComplianceType"] ?? .null, "ResourceId": summary["ResourceId"] ?? .null,
                "ResourceType": "ManagedInstance", "Status": summary["Status"] ?? .null, "Severity": .string(worst),
            ]
            if try Self.matches(probe, filters) { summaries.append(summary) }
        }
        let page = try pager.page(summaries, body: body, range: 1...50, defaultSize: 10, query: body.pagingQuery) {
            "\($0["ResourceId"]?.textValue ?? "")|\($0["ComplianceType"]?.textValue ?? "")"
        }
        return .compact(["ResourceComplianceSummaryItems": .array(Array(page.items)), "NextToken": page.nextToken])
    }

    func summaries(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try body.objectList("Filters") ?? []
        let items = try await store.records(kind: "compliance", region: ctx.region).filter { item in
            (try? Self.matches(item, filters)) ?? false
        }
        let byType = Dictionary(grouping: items) { $0["ComplianceType"]?.textValue ?? "" }
        var out: [JSONValue] = []
        for type in byType.keys.sorted() {
            let byResource = Dictionary(grouping: byType[type]!) { $0["ResourceId"]?.textValue ?? "" }
            let nonResources = byResource.values.filter { group in group.contains { $0["Status"]?.textValue != "COMPLIANT" } }
            let compliantResources = byResource.values.filter { group in !group.contains { $0["Status"]?.textValue != "COMPLIANT" } }
            out.append([
                "ComplianceType": .string(type),
                "CompliantSummary": [
                    "CompliantCount": JSONValue(compliantResources.count),
                    "SeveritySummary": Self.severitySummary(compliantResources.compactMap(\.first)),
                ],
                "NonCompliantSummary": [
                    "NonCompliantCount": JSONValue(nonResources.count),
                    "SeveritySummary": Self.severitySummary(
                        nonResources.compactMap { g in g.first { $0["Status"]?.textValue != "COMPLIANT" } }),
                ],
            ])
        }
        let page = try pager.page(out, body: body, range: 1...50, defaultSize: 10, query: body.pagingQuery) {
            $0["ComplianceType"]?.textValue ?? ""
        }
        return .compact(["ComplianceSummaryItems": .array(Array(page.items)), "NextToken": page.nextToken])
    }
}
