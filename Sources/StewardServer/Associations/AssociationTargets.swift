import StewardKit
import StewardStore

/// Who an association is for. Membership is a question over node attributes, asked again whenever a node changes:
/// `InstanceIds` (and `*`), `tag:Key`, `tag-key`, `resource-groups:Name` (a group of nodes, see ``NodeGroups``: tags,
/// platform, agent version, PingStatus and inventory facts with and/or/not), and Steward's
/// `inventory:<Type>.<Attribute>` (nodes whose inventory has an entry with one of the values, for example
/// `inventory:AWS:Application.Name` = `nginx`). All clauses must hold.
struct AssociationTargets: Sendable {
    var expression: TargetExpression?
    var inventory: [InventoryQueries.Filter]
    var group: String?

    init(_ pairs: [(key: String, values: [String])]) throws(AWSError) {
        let split = try NodeGroups.splitTargets(pairs)
        var plain: [(key: String, values: [String])] = []
        var inventory: [InventoryQueries.Filter] = []
        for p in split.plain {
            if p.key.hasPrefix("inventory:") {
                let key = String(p.key.dropFirst("inventory:".count))
                guard let dot = key.lastIndex(of: "."), key.hasPrefix("AWS:") || key.hasPrefix("Custom:"), !p.values.isEmpty else {
                    throw AWSError("InvalidTarget", "An inventory target is inventory:TypeName.Attribute with values, not \(p.key).")
                }
                inventory.append(
                    .init(typeName: String(key[..<dot]), attribute: String(key[key.index(after: dot)...]), values: p.values, type: "Equal"))
            } else {
                plain.append(p)
            }
        }
        guard !plain.isEmpty || !inventory.isEmpty || split.group != nil else {
            throw AWSError("InvalidTarget", "At least one target is required.")
        }
        self.expression = plain.isEmpty ? nil : try TargetExpression(targets: plain)
        self.inventory = inventory
        self.group = split.group
    }

    /// The members among `instances` (all of the region's nodes, or the ones that changed). A group that was deleted
    /// has no members.
    func members(of instances: [ManagedInstance], region: String, groups: NodeGroups) async throws -> [ManagedInstance] {
        var selected = instances
        if let expression {
            let tags = try await groups.store.tags(region: region, type: "ManagedInstance", ids: instances.map(\.instanceId))
            selected = selected.filter { expression.matches(.init(instanceId: $0.instanceId, tags: tags[$0.instanceId] ?? [:])) }
        }
        if !inventory.isEmpty, !selected.isEmpty {
            let matching = try await groups.queries.select(region: region, filters: inventory).instances
            selected = selected.filter { matching.contains($0.instanceId) }
        }
        if let group, !selected.isEmpty {
            let query = try await groups.query(group: group, region: region) ?? .any([])
            selected = try await groups.members(query, of: selected, region: region)
        }
        return selected
    }
}
