import Crypto
import Foundation
import HummingbirdWebSocket
import Logging
import StewardKit
import StewardStore

/// The server side of `/agent/v1/register` and `/agent/v1/channel`.
struct AgentChannel: Sendable {
    static let maxFrame = 16 << 20

    let store: Store
    let gateway: AgentGateway
    let dispatcher: Dispatcher
    let inventory: InventoryIntake
    let nodeChanged: @Sendable (String, String) -> Void
    /// Keeps the nodes' held associations current and records what they applied on their own.
    let associations: AssociationRunner
    let serverSigningKey: Curve25519.Signing.PrivateKey
    let logger: Logger
    let sessions: SessionRelay

    /// One registration: the agent sends a ``RegistrationRequest``, the server answers and closes.
    func register(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        guard case .text(let text)? = try await iterator.next() else { return }
        let response: RegistrationResponse
        do {
            let request = try JSONDecoder().decode(RegistrationRequest.self, from: Data(text.utf8))
            response = try await registration(request)
        } catch let error as DecodingError {
            response = RegistrationResponse(error: "the registration request is malformed: \(error)")
        }
        let data = try JSONEncoder().encode(response)
        try await outbound.write(.text(String(decoding: data, as: UTF8.self)))
    }

    func registration(_ request: RegistrationRequest) async throws -> RegistrationResponse {
        guard let signing = Data(base64Encoded: request.signingKey), signing.count == 32,
            let encryption = Data(base64Encoded: request.encryptionKey), encryption.count == 32
        else { return RegistrationResponse(error: "the agent's public keys must be 32-byte base64 values") }
        let now = Date().timeIntervalSince1970
        let outcome = try await store.register(
            activationId: request.activationId, codeHash: InstanceOperations.hashCode(request.activationCode), now: now
        ) { activation in
            ManagedInstance(
                instanceId: InstanceID.generate(), region: activation.region, activationId: activation.activationId,
                name: activation.defaultInstanceName, signingKey: request.signingKey, encryptionKey: request.encryptionKey,
                registrationDate: now, pingStatus: "ConnectionLost", lastPing: nil, info: request.info, iamRole: activation.iamRole)
        }
        switch outcome {
        case .registered(let instance):
            logger.info("registered a managed instance", metadata: ["instance": "\(instance.instanceId)", "region": "\(instance.region)"])
            return RegistrationResponse(
                instanceId: instance.instanceId, region: instance.region,
                serverSigningKey: serverSigningKey.publicKey.rawRepresentation.base64EncodedString())
        case .refused(let reason):
            return RegistrationResponse(error: reason)
        }
    }

    /// An agent's channel: challenge, authentication, then frames both ways until either side closes.
    func channel(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        var messages = inbound.messages(maxSize: Self.maxFrame).makeAsyncIterator()
        guard let (instanceId, nonce) = try await authenticate(&messages, outbound) else { return }
        let connectionId = UUID()
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .unbounded)
        gateway.attach(instanceId: instanceId, connection: .init(id: connectionId, outbound: continuation))
        var welcome = try welcome(nonce: nonce, instanceId: instanceId)
        welcome.tags = await nodeTags(instanceId)
        continuation.yield(welcome.encoded())
        try? await store.updatePresence(instanceId: instanceId, pingStatus: "Online", at: Date().timeIntervalSince1970, info: nil)
        logger.info("agent connected", metadata: ["instance": "\(instanceId)"])
        await dispatcher.agentConnected(instanceId)

        let writer = Task {
            for await text in stream {
                do { try await outbound.write(.text(text)) } catch { break }
            }
            // The server ended this channel (a newer one replaced it, or the node was deregistered).
            try? await outbound.close(.normalClosure, reason: nil)
        }
        do {
            while case .text(let text)? = try await messages.next() {
                guard let frame = try? ChannelFrame.decode(text) else { continue }
                await handle(frame, from: instanceId)
            }
        } catch {
            logger.debug("agent channel ended", metadata: ["instance": "\(instanceId)", "error": "\(error)"])
        }
        continuation.finish()
        writer.cancel()
        if gateway.detach(instanceId: instanceId, connectionId: connectionId) {
            await sessions.agentGone(instanceId)
            try? await store.updatePresence(
                instanceId: instanceId, pingStatus: "ConnectionLost", at: Date().timeIntervalSince1970, info: nil)
            logger.info("agent disconnected", metadata: ["instance": "\(instanceId)"])
            // Groups over PingStatus change with it.
            if let instance = try? await store.instance(id: instanceId) { nodeChanged(instance.region, instanceId) }
        }
    }

    /// Challenge and signature check shared by the channel and key rotation; nil (after telling the agent) if it fails.
    func authenticate(
        _ messages: inout WebSocketInboundMessageStream.AsyncIterator, _ outbound: WebSocketOutboundWriter
    ) async throws -> (String, String)? {
        let nonce = AccessKeys.random(32, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        try await outbound.write(.text(ChannelFrame(type: .challenge, nonce: nonce).encoded()))
        guard case .text(let authText)? = try await messages.next(), let auth = try? ChannelFrame.decode(authText),
            auth.type == .auth, let instanceId = auth.instanceId, let signatureText = auth.signature,
            let signature = Data(base64Encoded: signatureText)
        else {
            try await outbound.write(.text(ChannelFrame(type: .error, reason: "expected an auth frame").encoded()))
            return nil
        }
        guard let instance = try await store.instance(id: instanceId),
            let keyData = Data(base64Encoded: instance.signingKey),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyData),
            key.isValidSignature(signature, for: ChannelFrame.authMessage(nonce: nonce, instanceId: instanceId))
        else {
            logger.warning("refused an agent channel", metadata: ["instance": "\(instanceId)"])
            try await outbound.write(
                .text(ChannelFrame(type: .error, reason: "authentication failed: unknown instance or bad signature").encoded()))
            return nil
        }
        return (instanceId, nonce)
    }

    func welcome(nonce: String, instanceId: String) throws -> ChannelFrame {
        let proof = try serverSigningKey.signature(for: ChannelFrame.welcomeMessage(nonce: nonce, instanceId: instanceId))
        return ChannelFrame(type: .welcome, instanceId: instanceId, signature: proof.base64EncodedString())
    }

    /// Key rotation on `/agent/v1/rotate`: the agent proves the old key and the new one; the old is revoked at once.
    func rotate(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        var messages = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
        guard let (instanceId, nonce) = try await authenticate(&messages, outbound) else { return }
        try await outbound.write(.text(try welcome(nonce: nonce, instanceId: instanceId).encoded()))
        guard case .text(let text)? = try await messages.next(), let frame = try? ChannelFrame.decode(text), frame.type == .rotate,
            let signingText = frame.signingKey, let encryptionText = frame.encryptionKey,
            let signing = Data(base64Encoded: signingText).flatMap({ try? Curve25519.Signing.PublicKey(rawRepresentation: $0) }),
            let encryption = Data(base64Encoded: encryptionText).flatMap({ try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: $0) }),
            let proof = frame.signature.flatMap({ Data(base64Encoded: $0) }),
            signing.isValidSignature(proof, for: ChannelFrame.authMessage(nonce: nonce, instanceId: instanceId))
        else {
            try await outbound.write(
                .text(ChannelFrame(type: .error, reason: "the rotate frame is malformed or its proof fails").encoded()))
            return
        }
        try await store.rotateKeys(
            instanceId: instanceId, signingKey: signing.rawRepresentation.base64EncodedString(),
            encryptionKey: encryption.rawRepresentation.base64EncodedString())
        await dispatcher.learnKey(instanceId: instanceId, encryptionKey: encryption)
        logger.notice("rotated an agent's keys", metadata: ["instance": "\(instanceId)"])
        try await outbound.write(.text(ChannelFrame(type: .rotated, instanceId: instanceId).encoded()))
        // The agent's channel still uses the revoked key: end it, and the agent reconnects with the new one.
        gateway.disconnect(instanceId: instanceId, reason: "keys rotated")
    }

    /// Stores an agent's inventory upload and answers which hash-only types it must send again in full.
    func receiveInventory(_ frame: ChannelFrame, from instanceId: String) async {
        let items = (frame.inventory ?? []).map {
            InventoryIntake.Item(
                typeName: $0.typeName, schemaVersion: $0.schemaVersion, captureTime: $0.captureTime, contentHash: $0.contentHash,
                content: $0.content)
        }
        var reply = ChannelFrame(type: .inventoryAck, uploadId: frame.uploadId)
        do {
            guard let instance = try await store.instance(id: instanceId) else { return }
            reply.mismatched = try await inventory.put(
                region: instance.region, instanceId: instanceId, items: items, now: Date().timeIntervalSince1970, partial: true)
        } catch {
            logger.warning("an inventory upload was refused", metadata: ["instance": "\(instanceId)", "error": "\(error)"])
            reply.reason = "\(error)"
        }
        _ = gateway.send(reply, to: instanceId)
    }

    /// The node's tags, which the agent keeps to check grants that target tags.
    func nodeTags(_ instanceId: String) async -> [String: String]? {
        guard let instance = try? await store.instance(id: instanceId),
            let tags = try? await store.tags(region: instance.region, type: "ManagedInstance", id: instanceId)
        else { return nil }
        return Dictionary(tags.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// Stores a direct task's audit record (a command of origin Direct) and acknowledges it.
    func receiveAudit(_ record: DirectAuditRecord, transcript: String?, from instanceId: String) async {
        do {
            let intake = DirectAuditIntake(store: store, transcriptPath: sessions.transcriptPath)
            if try await intake.receive(record, transcript: transcript, from: instanceId) {
                _ = gateway.send(ChannelFrame(type: .directAuditAck, commandId: record.commandId), to: instanceId)
            }
        } catch {
            logger.warning("a direct audit record was not stored", metadata: ["instance": "\(instanceId)", "error": "\(error)"])
        }
    }

    func handle(_ frame: ChannelFrame, from instanceId: String) async {
        switch frame.type {
        case .info:
            if let info = frame.info {
                await associations.nodeHolds(instanceId: instanceId, digest: frame.digest)
                try? await store.updatePresence(instanceId: instanceId, pingStatus: "Online", at: Date().timeIntervalSince1970, info: info)
                // Registered or back: the node may now match associations it has not been brought to.
                if let instance = try? await store.instance(id: instanceId) { nodeChanged(instance.region, instanceId) }
            }
        case .associationRun:
            guard let run = frame.offlineRun else { break }
            do {
                try await associations.offlineRun(run, instanceId: instanceId)
                _ = gateway.send(ChannelFrame(type: .resultAck, commandId: run.runId), to: instanceId)
            } catch {
                logger.error("cannot record a run a node made offline", metadata: ["instance": "\(instanceId)", "error": "\(error)"])
            }
        case .accepted:
            if let id = frame.commandId { await dispatcher.accepted(instanceId: instanceId, commandId: id) }
        case .refused:
            await dispatcher.refused(instanceId: instanceId, commandId: frame.commandId, reason: frame.reason ?? "refused")
        case .result:
            if let result = frame.result { await dispatcher.result(result, from: instanceId) }
        case .inventory:
            await receiveInventory(frame, from: instanceId)
        case .directAudit:
            if let record = frame.audit { await receiveAudit(record, transcript: frame.transcript, from: instanceId) }
        case .session:
            if let message = frame.session {
                await sessions.fromAgent(message, instanceId: instanceId, now: Date().timeIntervalSince1970)
            }
        default:
            break
        }
    }
}
