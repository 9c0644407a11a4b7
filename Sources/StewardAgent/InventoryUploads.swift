import StewardInventory
import StewardKit
import StewardRunner

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `aws:softwareInventory` (the step of AWS-GatherSoftwareInventory): gathers what the parameters ask for and
/// uploads it over the agent's channel. A type whose content hash is the one the server last acknowledged goes
/// as its hash alone; if the server no longer holds that content it says so and the type is sent in full.
struct SoftwareInventoryAction: StepAction {
    let facts: InstanceFacts
    let customInventoryDirectory: String
    let upload: @Sendable ([InventoryItem]) async -> Result<String, AgentError>

    func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        var policy: GatherPolicy
        do { policy = try GatherPolicy(parameters: inputs.objectValue ?? [:]) } catch {
            return .failed("\(error.description)\n")
        }
        if inputs["customInventoryDirectory"] == nil { policy.customInventoryDirectory = customInventoryDirectory }
        let (items, problems) = await Gatherers.gather(policy, facts: facts)
        var stderr = problems.map { "\($0)\n" }.joined()
        switch await upload(items) {
        case .success(let summary):
            return ActionResult(stdout: summary, stderr: stderr)
        case .failure(let error):
            stderr += "\(error.description)\n"
            return ActionResult(failure: error.description, exitCode: 1, stdout: "", stderr: stderr)
        }
    }
}

/// The agent's side of inventory uploads: which hashes the server acknowledged, kept in the state folder.
struct InventoryLedger: Sendable {
    let path: String

    init(folder: StateFolder) {
        path = "\(folder.path)/inventory-hashes.json"
    }

    func acknowledged() -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path),
            let map = try? JSONDecoder().decode([String: String].self, from: data)
        else { return [:] }
        return map
    }

    func record(_ hashes: [String: String]) {
        var map = acknowledged()
        map.merge(hashes) { _, new in new }
        if let data = try? JSONEncoder().encode(map) { try? DurableFile.write(data, to: path, mode: 0o600) }
    }

    func forget(_ types: [String]) {
        var map = acknowledged()
        for t in types { map[t] = nil }
        if let data = try? JSONEncoder().encode(map) { try? DurableFile.write(data, to: path, mode: 0o600) }
    }

    /// The wire items: content left out where the server already holds this very content.
    func wire(_ items: [InventoryItem], full: Set<String> = []) -> [InventoryWireItem] {
        let known = acknowledged()
        return items.map { item in
            let unchanged = known[item.typeName] == item.contentHash && !full.contains(item.typeName)
            return InventoryWireItem(
                typeName: item.typeName, schemaVersion: item.schemaVersion, captureTime: item.captureTime, contentHash: item.contentHash,
                content: unchanged ? nil : item.content)
        }
    }

    /// One line per type: what was sent.
    static func summary(_ wire: [InventoryWireItem], resent: [String]) -> String {
        wire.map { w in
            if resent.contains(w.typeName) { return "\(w.typeName): sent again in full (the server did not hold hash \(w.contentHash))\n" }
            if let content = w.content { return "\(w.typeName): sent (\(content.count) entries)\n" }
            return "\(w.typeName): unchanged (hash only)\n"
        }.joined()
    }
}
