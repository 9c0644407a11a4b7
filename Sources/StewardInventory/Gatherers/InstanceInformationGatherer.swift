/// AWS:InstanceInformation, from what the agent already knows; always sent.
struct InstanceInformationGatherer: Gatherer {
    let facts: InstanceFacts
    var name: String { "AWS:InstanceInformation" }

    func gather(captureTime: String) async throws -> Gathering {
        var entry = [
            "AgentType": "steward-agent", "AgentVersion": facts.agentVersion, "ComputerName": facts.computerName,
            "InstanceId": facts.instanceId, "IpAddress": facts.ipAddress, "PlatformName": facts.platformName,
            "PlatformType": facts.platformType, "PlatformVersion": facts.platformVersion,
            "ResourceType": "ManagedInstance", "InstanceStatus": "Active",
        ]
        entry = entry.filter { !$0.value.isEmpty }
        return Gathering(items: [InventoryItem(typeName: name, schemaVersion: "1.0", captureTime: captureTime, content: [entry])])
    }
}
