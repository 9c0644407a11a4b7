#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A JSON frame on the agent channel (`/agent/v1/channel`). Each frame has a `type`; the other members depend on it.
public struct ChannelFrame: Sendable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// server → agent: a fresh nonce that the agent must sign.
        case challenge
        /// agent → server: the instance id and its Ed25519 signature over the challenge.
        case auth
        /// server → agent: the channel is authenticated.
        case welcome
        /// agent → server: node facts (host name, address, platform, agent version).
        case info
        /// server → agent: run this invocation (sealed to the agent).
        case invoke
        /// agent → server: the invocation is in the journal and will run (or ran already).
        case accepted
        /// agent → server: the invocation was refused, with a reason.
        case refused
        /// server → agent: cancel a running invocation.
        case cancel
        /// agent → server: the final result of an invocation.
        case result
        /// server → agent: the result is durable; the agent may drop it from its outbox.
        case resultAck
        /// either way: the peer will close the channel, with a reason.
        case error
        /// agent → server, on `/agent/v1/rotate`: new public keys, with a signature by the new key over the challenge.
        case rotate
        /// server → agent: the new keys are in force; the old ones are revoked.
        case rotated
        /// agent → server: gathered inventory; a type unchanged since the last upload comes as its hash alone.
        case inventory
        /// server → agent: the upload is stored; `mismatched` names hash-only types the server does not hold.
        case inventoryAck
        /// server → agent: the node's associations (an ``AssociationSet`` sealed to the agent, with its `digest`), to
        /// apply on their schedules while the server is unreachable.
        case associations
        /// agent → server: an ``OfflineRun``; the server answers `resultAck` with its run id once it is recorded.
        case associationRun
        /// agent → server: a direct execution or refusal from the agent's audit outbox (`audit`).
        case directAudit
        /// server → agent: the audit record `commandId` is stored; the agent may drop it.
        case directAuditAck
        /// either way: an interactive session's message (``SessionMessage``); `open` comes sealed.
        case session
    }

    public var type: Kind
    public var nonce: String?
    public var instanceId: String?
    public var signature: String?
    public var info: NodeInfo?
    /// On `invoke`: the ``InvocationMessage``, sealed to the agent.
    public var sealed: SealedEnvelope?
    public var commandId: String?
    public var result: InvocationResult?
    public var reason: String?
    /// On `rotate`: the new public keys, base64.
    public var signingKey: String?
    public var encryptionKey: String?
    /// On `inventory`: the items; on both inventory frames: the upload's id.
    public var inventory: [InventoryWireItem]?
    public var uploadId: String?
    public var mismatched: [String]?
    /// On `associations`: the set's digest; on `info`: the digest of the set the agent holds.
    public var digest: String?
    public var offlineRun: OfflineRun?
    /// On `welcome`: the node's tags, which the agent keeps for checking grants that target tags.
    public var tags: [String: String]?
    /// On `directAudit`: the record.
    public var audit: DirectAuditRecord?
    /// On `directAudit` of a direct session: what its terminal showed, as asciicast v2.
    public var transcript: String?
    /// On `session`.
    public var session: SessionMessage?

    public init(
        type: Kind, nonce: String? = nil, instanceId: String? = nil, signature: String? = nil, info: NodeInfo? = nil,
        sealed: SealedEnvelope? = nil, commandId: String? = nil, result: InvocationResult? = nil, reason: String? = nil,
        signingKey: String? = nil, encryptionKey: String? = nil, inventory: [InventoryWireItem]? = nil, uploadId: String? = nil,
        mismatched: [String]? = nil, tags: [String: String]? = nil, audit: DirectAuditRecord? = nil, session: SessionMessage? = nil
    ) {
        self.tags = tags
        self.audit = audit
        self.session = session
        self.inventory = inventory
        self.uploadId = uploadId
        self.mismatched = mismatched
        self.type = type
        self.nonce = nonce
        self.instanceId = instanceId
        self.signature = signature
        self.info = info
        self.sealed = sealed
        self.commandId = commandId
        self.result = result
        self.reason = reason
        self.signingKey = signingKey
        self.encryptionKey = encryptionKey
    }

    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public static func decode(_ text: String) throws -> ChannelFrame {
        try JSONDecoder().decode(ChannelFrame.self, from: Data(text.utf8))
    }

    /// The bytes an agent signs to prove its identity on a new channel.
    public static func authMessage(nonce: String, instanceId: String) -> Data {
        Data("steward-channel-v1\n\(nonce)\n\(instanceId)".utf8)
    }

    /// The bytes the server signs in its welcome, so the agent knows it reached the server it registered with.
    public static func welcomeMessage(nonce: String, instanceId: String) -> Data {
        Data("steward-welcome-v1\n\(nonce)\n\(instanceId)".utf8)
    }
}

/// Facts an agent reports about its node.
public struct NodeInfo: Sendable, Codable, Hashable {
    public var computerName: String
    public var ipAddress: String
    public var platformName: String
    public var platformType: String
    public var platformVersion: String
    public var agentVersion: String

    public init(
        computerName: String, ipAddress: String, platformName: String, platformType: String, platformVersion: String,
        agentVersion: String
    ) {
        self.computerName = computerName
        self.ipAddress = ipAddress
        self.platformName = platformName
        self.platformType = platformType
        self.platformVersion = platformVersion
        self.agentVersion = agentVersion
    }
}

/// One invocation sent to an agent.
public struct InvocationMessage: Sendable, Codable, Hashable {
    public var commandId: String
    public var instanceId: String
    public var documentName: String
    public var plan: RunPlan
    /// Epoch seconds after which the agent must not start the invocation (the delivery timeout).
    public var notAfter: Double
    /// SecureString values the plan uses; the agent masks them in output before it leaves the node.
    public var secrets: [String]

    public init(commandId: String, instanceId: String, documentName: String, plan: RunPlan, notAfter: Double, secrets: [String] = []) {
        self.commandId = commandId
        self.instanceId = instanceId
        self.documentName = documentName
        self.plan = plan
        self.notAfter = notAfter
        self.secrets = secrets
    }
}

/// The outcome of one step (an SSM "plugin").
public struct PluginResult: Sendable, Codable, Hashable {
    public var name: String
    public var action: String
    /// Pending, InProgress, Success, Failed, TimedOut, Cancelled or Skipped.
    public var status: String
    public var statusDetails: String
    public var responseCode: Int
    public var startedAt: Double?
    public var finishedAt: Double?
    public var stdout: String
    public var stderr: String

    public init(
        name: String, action: String, status: String, statusDetails: String, responseCode: Int, startedAt: Double?,
        finishedAt: Double?, stdout: String, stderr: String
    ) {
        self.name = name
        self.action = action
        self.status = status
        self.statusDetails = statusDetails
        self.responseCode = responseCode
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// The final outcome of an invocation on a node.
public struct InvocationResult: Sendable, Codable, Hashable {
    public var commandId: String
    public var instanceId: String
    public var state: InvocationState
    public var responseCode: Int
    public var startedAt: Double
    public var finishedAt: Double
    public var plugins: [PluginResult]

    public init(
        commandId: String, instanceId: String, state: InvocationState, responseCode: Int, startedAt: Double,
        finishedAt: Double, plugins: [PluginResult]
    ) {
        self.commandId = commandId
        self.instanceId = instanceId
        self.state = state
        self.responseCode = responseCode
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.plugins = plugins
    }
}

/// Sent once by `steward-agent register` on `/agent/v1/register`.
public struct RegistrationRequest: Sendable, Codable {
    public var activationId: String
    public var activationCode: String
    /// Base64 raw Ed25519 public key.
    public var signingKey: String
    /// Base64 raw X25519 public key.
    public var encryptionKey: String
    public var info: NodeInfo

    public init(activationId: String, activationCode: String, signingKey: String, encryptionKey: String, info: NodeInfo) {
        self.activationId = activationId
        self.activationCode = activationCode
        self.signingKey = signingKey
        self.encryptionKey = encryptionKey
        self.info = info
    }
}

public struct RegistrationResponse: Sendable, Codable {
    public var instanceId: String?
    public var region: String?
    /// Base64 raw Ed25519 public key of the server, which the agent pins.
    public var serverSigningKey: String?
    public var error: String?

    public init(instanceId: String? = nil, region: String? = nil, serverSigningKey: String? = nil, error: String? = nil) {
        self.instanceId = instanceId
        self.region = region
        self.serverSigningKey = serverSigningKey
        self.error = error
    }
}

/// One inventory type on the agent channel: PutInventory's item, with the content left out when unchanged.
public struct InventoryWireItem: Sendable, Codable, Hashable {
    public var typeName: String
    public var schemaVersion: String
    public var captureTime: String
    public var contentHash: String
    public var content: [[String: String]]?

    public init(typeName: String, schemaVersion: String, captureTime: String, contentHash: String, content: [[String: String]]?) {
        self.typeName = typeName
        self.schemaVersion = schemaVersion
        self.captureTime = captureTime
        self.contentHash = contentHash
        self.content = content
    }
}
