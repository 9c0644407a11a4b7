/// An activation: a code that lets a limited number of nodes register, until it expires.
public struct Activation: Sendable, Hashable {
    public var activationId: String
    public var region: String
    public var codeHash: String
    public var description: String?
    public var defaultInstanceName: String?
    public var iamRole: String
    public var registrationLimit: Int
    public var registrationsCount: Int
    public var expirationDate: Double
    public var createdDate: Double
    public var tags: [Tag]

    public init(
        activationId: String, region: String, codeHash: String, description: String?, defaultInstanceName: String?,
        iamRole: String, registrationLimit: Int, registrationsCount: Int, expirationDate: Double, createdDate: Double,
        tags: [Tag]
    ) {
        self.activationId = activationId
        self.region = region
        self.codeHash = codeHash
        self.description = description
        self.defaultInstanceName = defaultInstanceName
        self.iamRole = iamRole
        self.registrationLimit = registrationLimit
        self.registrationsCount = registrationsCount
        self.expirationDate = expirationDate
        self.createdDate = createdDate
        self.tags = tags
    }
}

/// A managed node as the control plane knows it.
public struct ManagedInstance: Sendable, Hashable {
    public var instanceId: String
    public var region: String
    public var activationId: String?
    public var name: String?
    public var signingKey: String
    public var encryptionKey: String
    public var registrationDate: Double
    public var pingStatus: String
    public var lastPing: Double?
    public var info: NodeInfo?
    public var iamRole: String?

    public init(
        instanceId: String, region: String, activationId: String?, name: String?, signingKey: String,
        encryptionKey: String, registrationDate: Double, pingStatus: String, lastPing: Double?, info: NodeInfo?,
        iamRole: String?
    ) {
        self.instanceId = instanceId
        self.region = region
        self.activationId = activationId
        self.name = name
        self.signingKey = signingKey
        self.encryptionKey = encryptionKey
        self.registrationDate = registrationDate
        self.pingStatus = pingStatus
        self.lastPing = lastPing
        self.info = info
        self.iamRole = iamRole
    }
}

/// One stored version of a document.
public struct DocumentVersion: Sendable, Hashable {
    public var region: String
    public var name: String
    public var version: Int
    public var content: String
    public var format: DocumentFormat
    public var documentType: String
    public var schemaVersion: String
    public var hash: String
    public var createdDate: Double
    public var versionName: String?
    public var targetType: String?
    public var displayName: String?

    public init(
        region: String, name: String, version: Int, content: String, format: DocumentFormat, documentType: String,
        schemaVersion: String, hash: String, createdDate: Double, versionName: String?, targetType: String?,
        displayName: String?
    ) {
        self.region = region
        self.name = name
        self.version = version
        self.content = content
        self.format = format
        self.documentType = documentType
        self.schemaVersion = schemaVersion
        self.hash = hash
        self.createdDate = createdDate
        self.versionName = versionName
        self.targetType = targetType
        self.displayName = displayName
    }
}

/// The versions summary of a document.
public struct DocumentHead: Sendable, Hashable {
    public var region: String
    public var name: String
    public var owner: String
    public var defaultVersion: Int
    public var latestVersion: Int
    public var createdDate: Double

    public init(region: String, name: String, owner: String, defaultVersion: Int, latestVersion: Int, createdDate: Double) {
        self.region = region
        self.name = name
        self.owner = owner
        self.defaultVersion = defaultVersion
        self.latestVersion = latestVersion
        self.createdDate = createdDate
    }
}

/// A Run Command request.
public struct CommandRecord: Sendable, Hashable {
    public var commandId: String
    public var region: String
    public var documentName: String
    public var documentVersion: String
    public var comment: String
    /// The parameters as the caller gave them (references, never resolved secrets).
    public var parameters: [String: [String]]
    public var instanceIds: [String]
    public var targetPairs: [TargetPair]
    public var requestedAt: Double
    public var expiresAfter: Double
    public var timeoutSeconds: Int
    public var executionTimeout: Int
    public var maxConcurrency: String
    public var maxErrors: String
    public var status: String
    public var statusDetails: String
    public var targetCount: Int
    public var completedCount: Int
    public var errorCount: Int
    public var deliveryTimedOutCount: Int
    public var cancelRequested: Bool
    public var plan: RunPlan
    /// `API` for commands sent through the control plane, `Direct` for direct tasks a node reported afterwards.
    public var origin: String = CommandRecord.apiOrigin

    public static let apiOrigin = "API"
    public static let directOrigin = "Direct"

    public struct TargetPair: Sendable, Hashable, Codable {
        public var key: String
        public var values: [String]
        public init(key: String, values: [String]) {
            self.key = key
            self.values = values
        }
    }

    public init(
        commandId: String, region: String, documentName: String, documentVersion: String, comment: String,
        parameters: [String: [String]], instanceIds: [String], targetPairs: [TargetPair], requestedAt: Double,
        expiresAfter: Double, timeoutSeconds: Int, executionTimeout: Int, maxConcurrency: String, maxErrors: String,
        status: String, statusDetails: String, targetCount: Int, completedCount: Int, errorCount: Int,
        deliveryTimedOutCount: Int, cancelRequested: Bool, plan: RunPlan
    ) {
        self.commandId = commandId
        self.region = region
        self.documentName = documentName
        self.documentVersion = documentVersion
        self.comment = comment
        self.parameters = parameters
        self.instanceIds = instanceIds
        self.targetPairs = targetPairs
        self.requestedAt = requestedAt
        self.expiresAfter = expiresAfter
        self.timeoutSeconds = timeoutSeconds
        self.executionTimeout = executionTimeout
        self.maxConcurrency = maxConcurrency
        self.maxErrors = maxErrors
        self.status = status
        self.statusDetails = statusDetails
        self.targetCount = targetCount
        self.completedCount = completedCount
        self.errorCount = errorCount
        self.deliveryTimedOutCount = deliveryTimedOutCount
        self.cancelRequested = cancelRequested
        self.plan = plan
    }

    /// The moment after which an invocation that has not started is `DeliveryTimedOut`.
    public var deliveryDeadline: Double { requestedAt + Double(timeoutSeconds) }
}

/// A command on one node.
public struct InvocationRecord: Sendable, Hashable {
    public var commandId: String
    public var instanceId: String
    public var region: String
    public var position: Int
    public var instanceName: String
    public var state: InvocationState
    /// Counted against MaxConcurrency: the server has decided to send it.
    public var dispatched: Bool
    /// The agent has it in its journal.
    public var accepted: Bool
    public var requestedAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var responseCode: Int
    public var plugins: [PluginResult]

    public init(
        commandId: String, instanceId: String, region: String, position: Int, instanceName: String,
        state: InvocationState, dispatched: Bool, accepted: Bool, requestedAt: Double, startedAt: Double?,
        finishedAt: Double?, responseCode: Int, plugins: [PluginResult]
    ) {
        self.commandId = commandId
        self.instanceId = instanceId
        self.region = region
        self.position = position
        self.instanceName = instanceName
        self.state = state
        self.dispatched = dispatched
        self.accepted = accepted
        self.requestedAt = requestedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.responseCode = responseCode
        self.plugins = plugins
    }
}

/// One version of a Parameter Store parameter. A SecureString's `value` is its sealed form, never plain text.
public struct ParameterVersion: Sendable, Hashable {
    public var region: String
    public var name: String
    public var version: Int
    public var type: String
    public var value: String
    public var keyId: String?
    public var description: String?
    public var allowedPattern: String?
    public var tier: String
    public var dataType: String
    public var lastModified: Double
    public var lastModifiedUser: String
    public var labels: [String]

    public init(
        region: String, name: String, version: Int, type: String, value: String, keyId: String?, description: String?,
        allowedPattern: String?, tier: String, dataType: String, lastModified: Double, lastModifiedUser: String, labels: [String]
    ) {
        self.region = region
        self.name = name
        self.version = version
        self.type = type
        self.value = value
        self.keyId = keyId
        self.description = description
        self.allowedPattern = allowedPattern
        self.tier = tier
        self.dataType = dataType
        self.lastModified = lastModified
        self.lastModifiedUser = lastModifiedUser
        self.labels = labels
    }
}
