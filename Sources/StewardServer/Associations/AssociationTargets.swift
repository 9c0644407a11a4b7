import StewardKit
import StewardStore

/// Who an association is for. Membership is a question over node attributes, asked again whenever a node changes:
/// `InstanceIds` (and `*`), `tag:Key`, `tag-key`, and Steward's `inventory:<Type>.<Attribute>` (nodes whose
/// inventory has an entry with one of the values, for example `inventory:AWS:Application.Name` = `nginx`).
/// All clauses must hold.
struct AssociationTargets: Sendable {
    var expression: TargetExpression?
    var inventory: [InventoryQueries.Filter]

    init(_ pairs: [(key: String, values: [String])]) throws(AWSError) {
        var plain: [(key: String, values: [String])] = []
        var inventory: [InventoryQueries.Filter] = []
        for p in pairs {
            if p.key.hasPrefix("inventory:") {
                let key = String(p.key.dropFirst("inventory:".count))
                guard let dot = key.lastIndex(of: "."), key.hasPrefix("AWS:") || key.hasPrefix("Custom:"), !p.values.isEmpty else {
                    throw AWSError("InvalidTarget", "An inventory target is inventory:TypeName.Attribute with values, not \(p.key).")
                }
                inventory.append(
                    .init(typeName: String(key[..<dot]), attribute: String(key[key.index(after: dot)...]), values: p.values, type: "Equal"))
            } else if p.key.hasPrefix("resource-groups:") {
                throw AWSError("InvalidTarget", "resource-groups: targets are not supported yet; use tag:, tag-key or inventory: targets.")
            } else {
                plain.append(p)
            }
        }
        guard !plain.isEmpty || !inventory.isEmpty else { throw AWSError("InvalidTarget", "At least one target is required.") }
        self.expression = plain.isEmpty ? nil : try TargetExpression(targets: plain)
        self.inventory = inventory
    }

    /// The members among `instances` (all of the region's nodes, or the one that changed).
    func members(of instances: [ManagedInstance], region: String, store: Store, queries: InventoryQueries) async throws -> [ManagedInstance]
    {
        var selected = instances
        if let expression {
            let tags = try await store.tags(region: region, type: "ManagedInstance", ids: instances.map(\.instanceId))
            selected = selected.filter { expression.matches(.init(instanceId: $0.instanceId, tags: tags[$0.instanceId] ?? [:])) }
        }
        if !inventory.isEmpty, !selected.isEmpty {
            let matching = try await queries.select(region: region, filters: inventory).instances
            selected = selected.filter { matching.contains($0.instanceId) }
        }
        return selected
    }
}
