import Foundation
import StewardKit
import StewardStore

/// GetInventory's filters and aggregators over the stored inventory.
///
/// Filters on the same type apply to the same entry ("Name = openssl and Version < 3.0.13" means one package
/// that is both), filters on different types to the same instance. `NotEqual` holds for an instance none of whose
/// entries has one of the values ("nodes lacking nginx"). `LessThan` and `GreaterThan` compare versions as the
/// instance's package manager does (dpkg or rpm order) when the attribute is a version, numbers as numbers, and
/// other text as text.
struct InventoryQueries: Sendable {
    let store: Store

    struct Filter: Sendable, Hashable {
        var typeName: String
        var attribute: String
        var values: [String]
        var type: String
    }

    static let filterTypes: Set<String> = ["Equal", "NotEqual", "BeginWith", "LessThan", "GreaterThan", "Exists"]

    static func filter(_ body: RequestBody) throws(AWSError) -> Filter {
        let key = try body.requiredString("Key")
        let values = try body.stringList("Values") ?? []
        let type = try body.string("Type") ?? "Equal"
        guard filterTypes.contains(type) else {
            throw AWSError(
                "InvalidFilter", "Filter type \(type) is not valid; use Equal, NotEqual, BeginWith, LessThan, GreaterThan or Exists.")
        }
        guard let dot = key.lastIndex(of: "."), key.hasPrefix("AWS:") || key.hasPrefix("Custom:") else {
            throw AWSError("InvalidFilterKey", "The filter key \(key) must be TypeName.Attribute, for example AWS:Application.Name.")
        }
        guard (1...40).contains(values.count) || type == "Exists" else {
            throw AWSError("InvalidFilterValue", "The filter \(key) needs between 1 and 40 values.")
        }
        if ["LessThan", "GreaterThan"].contains(type), values.count != 1 {
            throw AWSError("InvalidFilterValue", "The \(type) filter on \(key) takes exactly one value.")
        }
        return Filter(typeName: String(key[..<dot]), attribute: String(key[key.index(after: dot)...]), values: values, type: type)
    }

    /// The result of filtering: the instances that match, and for each filtered type the entries that matched.
    struct Selection: Sendable {
        var instances: Set<String>
        /// type → instance → matching entries (only for types with positive filters on Name/Version, read lazily).
        var positiveTypes: [String: [Filter]]
    }

    /// Every instance that holds inventory, in id order.
    func inventoriedInstances(region: String) async throws -> [String] {
        try await store.inventoryInstanceIds(region: region).sorted()
    }

    func select(region: String, filters: [Filter]) async throws -> Selection {
        // Every inventoried node, narrowed by each type's filters; read only when no positive filter narrows first.
        var instances: Set<String>?
        var platforms: [String: String]?
        var positive: [String: [Filter]] = [:]
        for (typeName, group) in Dictionary(grouping: filters, by: \.typeName).sorted(by: { $0.key < $1.key }) {
            let plus = group.filter { $0.type != "NotEqual" }
            let minus = group.filter { $0.type == "NotEqual" }
            var matched: Set<String>
            if !plus.isEmpty, let names = Self.versionQuery(plus) {
                // "Name = x and Version < v": compare each distinct version once, then read only the nodes that match.
                positive[typeName] = plus
                let versionFilters = plus.filter { $0.attribute == "Version" }
                func passes(_ version: String, _ order: VersionOrder) -> Bool {
                    versionFilters.allSatisfy { f in
                        let c = order.compare(version, f.values[0])
                        return f.type == "LessThan" ? c < 0 : c > 0
                    }
                }
                // Most versions compare the same in dpkg and rpm order; only the others need each node's platform.
                var settled: [String] = []
                var unsettled: [String] = []
                for (version, _) in try await store.versionCounts(region: region, typeName: typeName, names: names) {
                    let dpkg = passes(version, .dpkg)
                    if dpkg != passes(version, .rpm) {
                        unsettled.append(version)
                    } else if dpkg {
                        settled.append(version)
                    }
                }
                matched = Set(
                    try await store.versionHolders(region: region, typeName: typeName, names: names, versions: settled, platforms: false)
                        .map(\.instanceId))
                for row in try await store.versionHolders(
                    region: region, typeName: typeName, names: names, versions: unsettled, platforms: true)
                where passes(row.version, VersionOrder.forPlatform(row.platform)) {
                    matched.insert(row.instanceId)
                }
            } else if !plus.isEmpty {
                positive[typeName] = plus
                let rows = try await candidates(region: region, typeName: typeName, filters: plus)
                if plus.contains(where: { ["LessThan", "GreaterThan"].contains($0.type) }), platforms == nil {
                    platforms = try await platformNames(region: region)
                }
                matched = Set(rows.filter { Self.entryMatches($0, plus, platforms: platforms ?? [:]) }.map(\.instanceId))
            } else {
                matched = Set(try await store.inventoryHolders(region: region, typeName: typeName))
            }
            for f in minus {
                let rows = try await candidates(
                    region: region, typeName: typeName,
                    filters: [Filter(typeName: typeName, attribute: f.attribute, values: f.values, type: "Equal")])
                matched.subtract(rows.filter { Self.value($0, f.attribute).map(f.values.contains) ?? false }.map(\.instanceId))
            }
            instances = instances.map { $0.intersection(matched) } ?? matched
        }
        if let instances { return Selection(instances: instances, positiveTypes: positive) }
        return Selection(instances: Set(try await inventoriedInstances(region: region)), positiveTypes: positive)
    }

    /// The names when the filters are exactly a Name = ... and comparisons on Version (the "package below version" shape).
    static func versionQuery(_ filters: [Filter]) -> [String]? {
        let names = filters.filter { $0.attribute == "Name" && $0.type == "Equal" }
        let versions = filters.filter { $0.attribute == "Version" && ["LessThan", "GreaterThan"].contains($0.type) }
        guard names.count == 1, !versions.isEmpty, names.count + versions.count == filters.count else { return nil }
        return Array(Set(names[0].values))
    }

    /// The rows that may match: an index lookup when a filter names the entry's Name, else the whole type.
    func candidates(region: String, typeName: String, filters: [Filter]) async throws -> [InventoryEntryRow] {
        let needsAttributes = filters.contains { $0.attribute != "Name" && $0.attribute != "Version" }
        if let byName = filters.first(where: { $0.attribute == "Name" && $0.type == "Equal" }) {
            var rows: [InventoryEntryRow] = []
            for name in Set(byName.values) {
                rows += try await store.fleetEntries(region: region, typeName: typeName, name: name, attributes: needsAttributes)
            }
            return rows
        }
        if let prefix = filters.first(where: { $0.attribute == "Name" && $0.type == "BeginWith" }), prefix.values.count == 1 {
            return try await store.fleetEntries(
                region: region, typeName: typeName, namePrefix: prefix.values[0], attributes: needsAttributes)
        }
        return try await store.fleetEntries(region: region, typeName: typeName, attributes: needsAttributes)
    }

    /// Each node's package version order (`dpkg` or `rpm`), decided once per distinct platform name.
    func platformNames(region: String, instanceIds: [String]? = nil) async throws -> [String: String] {
        let names = try await store.inventoryAttribute(
            region: region, typeName: "AWS:InstanceInformation", attribute: "PlatformName", instanceIds: instanceIds)
        var orders: [String: String] = [:]
        var out: [String: String] = [:]
        out.reserveCapacity(names.count)
        for (instance, name) in names {
            if let known = orders[name] {
                out[instance] = known
            } else {
                let order = VersionOrder.forPlatform(name).rawValue
                orders[name] = order
                out[instance] = order
            }
        }
        return out
    }

    static func value(_ row: InventoryEntryRow, _ attribute: String) -> String? {
        switch attribute {
        case "Name": row.name ?? row.attributes["Name"]
        case "Version": row.version ?? row.attributes["Version"]
        default: row.attributes[attribute]
        }
    }

    static func entryMatches(_ row: InventoryEntryRow, _ filters: [Filter], platforms: [String: String]) -> Bool {
        filters.allSatisfy { f in
            guard let v = value(row, f.attribute) else { return false }
            switch f.type {
            case "Equal": return f.values.contains(v)
            case "BeginWith": return f.values.contains { v.hasPrefix($0) }
            case "Exists": return true
            case "LessThan": return compare(v, f.values[0], attribute: f.attribute, platform: platforms[row.instanceId] ?? "") < 0
            case "GreaterThan": return compare(v, f.values[0], attribute: f.attribute, platform: platforms[row.instanceId] ?? "") > 0
            default: return false
            }
        }
    }

    /// Versions in the package manager's order, numbers as numbers, anything else as text.
    /// `order` is the node's version order (`dpkg` or `rpm`, from ``platformNames(region:)``).
    static func compare(_ a: String, _ b: String, attribute: String, platform order: String) -> Int {
        if attribute == "Version" || attribute.lowercased().contains("version") {
            return (VersionOrder(rawValue: order) ?? .dpkg).compare(a, b)
        }
        if let x = Double(a), let y = Double(b) { return x < y ? -1 : (x > y ? 1 : 0) }
        return a < b ? -1 : (a > b ? 1 : 0)
    }

    // MARK: aggregation

    /// Counts of instances per value (or per combination of values) of the aggregated attributes, or per group.
    func aggregate(region: String, aggregator: RequestBody, within instances: Set<String>, unfiltered: Bool = false) async throws
        -> JSONValue
    {
        let expression = try aggregator.requiredString("Expression")
        if let groups = try aggregator.objectList("Groups"), !groups.isEmpty {
            let typeName = expression.contains(".") ? String(expression[..<expression.lastIndex(of: ".")!]) : expression
            var content: [JSONValue] = []
            for group in groups {
                let name = try group.requiredString("Name")
                let filters = try (group.objectList("Filters") ?? []).map { item throws(AWSError) in try Self.filter(item) }
                let selected = try await select(region: region, filters: filters).instances.intersection(instances)
                content.append(["Name": .string(name), "Count": .string(String(selected.count))])
            }
            return Self.entity(typeName: typeName, content: content)
        }
        var expressions = [expression]
        var nested = try aggregator.objectList("Aggregators") ?? []
        while let next = nested.first {
            expressions.append(try next.requiredString("Expression"))
            nested = try next.objectList("Aggregators") ?? []
        }
        var typeName: String?
        var attributes: [String] = []
        for e in expressions {
            guard let dot = e.lastIndex(of: "."), e.hasPrefix("AWS:") || e.hasPrefix("Custom:") else {
                throw AWSError("InvalidAggregatorException", "The aggregator expression \(e) must be TypeName.Attribute.")
            }
            let t = String(e[..<dot])
            if let typeName, typeName != t {
                throw AWSError(
                    "InvalidAggregatorException", "Nested aggregators must aggregate attributes of the same type, not \(typeName) and \(t)."
                )
            }
            typeName = t
            attributes.append(String(e[e.index(after: dot)...]))
        }
        if unfiltered {
            // The whole fleet: the database counts.
            let counted = try await store.inventoryCounts(region: region, typeName: typeName!, attributes: attributes)
            let content: [JSONValue] = counted.sorted {
                $0.count != $1.count ? $0.count > $1.count : $0.values.lexicographicallyPrecedes($1.values)
            }
            .map { values, count in
                var fields: [String: JSONValue] = ["Count": .string(String(count))]
                for (a, v) in zip(attributes, values) { fields[a] = .string(v) }
                return .object(fields)
            }
            return Self.entity(typeName: typeName!, content: content)
        }
        let needsAttributes = attributes.contains { $0 != "Name" && $0 != "Version" }
        let rows = try await store.fleetEntries(region: region, typeName: typeName!, attributes: needsAttributes)
        var counts: [[String]: Set<String>] = [:]
        for row in rows where instances.contains(row.instanceId) {
            let key = attributes.map { Self.value(row, $0) ?? "" }
            counts[key, default: []].insert(row.instanceId)
        }
        let content: [JSONValue] = counts.sorted {
            $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key.lexicographicallyPrecedes($1.key)
        }
        .map { key, ids in
            var fields: [String: JSONValue] = ["Count": .string(String(ids.count))]
            for (a, v) in zip(attributes, key) { fields[a] = .string(v) }
            return .object(fields)
        }
        return Self.entity(typeName: typeName!, content: content)
    }

    static func entity(typeName: String, content: [JSONValue]) -> JSONValue {
        [
            "Data": .object([
                typeName: [
                    "TypeName": .string(typeName), "SchemaVersion": .string(InventorySchemas.byName[typeName]?.version ?? "1.0"),
                    "Content": .array(content),
                ]
            ])
        ]
    }
}
