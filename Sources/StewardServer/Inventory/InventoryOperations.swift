import Foundation
import StewardKit
import StewardStore

/// SSM Inventory: PutInventory, GetInventory, ListInventoryEntries, GetInventorySchema, DeleteInventory,
/// DescribeInventoryDeletions; and Steward's saved queries and exports.
struct InventoryOperations: Sendable {
    let store: Store
    let pager: Pager
    let intake: InventoryIntake
    let queries: InventoryQueries
    let exporter: InventoryExporter?
    let nodeChanged: @Sendable (String, String) -> Void

    init(store: Store, pager: Pager, exporter: InventoryExporter?, nodeChanged: @escaping @Sendable (String, String) -> Void = { _, _ in })
    {
        self.nodeChanged = nodeChanged
        self.store = store
        self.pager = pager
        self.intake = InventoryIntake(store: store)
        self.queries = InventoryQueries(store: store)
        self.exporter = exporter
    }

    func register(into ops: inout [String: Operation]) {
        ops["PutInventory"] = putInventory
        ops["GetInventory"] = getInventory
        ops["ListInventoryEntries"] = listInventoryEntries
        ops["GetInventorySchema"] = getInventorySchema
        ops["DeleteInventory"] = deleteInventory
        ops["DescribeInventoryDeletions"] = describeInventoryDeletions
        ops["Steward.PutInventoryQuery"] = putQuery
        ops["Steward.ListInventoryQueries"] = listQueries
        ops["Steward.DeleteInventoryQuery"] = deleteQuery
        ops["Steward.ExportInventory"] = export
    }

    func putInventory(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let instanceId = try body.requiredString("InstanceId")
        let items = try InventoryIntake.items(from: body)
        try await intake.put(region: ctx.region, instanceId: instanceId, items: items, now: ctx.nowSeconds)
        nodeChanged(ctx.region, instanceId)
        return ["Message": .string("Inventory of \(instanceId) updated: \(items.map(\.typeName).joined(separator: ", ")).")]
    }

    func getInventory(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filterBodies = try body.objectList("Filters") ?? []
        guard filterBodies.count <= 5 else { throw AWSError.validation("Filters holds at most 5 filters.") }
        let filters = try filterBodies.map { item throws(AWSError) in try InventoryQueries.filter(item) }
        let selection = try await queries.select(region: ctx.region, filters: filters)
        if let aggregators = try body.objectList("Aggregators"), !aggregators.isEmpty {
            guard aggregators.count <= 10 else { throw AWSError.validation("Aggregators holds at most 10 aggregators.") }
            var entities: [JSONValue] = []
            for aggregator in aggregators {
                entities.append(
                    try await queries.aggregate(
                        region: ctx.region, aggregator: aggregator, within: selection.instances, unfiltered: filters.isEmpty))
            }
            return ["Entities": .array(entities)]
        }
        let attributes = try body.objectList("ResultAttributes") ?? []
        guard attributes.count <= 1 else { throw AWSError.validation("ResultAttributes holds exactly one item.") }
        let typeName = try attributes.first?.requiredString("TypeName") ?? "AWS:InstanceInformation"
        var ids = selection.instances
        if !attributes.isEmpty {
            ids.formIntersection(try await store.inventoryHolders(region: ctx.region, typeName: typeName))
        }
        let page = try pager.page(ids.sorted(), body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery, key: { $0 })
        let pageIds = Array(page.items)
        let headers = Dictionary(
            try await store.inventoryItems(region: ctx.region, typeName: typeName, instanceIds: pageIds).map { ($0.instanceId, $0) },
            uniquingKeysWith: { a, _ in a })
        // Content: the page's entries of the type; when the type was filtered, only the entries that matched.
        let typeFilters = selection.positiveTypes[typeName]
        // With a Name filter on this type only the named entries are read, not every entry of the page's nodes.
        var rows: [InventoryEntryRow] = []
        if let names = typeFilters?.first(where: { $0.attribute == "Name" && $0.type == "Equal" })?.values {
            for name in Set(names) {
                rows += try await store.fleetEntries(
                    region: ctx.region, typeName: typeName, name: name, instanceIds: pageIds, attributes: true)
            }
        } else {
            rows = try await store.fleetEntries(region: ctx.region, typeName: typeName, instanceIds: pageIds, attributes: true)
        }
        let platforms = try await platformsIfNeeded(ctx, typeFilters ?? [], instanceIds: pageIds)
        var content: [String: [JSONValue]] = [:]
        for row in rows {
            if let typeFilters, !InventoryQueries.entryMatches(row, typeFilters, platforms: platforms) { continue }
            content[row.instanceId, default: []].append(.object(row.attributes.mapValues { .string($0) }))
        }
        let entities: [JSONValue] = pageIds.map { id in
            guard let header = headers[id] else { return ["Id": .string(id), "Data": [:]] }
            return [
                "Id": .string(id),
                "Data": .object([
                    typeName: [
                        "TypeName": .string(typeName), "SchemaVersion": .string(header.schemaVersion),
                        "CaptureTime": .string(header.captureTime),
                        "ContentHash": .string(header.contentHash), "Content": .array(content[id] ?? []),
                    ]
                ]),
            ]
        }
        return .compact(["Entities": .array(entities), "NextToken": page.nextToken])
    }

    /// The version order of the page's nodes, when the filters compare versions.
    func platformsIfNeeded(_ ctx: APIContext, _ filters: [InventoryQueries.Filter], instanceIds: [String]) async throws -> [String: String]
    {
        guard filters.contains(where: { ["LessThan", "GreaterThan"].contains($0.type) }) else { return [:] }
        return try await queries.platformNames(region: ctx.region, instanceIds: instanceIds)
    }

    func listInventoryEntries(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let instanceId = try body.requiredString("InstanceId")
        let typeName = try body.requiredString("TypeName")
        guard let instance = try await store.instance(id: instanceId), instance.region == ctx.region else {
            throw AWSError("InvalidInstanceId", "The instance \(instanceId) is not a managed instance of this account and region.")
        }
        guard typeName.hasPrefix("AWS:") || typeName.hasPrefix("Custom:") else {
            throw AWSError("InvalidTypeNameException", "The type name \(typeName) is not valid.")
        }
        var filters: [InventoryQueries.Filter] = []
        for f in try body.objectList("Filters") ?? [] {
            let key = try f.requiredString("Key")
            let values = try f.stringList("Values") ?? []
            let type = try f.string("Type") ?? "Equal"
            guard InventoryQueries.filterTypes.contains(type) else { throw AWSError("InvalidFilter", "Filter type \(type) is not valid.") }
            let attribute = key.hasPrefix(typeName + ".") ? String(key.dropFirst(typeName.count + 1)) : key
            filters.append(.init(typeName: typeName, attribute: attribute, values: values, type: type))
        }
        let header = try await store.inventoryItems(region: ctx.region, instanceId: instanceId, typeName: typeName).first
        var entries = try await store.inventoryEntries(region: ctx.region, instanceId: instanceId, typeName: typeName)
        if !filters.isEmpty {
            let platform = try await queries.platformNames(region: ctx.region)[instanceId] ?? "dpkg"
            entries = entries.filter { entry in
                let row = InventoryEntryRow(instanceId: instanceId, name: entry["Name"], version: entry["Version"], attributes: entry)
                let plus = filters.filter { $0.type != "NotEqual" }
                let minus = filters.filter { $0.type == "NotEqual" }
                return InventoryQueries.entryMatches(row, plus, platforms: [instanceId: platform])
                    && minus.allSatisfy { f in !(entry[f.attribute].map(f.values.contains) ?? false) }
            }
        }
        let indexed = entries.enumerated().map { ($0.offset, $0.element) }
        let page = try pager.page(indexed, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery, key: { String($0.0) })
        return .compact([
            "TypeName": .string(typeName), "InstanceId": .string(instanceId), "SchemaVersion": JSONValue(header?.schemaVersion),
            "CaptureTime": JSONValue(header?.captureTime),
            "Entries": .array(page.items.map { .object($0.1.mapValues { .string($0) }) }), "NextToken": page.nextToken,
        ])
    }

    func getInventorySchema(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let typeName = try body.string("TypeName")
        let aggregatorOnly = try body.bool("Aggregator") ?? false
        var schemas: [JSONValue] = []
        for s in InventorySchemas.builtIn where typeName == nil || s.typeName == typeName {
            if aggregatorOnly && s.aggregatable.isEmpty { continue }
            let attributes = aggregatorOnly ? s.attributes.filter { s.aggregatable.contains($0.name) } : s.attributes
            schemas.append(
                .compact([
                    "TypeName": .string(s.typeName), "Version": .string(s.version), "DisplayName": JSONValue(s.displayName),
                    "Attributes": .array(attributes.map { ["Name": .string($0.name), "DataType": .string($0.dataType)] }),
                ]))
        }
        if !aggregatorOnly {
            for s in try await store.inventorySchemas(region: ctx.region) where !s.disabled && (typeName == nil || s.typeName == typeName) {
                schemas.append([
                    "TypeName": .string(s.typeName), "Version": .string(s.version),
                    "Attributes": .array(s.attributes.prefix(50).map { ["Name": .string($0), "DataType": "string"] }),
                ])
            }
        }
        if let typeName, schemas.isEmpty, !typeName.hasPrefix("AWS:"), !typeName.hasPrefix("Custom:") {
            throw AWSError("InvalidTypeNameException", "The type name \(typeName) is not valid.")
        }
        let page = try pager.page(
            schemas, body: body, range: 50...200, defaultSize: 200, query: body.pagingQuery, key: { $0["TypeName"]?.textValue ?? "" })
        return .compact(["Schemas": .array(Array(page.items)), "NextToken": page.nextToken])
    }

    func deleteInventory(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let typeName = try body.requiredString("TypeName")
        guard typeName.hasPrefix("Custom:") else {
            throw AWSError("InvalidTypeNameException", "Only custom inventory types (Custom:...) can be deleted, not \(typeName).")
        }
        let option = try body.string("SchemaDeleteOption")
        if let option, !["DisableSchema", "DeleteSchema"].contains(option) {
            throw AWSError("InvalidOptionException", "SchemaDeleteOption is DisableSchema or DeleteSchema, not \(option).")
        }
        let schemas = try await store.inventorySchemas(region: ctx.region)
        guard schemas.contains(where: { $0.typeName == typeName }) else {
            throw AWSError("InvalidTypeNameException", "There is no custom inventory type \(typeName).")
        }
        let holders = try await store.inventoryItems(region: ctx.region, typeName: typeName)
        let byVersion = Dictionary(grouping: holders, by: \.schemaVersion).mapValues(\.count)
        let deletionId = UUID().uuidString.lowercased()
        func summary(remaining: Bool) -> JSONValue {
            [
                "TotalCount": JSONValue(holders.count), "RemainingCount": JSONValue(remaining ? holders.count : 0),
                "SummaryItems": .array(
                    byVersion.sorted { $0.key < $1.key }.map {
                        ["Version": .string($0.key), "Count": JSONValue($0.value), "RemainingCount": JSONValue(remaining ? $0.value : 0)]
                    }),
            ]
        }
        if try body.bool("DryRun") == true {
            return ["DeletionId": .string(deletionId), "TypeName": .string(typeName), "DeletionSummary": summary(remaining: true)]
        }
        _ = try await store.deleteInventoryType(region: ctx.region, typeName: typeName)
        if let option { try await store.changeInventorySchema(region: ctx.region, typeName: typeName, delete: option == "DeleteSchema") }
        let done = summary(remaining: false)
        try await store.recordInventoryDeletion(
            region: ctx.region, deletionId: deletionId, typeName: typeName, started: ctx.nowSeconds, summary: done)
        return ["DeletionId": .string(deletionId), "TypeName": .string(typeName), "DeletionSummary": done]
    }

    func describeInventoryDeletions(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let wanted = try body.string("DeletionId")
        var deletions = try await store.inventoryDeletions(region: ctx.region)
        if let wanted {
            deletions = deletions.filter { $0.deletionId == wanted }
            if deletions.isEmpty { throw AWSError("InvalidDeletionIdException", "There is no deletion \(wanted).") }
        }
        let page = try pager.page(deletions, body: body, range: 1...50, defaultSize: 50, query: body.pagingQuery, key: { $0.deletionId })
        return .compact([
            "InventoryDeletions": .array(
                page.items.map { d in
                    [
                        "DeletionId": .string(d.deletionId), "TypeName": .string(d.typeName),
                        "DeletionStartTime": JSONValue.number(d.started),
                        "LastStatus": "Complete", "LastStatusMessage": "Deletion is successful", "DeletionSummary": d.summary,
                        "LastStatusUpdateTime": JSONValue.number(d.started),
                    ]
                }),
            "NextToken": page.nextToken,
        ])
    }

    // MARK: Steward's own: saved queries and exports

    func putQuery(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        guard (1...128).contains(name.count), name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw AWSError.validation("Name is 1 to 128 letters, digits, '-', '_' or '.'.")
        }
        let query = try body.requiredString("Query")
        do { _ = try InventoryQueryText.parse(query) } catch { throw AWSError("InvalidQuery", "\(error)") }
        try await store.saveInventoryQuery(
            region: ctx.region,
            SavedInventoryQuery(name: name, query: query, description: try body.string("Description") ?? "", created: ctx.nowSeconds))
        return ["Name": .string(name)]
    }

    func listQueries(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let saved = try await store.inventoryQueries(region: ctx.region)
        let builtIn = InventoryQueryText.predefined.filter { p in !saved.contains { $0.name == p.name } }
        let all = (saved + builtIn).sorted { $0.name < $1.name }
        return [
            "Queries": .array(
                all.map { q in
                    [
                        "Name": .string(q.name), "Query": .string(q.query), "Description": .string(q.description),
                        "Predefined": .bool(!saved.contains { $0.name == q.name }),
                    ]
                })
        ]
    }

    func deleteQuery(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        guard try await store.deleteInventoryQuery(region: ctx.region, name: name) else {
            throw AWSError("ResourceNotFoundException", "There is no saved inventory query \(name).")
        }
        return [:]
    }

    func export(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        guard let exporter else {
            throw AWSError("InvalidRequest", "This server has no export folder; start it with --inventory-export-dir.")
        }
        let result = try await exporter.export(region: ctx.region)
        return [
            "Folder": .string(exporter.folder), "FilesWritten": JSONValue(result.written), "FilesRemoved": JSONValue(result.removed),
            "FilesUnchanged": JSONValue(result.unchanged),
        ]
    }
}
