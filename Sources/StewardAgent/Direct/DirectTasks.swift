import Crypto
import Logging
import NIOCore
import StewardKit
import StewardRunner
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The agent's side of a direct connection: handshake, every check of the grant and the operator's proof, done here
/// without the control plane, then the task on the agent's runner with its output streamed back.
///
/// Every execution and every refusal ends as an audit record in the agent's outbox.
final class DirectTasks: Sendable {
    let runtime: AgentRuntime
    let nonces = NonceCache()
    let startLog: DirectStartLog?

    init(runtime: AgentRuntime, startLog: DirectStartLog? = nil) {
        self.runtime = runtime
        self.startLog = startLog
    }

    var logger: Logger { runtime.logger }

    /// One connection; `onRequest` is called once the request has arrived (the listener's timeout ends there).
    /// When the connection closes (the operator pressed Ctrl-C, or the tool went away), a running task is cancelled.
    func serve(
        _ channel: inout FrameChannel, peer: String, closed: EventLoopFuture<Void>? = nil, onRequest: @Sendable () -> Void = {},
        hangUp: @escaping @Sendable () -> Void = {}
    ) async {
        // Handshake, in clear: the tool's ephemeral key, then ours with a fresh nonce, signed by this node's identity key.
        guard let hello = try? await channel.readClear(DirectProtocol.ClientHello.self) else { return }
        guard hello.protocol == DirectProtocol.name, let clientKeyData = Data(base64Encoded: hello.ephemeralKey),
            let clientKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: clientKeyData)
        else {
            logger.warning("a direct connection spoke an unknown protocol", metadata: ["peer": "\(peer)"])
            return
        }
        let signingKey = await runtime.signingKey
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        let nonce = DirectProtocol.randomToken()
        nonces.issue(nonce, now: Date().timeIntervalSince1970)
        let instanceId = runtime.instanceId
        let transcript = DirectProtocol.transcript(
            clientKey: clientKeyData, agentKey: ephemeral.publicKey.rawRepresentation, nonce: nonce, instanceId: instanceId)
        do {
            let signature = try signingKey.signature(for: transcript)
            let reply = DirectProtocol.AgentHello(
                instanceId: instanceId, nodeKey: signingKey.publicKey.rawRepresentation.base64EncodedString(),
                ephemeralKey: ephemeral.publicKey.rawRepresentation.base64EncodedString(), nonce: nonce,
                signature: signature.base64EncodedString())
            try await channel.writeFrame(DirectProtocol.encode(reply))
            let keys = DirectProtocol.Keys(secret: try ephemeral.sharedSecretFromKeyAgreement(with: clientKey), transcript: transcript)
            channel.secure(send: keys.agentToClient, receive: keys.clientToAgent)
            guard let message = try await channel.readMessage() else { return }
            onRequest()
            switch message.kind {
            case .exec:
                await exec(message, on: &channel, nonce: nonce, transcriptHash: keys.transcriptHash, peer: peer, closed: closed)
            case .session:
                await session(message, on: &channel, nonce: nonce, transcriptHash: keys.transcriptHash, peer: peer, hangUp: hangUp)
            default:
                let refusal = DirectRefusal(.malformed, "this agent does not take \(message.kind.rawValue) requests")
                try? await channel.writeMessage(DirectMessage(kind: .refused, code: refusal.code, message: refusal.message))
            }
        } catch {
            logger.debug("a direct connection failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }

    func exec(
        _ message: DirectMessage, on channel: inout FrameChannel, nonce: String, transcriptHash: Data, peer: String,
        closed: EventLoopFuture<Void>?
    ) async {
        let now = Date().timeIntervalSince1970
        let instanceId = runtime.instanceId
        var started = false
        var audit = DirectAuditRecord(
            commandId: UUID().uuidString.lowercased(), instanceId: instanceId, grantId: nil, operatorKey: nil, documentName: "",
            parameters: [:], receivedAt: now, result: nil, refusal: nil, peer: peer)
        do {
            guard let body = message.body.flatMap({ Data(base64Encoded: $0) }),
                let proof = message.proof.flatMap({ Data(base64Encoded: $0) }),
                let request = try? JSONDecoder().decode(DirectRequest.self, from: body)
            else { throw DirectRefusal(.malformed, "the request is malformed") }
            if let commands = request.commands {
                audit.documentName = DirectRequest.shellDocument
                audit.parameters = DirectAuditRecord.masked(request.parameters.merging(["commands": commands]) { _, c in c })
            } else {
                audit.parameters = DirectAuditRecord.masked(request.parameters)
            }
            if let claimed = try? request.grant.unverified() {
                audit.grantId = claimed.grantId
                audit.operatorKey = Data(base64Encoded: claimed.operatorKey).map { DirectKeys.fingerprint(rawKey: $0) }
            }

            let grant = try authorize(
                request.grant, answering: request.nonce, body: body, proof: proof, nonce: nonce, transcriptHash: transcriptHash, now: now)

            let plan: RunPlan
            if let commands = request.commands {
                guard grant.allowsCommands(commands) else {
                    throw DirectRefusal(
                        .notAllowed,
                        "the grant allows \(Self.describe(grant)), not these commands")
                }
                plan = Self.shellPlan(commands, timeout: request.timeoutSeconds)
            } else if let document = request.document {
                let hash = DirectKeys.sha256Hex(Data(document.utf8))
                guard let allowed = grant.document(sha256: hash) else {
                    throw DirectRefusal(
                        .notAllowed,
                        "the document (sha256 \(hash.prefix(12))…) is not one the grant allows; it allows \(Self.describe(grant))")
                }
                audit.documentName = allowed.name
                plan = try await runtime.planDocument(
                    document, format: request.documentFormat, parameters: request.parameters, commandId: audit.commandId)
            } else {
                throw DirectRefusal(.malformed, "the request names neither commands nor a document")
            }

            logger.notice(
                "running a direct task",
                metadata: [
                    "command": "\(audit.commandId)", "grant": "\(grant.grantId)", "operator": "\(audit.operatorKey ?? "?")",
                    "document": "\(audit.documentName)", "peer": "\(peer)",
                ])
            try runtime.recordStart(audit, log: startLog)
            started = true
            try await channel.writeMessage(DirectMessage(kind: .accepted, commandId: audit.commandId))
            let (stream, continuation) = AsyncStream<DirectMessage>.makeStream(bufferingPolicy: .unbounded)
            let commandId = audit.commandId
            let run = Task {
                let result = await self.runtime.runDirect(commandId: commandId, plan: plan) { text, isError in
                    continuation.yield(DirectMessage(kind: isError ? .stderr : .stdout, data: text))
                }
                continuation.finish()
                return result
            }
            // Like a remote shell whose terminal hangs up: the task's process group is ended.
            closed?.whenComplete { _ in run.cancel() }
            var connected = true
            for await output in stream where connected {
                // The tool may go away; the task still ends and is audited.
                do { try await channel.writeMessage(output) } catch { connected = false }
            }
            let result = await run.value
            audit.result = result
            if connected {
                try? await channel.writeMessage(
                    DirectMessage(kind: .exit, commandId: commandId, exitCode: Self.exitCode(result), status: result.state.status))
            }
        } catch {
            let refusal = error as? DirectRefusal ?? DirectRefusal(.internalError, "\(error)")
            audit.refusal = refusal
            logger.warning(
                "refused a direct task",
                metadata: ["reason": "\(refusal)", "grant": "\(audit.grantId ?? "?")", "peer": "\(peer)"])
            try? await channel.writeMessage(DirectMessage(kind: .refused, code: refusal.code, message: refusal.message))
        }
        if started && audit.result == nil {
            audit.result = Self.lost(audit, reason: audit.refusal?.message ?? "the task did not end")
            audit.refusal = nil
        }
        await runtime.recordDirect(audit, started: started)
        // Off the operator's critical path: removing files can wait on the disk.
        if started { try? FileManager.default.removeItem(atPath: runtime.directRunFolder(audit.commandId)) }
    }

    /// Every check a request passes before anything runs, made here without the control plane: the grant (issuer,
    /// signature, expiry, this node), the nonce (this connection's, answered once) and the operator's proof of
    /// possession over this channel and these request bytes.
    func authorize(
        _ signed: SignedGrant, answering requestNonce: String, body: Data, proof: Data, nonce: String, transcriptHash: Data, now: Double
    ) throws -> DirectGrant {
        let instanceId = runtime.instanceId
        let grant = try signed.verify(serverKey: runtime.serverKey, now: now)
        guard grant.covers(instanceId: instanceId, tags: runtime.folder.tags()) else {
            throw DirectRefusal(.wrongNode, "the grant \(grant.grantId) does not cover this node (\(instanceId))")
        }
        if requestNonce != nonce {
            throw nonces.wasIssued(requestNonce)
                ? DirectRefusal(.replayed, "the request answers a nonce issued to an earlier connection: it is a replay")
                : DirectRefusal(.badProof, "the request answers a nonce this agent never issued")
        }
        guard nonces.consume(nonce) else { throw DirectRefusal(.replayed, "this nonce was answered before: the request is a replay") }
        guard let operatorKeyData = Data(base64Encoded: grant.operatorKey),
            let operatorKey = try? Curve25519.Signing.PublicKey(rawRepresentation: operatorKeyData),
            operatorKey.isValidSignature(
                proof, for: DirectProtocol.proofMessage(transcriptHash: transcriptHash, nonce: nonce, instanceId: instanceId, body: body))
        else {
            throw DirectRefusal(.badProof, "the request is not signed by the operator key the grant names")
        }
        return grant
    }

    /// The result of a task that started but could not be followed to its end.
    static func lost(_ audit: DirectAuditRecord, reason: String) -> InvocationResult {
        let now = Date().timeIntervalSince1970
        return InvocationResult(
            commandId: audit.commandId, instanceId: audit.instanceId, state: .failed, responseCode: -1, startedAt: audit.receivedAt,
            finishedAt: now,
            plugins: [
                PluginResult(
                    name: "direct", action: "steward:direct", status: "Failed", statusDetails: "Failed", responseCode: -1,
                    startedAt: audit.receivedAt, finishedAt: now, stdout: "", stderr: reason + "\n")
            ])
    }

    /// The exit code the tool exits with: the last step's, 0 on success, 1 when a failure left none.
    static func exitCode(_ result: InvocationResult) -> Int {
        if result.state == .success { return 0 }
        return result.responseCode > 0 ? result.responseCode : 1
    }

    static func describe(_ grant: DirectGrant) -> String {
        let items = grant.documents.map(\.name) + grant.commands.map { "`\($0)`" }
        return items.isEmpty ? "nothing" : items.joined(separator: ", ")
    }

    /// Inline commands as `AWS-RunShellScript` runs them.
    static func shellPlan(_ commands: [String], timeout: Int?) -> RunPlan {
        var inputs: JSONValue = ["runCommand": JSONValue(commands)]
        if let timeout { inputs["timeoutSeconds"] = .string(String(timeout)) }
        return RunPlan(
            schemaVersion: "1.2", steps: [PlanStep(name: "aws:runShellScript", action: "aws:runShellScript", inputs: inputs)])
    }
}

/// Nonces this agent handed out, and which of them a request has answered: a nonce answers at most one request,
/// and a request that answers an older connection's nonce is a replay.
final class NonceCache: Sendable {
    /// How long an issued nonce is remembered.
    static let memory: Double = 3600
    private let state = Mutex<(issued: [String: Double], used: Set<String>)>(([:], []))

    func issue(_ nonce: String, now: Double) {
        state.withLock { s in
            s.issued[nonce] = now
            if s.issued.count > 50_000 {
                let cutoff = now - Self.memory
                s.issued = s.issued.filter { $0.value >= cutoff }
                s.used = s.used.filter { s.issued[$0] != nil }
            }
        }
    }

    func wasIssued(_ nonce: String) -> Bool { state.withLock { $0.issued[nonce] != nil } }

    /// Marks the nonce answered; false if it was answered before.
    func consume(_ nonce: String) -> Bool { state.withLock { $0.used.insert(nonce).inserted } }
}
