import Crypto
import Foundation
import StewardKit
import StewardStore

/// `Steward.CreateGrant`: a short-lived grant for direct tasks, signed with the server key every agent pins.
///
/// The agent checks it alone (signature, expiry, node, scope), so the control plane may be down when it is used.
struct GrantOperations: Sendable {
    /// Grants live at most this long; the default is one hour.
    static let maxTTL = Int(DirectGrant.maxLifetime)
    /// Node keys carried in one grant at most (tag targets over a large fleet name the first ones only).
    static let maxNodeKeys = 1000

    let store: Store
    let catalog: DocumentCatalog
    let signingKey: Curve25519.Signing.PrivateKey
    let accountId: String

    func register(into ops: inout [String: Operation]) {
        ops["Steward.CreateGrant"] = createGrant
    }

    func createGrant(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let operatorKey = try body.requiredString("OperatorPublicKey")
        guard let keyData = Data(base64Encoded: operatorKey), (try? Curve25519.Signing.PublicKey(rawRepresentation: keyData)) != nil else {
            throw AWSError.validation("OperatorPublicKey must be a base64 raw Ed25519 public key (32 bytes).")
        }
        let ttl = try body.int("TtlSeconds") ?? 3600
        guard (1...Self.maxTTL).contains(ttl) else {
            throw AWSError.validation("TtlSeconds must be between 1 and \(Self.maxTTL) (12 hours).")
        }
        let instanceIds = try body.stringList("InstanceIds") ?? []
        var targets: [CommandRecord.TargetPair] = []
        for t in try body.objectList("Targets") ?? [] {
            targets.append(.init(key: try t.requiredString("Key"), values: try t.stringList("Values") ?? []))
        }
        guard !instanceIds.isEmpty || !targets.isEmpty else {
            throw AWSError.validation("Name the nodes the grant is for with InstanceIds or Targets.")
        }
        let documentNames = try body.stringList("DocumentNames") ?? []
        let commands = try body.stringList("Commands") ?? []
        let sessions = try body.bool("Sessions") ?? false
        guard !documentNames.isEmpty || !commands.isEmpty || sessions else {
            throw AWSError.validation("Name what the grant allows with DocumentNames, Commands or Sessions.")
        }
        guard commands.allSatisfy({ !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            throw AWSError.validation("A command pattern must not be empty.")
        }

        // The nodes in scope now, with their identity keys, so the operator's tool can recognise them.
        var nodes: [ManagedInstance] = []
        if !instanceIds.isEmpty {
            for id in instanceIds where !InstanceID.isValid(id) {
                throw AWSError("InvalidInstanceId", "Instance Id \(id) is not valid.")
            }
            let found = try await store.instances(region: ctx.region, ids: instanceIds)
            let known = Set(found.map(\.instanceId))
            if let unknown = instanceIds.first(where: { !known.contains($0) }) {
                throw AWSError("InvalidInstanceId", "Instance Id \(unknown) is not valid or is not registered.")
            }
            nodes += found
        }
        if !targets.isEmpty {
            let expression = try TargetExpression(targets: targets.map { ($0.key, $0.values) })
            let all = try await store.instances(region: ctx.region)
            let tags = try await store.tags(region: ctx.region, type: "ManagedInstance", ids: all.map(\.instanceId))
            nodes += all.filter { expression.matches(.init(instanceId: $0.instanceId, tags: tags[$0.instanceId] ?? [:])) }
        }
        var nodeKeys: [String: String] = [:]
        for node in nodes.prefix(Self.maxNodeKeys) { nodeKeys[node.instanceId] = node.signingKey }

        var documents: [DirectGrant.Document] = []
        for name in documentNames {
            if name == DirectRequest.shellDocument {
                documents.append(.init(name: name, sha256: nil))
                continue
            }
            let resolved = try await catalog.resolve(region: ctx.region, name: name, version: nil)
            documents.append(.init(name: resolved.version.name, sha256: resolved.version.hash.lowercased()))
        }

        let now = ctx.nowSeconds
        let grant = DirectGrant(
            grantId: "grant-" + UUID().uuidString.lowercased(), accountId: accountId, region: ctx.region,
            issuer: DirectKeys.fingerprint(signingKey.publicKey), operatorKey: operatorKey, instanceIds: instanceIds, targets: targets,
            documents: documents, commands: commands, sessions: sessions, nodeKeys: nodeKeys, issuedAt: now, expiresAt: now + Double(ttl))
        let signed = try SignedGrant.sign(grant, with: signingKey)
        ctx.logger.notice(
            "issued a direct grant",
            metadata: [
                "grant": "\(grant.grantId)", "operator": "\(DirectKeys.fingerprint(rawKey: keyData))", "nodes": "\(nodeKeys.count)",
                "ttl": "\(ttl)",
            ])
        return [
            "GrantId": .string(grant.grantId), "ExpiresAt": .number(grant.expiresAt), "Issuer": .string(grant.issuer),
            "NodeCount": JSONValue(nodeKeys.count),
            "Grant": ["payload": .string(signed.payload), "signature": .string(signed.signature)],
        ]
    }
}

/// Stores the audit records agents deliver as commands of origin Direct, once each.
struct DirectAuditIntake: Sendable {
    let store: Store
    /// Where a session's transcript is kept: `(region, session id) -> path`.
    let transcriptPath: @Sendable (String, String) -> String

    /// True when the record is stored (now or before), so the agent may drop it. The command is written last: once
    /// it exists, a session's transcript and record are stored too.
    func receive(_ record: DirectAuditRecord, transcript: String? = nil, from instanceId: String) async throws -> Bool {
        guard record.isFinished, record.instanceId == instanceId, record.commandId.count == 36 else { return false }
        if try await store.command(id: record.commandId) != nil { return true }
        guard let instance = try await store.instance(id: instanceId) else { return false }
        if let session = record.session {
            try await storeSession(session, of: record, transcript: transcript ?? "", region: instance.region)
        }
        let (command, invocation) = Self.records(
            record, region: instance.region, instanceName: instance.info?.computerName ?? instance.name ?? "")
        try await store.insertCommand(command, invocations: [invocation])
        return true
    }

    /// A direct session as DescribeSessions shows it (history, `Details` saying it was direct) and its transcript where
    /// `Steward.GetSessionTranscript` reads it.
    func storeSession(_ session: DirectSessionSummary, of r: DirectAuditRecord, transcript: String, region: String) async throws {
        guard session.sessionId.hasPrefix("direct-"), !session.sessionId.contains("/") else { return }
        let path = transcriptPath(region, session.sessionId)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(transcript.utf8), attributes: [.posixPermissions: 0o600]),
            rename(tmp, path) == 0
        else { throw AWSError.internalError("cannot store the transcript of \(session.sessionId)") }
        let end = r.result?.finishedAt ?? r.receivedAt
        var record = SessionRecord(
            sessionId: session.sessionId, region: region, target: r.instanceId,
            documentName: session.command == nil ? SessionOperations.runShell : SessionOperations.interactiveCommand,
            status: .terminated, startDate: r.receivedAt, owner: "direct:\(r.operatorKey ?? "unknown operator")", reason: nil,
            command: session.command)
        record.endDate = end
        record.exitCode = session.exitCode
        let how = session.exitCode.map { "the shell exited with status \($0)" } ?? (session.reason ?? "ended without a status")
        record.details = "Direct session (grant \(r.grantId ?? "?"), peer \(r.peer)): \(how)"
        try await store.putRecord(kind: SessionRecord.kind, region: region, id: session.sessionId, body: record.json, now: end)
    }

    static func records(_ r: DirectAuditRecord, region: String, instanceName: String) -> (CommandRecord, InvocationRecord) {
        let state = r.result?.state ?? .failed
        let operatorText = r.operatorKey.map { "operator \($0.prefix(20))" } ?? "unknown operator"
        let what = r.session.map { "session \($0.sessionId), " } ?? ""
        let comment = String("Direct: \(what)\(operatorText), \(r.grantId ?? "no grant")".prefix(100))
        var command = CommandRecord(
            commandId: r.commandId, region: region, documentName: r.documentName.isEmpty ? "-" : r.documentName,
            documentVersion: "$DEFAULT", comment: comment, parameters: r.parameters, instanceIds: [r.instanceId], targetPairs: [],
            requestedAt: r.receivedAt, expiresAfter: r.result?.finishedAt ?? r.receivedAt, timeoutSeconds: 3600, executionTimeout: 3600,
            maxConcurrency: "1", maxErrors: "0", status: state.status,
            statusDetails: r.refusal.map { "Refused: \($0.code.rawValue)" } ?? state.details, targetCount: 1, completedCount: 1,
            errorCount: state == .success ? 0 : 1, deliveryTimedOutCount: 0, cancelRequested: false,
            plan: RunPlan(schemaVersion: "", steps: []))
        command.origin = CommandRecord.directOrigin
        let plugins: [PluginResult]
        if let result = r.result {
            plugins = result.plugins.map { p in
                var p = p
                p.stdout = String(p.stdout.prefix(24_000))
                p.stderr = String(p.stderr.prefix(8_000))
                return p
            }
        } else {
            let refusal = r.refusal ?? DirectRefusal(.internalError, "no result")
            plugins = [
                PluginResult(
                    name: "direct", action: "steward:direct", status: "Failed", statusDetails: "Refused: \(refusal.code.rawValue)",
                    responseCode: -1, startedAt: r.receivedAt, finishedAt: r.receivedAt, stdout: "",
                    stderr:
                        "refused (\(refusal.code.rawValue)): \(refusal.message)\noperator key: \(r.operatorKey ?? "?")\ngrant: \(r.grantId ?? "?")\npeer: \(r.peer)\n"
                )
            ]
        }
        let invocation = InvocationRecord(
            commandId: r.commandId, instanceId: r.instanceId, region: region, position: 0, instanceName: instanceName, state: state,
            dispatched: true, accepted: r.result != nil, requestedAt: r.receivedAt, startedAt: r.result?.startedAt ?? r.receivedAt,
            finishedAt: r.result?.finishedAt ?? r.receivedAt, responseCode: r.result?.responseCode ?? -1, plugins: plugins)
        return (command, invocation)
    }
}
