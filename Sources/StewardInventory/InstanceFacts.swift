/// Facts the agent already knows, for AWS:InstanceInformation.
public struct InstanceFacts: Sendable {
    public var instanceId: String
    public var computerName: String
    public var ipAddress: String
    public var platformName: String
    public var platformType: String
    public var platformVersion: String
    public var agentVersion: String

    public init(
        instanceId: String, computerName: String, ipAddress: String, platformName: String, platformType: String,
        platformVersion: String, agentVersion: String
    ) {
        self.instanceId = instanceId
        self.computerName = computerName
        self.ipAddress = ipAddress
        self.platformName = platformName
        self.platformType = platformType
        self.platformVersion = platformVersion
        self.agentVersion = agentVersion
    }
}
