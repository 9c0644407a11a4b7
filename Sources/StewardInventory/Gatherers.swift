#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One source of inventory.
protocol Gatherer: Sendable {
    /// The type name that labels this gatherer's problems.
    var name: String { get }
    /// The items found, stamped with `captureTime`; a throw leaves this gatherer's types out of the upload.
    func gather(captureTime: String) async throws -> Gathering
}

/// What one gatherer found, and what it could not read but worked around.
struct Gathering: Sendable {
    var items: [InventoryItem]
    var problems: [String] = []
}

public enum Gatherers {
    /// Gathers every enabled type. Never throws: a gatherer that fails is left out (and its error returned in `problems`).
    public static func gather(_ policy: GatherPolicy, facts: InstanceFacts, now: Date = Date()) async -> (
        items: [InventoryItem], problems: [String]
    ) {
        let captureTime = Host.iso8601(Int(now.timeIntervalSince1970.rounded(.down)))
        var items: [InventoryItem] = []
        var problems: [String] = []
        for gatherer in enabled(policy, facts: facts) {
            do {
                let found = try await gatherer.gather(captureTime: captureTime)
                items += found.items
                problems += found.problems.map { "\(gatherer.name): \($0)" }
            } catch {
                problems.append("\(gatherer.name): \(error)")
            }
        }
        return (items, problems)
    }

    /// The gatherers the policy turns on, in the order their types are sent.
    static func enabled(_ policy: GatherPolicy, facts: InstanceFacts) -> [any Gatherer] {
        var list: [any Gatherer] = [InstanceInformationGatherer(facts: facts)]
        if policy.applications || policy.awsComponents {
            list.append(ApplicationGatherer(applications: policy.applications, awsComponents: policy.awsComponents))
        }
        if policy.networkConfig { list.append(NetworkGatherer()) }
        if !policy.files.isEmpty { list.append(FileGatherer(filters: policy.files)) }
        if policy.services { list.append(ServiceGatherer()) }
        if policy.instanceDetailedInformation { list.append(InstanceDetailedInformationGatherer()) }
        if policy.customInventory { list.append(CustomInventoryGatherer(folder: policy.customInventoryDirectory)) }
        return list
    }
}
