import StewardKit

/// The AWS inventory types Steward knows, with their attributes and data types, as GetInventorySchema lists them.
enum InventorySchemas {
    struct Schema: Sendable {
        var typeName: String
        var version: String
        var attributes: [(name: String, dataType: String)]
        var displayName: String?
        /// Attributes GetInventory can aggregate on.
        var aggregatable: [String] = []
    }

    static func strings(_ names: [String]) -> [(name: String, dataType: String)] { names.map { ($0, "string") } }

    static let builtIn: [Schema] = [
        Schema(
            typeName: "AWS:InstanceInformation", version: "1.0",
            attributes: strings([
                "AgentType", "AgentVersion", "ComputerName", "InstanceId", "IpAddress", "PlatformName", "PlatformType", "PlatformVersion",
                "ResourceType", "InstanceStatus",
            ]), displayName: "Instance information", aggregatable: ["PlatformName", "PlatformType", "PlatformVersion", "AgentVersion"]),
        Schema(
            typeName: "AWS:Application", version: "1.1",
            attributes: strings([
                "Name", "ApplicationType", "Publisher", "Version", "InstalledTime", "Architecture", "URL", "Summary", "PackageId",
                "Release",
                "Epoch",
            ]), displayName: "Application", aggregatable: ["Name", "Version", "Publisher", "ApplicationType"]),
        Schema(
            typeName: "AWS:AWSComponent", version: "1.0",
            attributes: strings([
                "Name", "ApplicationType", "Publisher", "Version", "InstalledTime", "Architecture", "URL", "Summary", "PackageId",
                "Release",
                "Epoch",
            ]), displayName: "AWS components", aggregatable: ["Name", "Version"]),
        Schema(
            typeName: "AWS:Network", version: "1.0",
            attributes: strings(["Name", "SubnetMask", "Gateway", "DHCPServer", "DNSServer", "MacAddress", "IPV4", "IPV6"]),
            displayName: "Network"),
        Schema(
            typeName: "AWS:File", version: "1.0",
            attributes: [
                ("Name", "string"), ("Size", "number"), ("Description", "string"), ("FileVersion", "string"), ("InstalledDate", "string"),
                ("ModificationTime", "string"), ("LastAccessTime", "string"), ("ProductName", "string"), ("InstalledDir", "string"),
                ("CompanyName", "string"), ("ProductVersion", "string"), ("ProductLanguage", "string"),
            ], displayName: "File"),
        Schema(
            typeName: "AWS:Service", version: "1.0",
            attributes: strings(["Name", "DisplayName", "ServiceType", "Status", "DependentServices", "ServicesDependedOn", "StartType"]),
            displayName: "Service", aggregatable: ["Name", "Status", "StartType"]),
        Schema(
            typeName: "AWS:InstanceDetailedInformation", version: "1.0",
            attributes: [
                ("CPUModel", "string"), ("CPUCores", "number"), ("CPUs", "number"), ("CPUSpeedMHz", "number"), ("CPUSockets", "number"),
                ("CPUHyperThreadEnabled", "string"), ("OSServicePack", "string"), ("KernelVersion", "string"),
            ], displayName: "Instance details", aggregatable: ["CPUModel", "KernelVersion"]),
        Schema(
            typeName: "AWS:Tag", version: "1.0", attributes: strings(["Key", "Value"]), displayName: "Tag", aggregatable: ["Key", "Value"]),
        Schema(
            typeName: "AWS:WindowsUpdate", version: "1.0",
            attributes: strings(["HotFixId", "Description", "InstalledTime", "InstalledBy"]),
            displayName: "Windows update"),
        Schema(
            typeName: "AWS:WindowsRole", version: "1.0",
            attributes: strings([
                "Name", "DisplayName", "Path", "FeatureType", "DependsOn", "Description", "Installed", "InstalledState", "SubFeatures",
                "ServerComponentDescriptor", "Parent",
            ]),
            displayName: "Windows role"),
        Schema(
            typeName: "AWS:WindowsRegistry", version: "1.0", attributes: strings(["KeyPath", "ValueName", "ValueType", "Value"]),
            displayName: "Windows registry"),
    ]

    static let byName: [String: Schema] = Dictionary(uniqueKeysWithValues: builtIn.map { ($0.typeName, $0) })

    /// Schema versions accepted per AWS type (what agents send).
    static func accepts(_ typeName: String, version: String) -> Bool {
        guard let schema = byName[typeName] else { return false }
        let major = version.split(separator: ".").first
        return major == schema.version.split(separator: ".").first
    }
}
