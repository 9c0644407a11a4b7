import Crypto
import StewardKit
import StewardRunner

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The associations this node applies on its own while the server is unreachable: the last set the server sent,
/// kept sealed on disk (it holds resolved parameters, secrets among them), with the schedule of each, and the
/// results of offline runs kept in an outbox until the server has recorded them.
struct HeldAssociations: Sendable {
    let folder: StateFolder

    /// On disk: the sealed set as it came, and its digest (reported to the server on connecting).
    struct Stored: Codable {
        var digest: String
        var issuedAt: Double
        var sealed: SealedEnvelope
    }

    var setPath: String { "\(folder.path)/associations.json" }
    var outboxFolder: String { "\(folder.path)/offline-outbox" }

    /// The held set and its digest, opened with the current key (nil when none is held or it no longer opens,
    /// for example after a key rotation; the server then sends it again).
    func load(key: Curve25519.KeyAgreement.PrivateKey, serverKey: Curve25519.Signing.PublicKey, instanceId: String) -> (
        set: AssociationSet, digest: String
    )? {
        guard let data = FileManager.default.contents(atPath: setPath), let stored = try? JSONDecoder().decode(Stored.self, from: data),
            let set = try? open(stored.sealed, key: key, serverKey: serverKey, instanceId: instanceId)
        else { return nil }
        return (set, stored.digest)
    }

    func open(
        _ sealed: SealedEnvelope, key: Curve25519.KeyAgreement.PrivateKey, serverKey: Curve25519.Signing.PublicKey, instanceId: String
    )
        throws -> AssociationSet
    {
        let plaintext = try sealed.open(as: instanceId, privateKey: key, serverKey: serverKey)
        let set = try JSONDecoder().decode(AssociationSet.self, from: plaintext)
        guard set.instanceId == instanceId else { throw AgentError("the association set is for \(set.instanceId)") }
        return set
    }

    func save(_ sealed: SealedEnvelope, digest: String, issuedAt: Double) throws {
        try DurableFile.write(
            try JSONEncoder().encode(Stored(digest: digest, issuedAt: issuedAt, sealed: sealed)), to: setPath, mode: 0o600)
    }

    func writeOutbox(_ run: OfflineRun) throws {
        try FileManager.default.createDirectory(atPath: outboxFolder, withIntermediateDirectories: true)
        try DurableFile.write(try JSONEncoder().encode(run), to: "\(outboxFolder)/\(folder.safe(run.runId)).json", mode: 0o600)
    }

    func outbox() -> [OfflineRun] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outboxFolder)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            FileManager.default.contents(atPath: "\(outboxFolder)/\(name)").flatMap { try? JSONDecoder().decode(OfflineRun.self, from: $0) }
        }
    }

    func removeOutbox(_ runId: String) {
        unlink("\(outboxFolder)/\(folder.safe(runId)).json")
    }

    /// When `association` is next due, counting from `since` (when the server was last reachable, or the last
    /// offline run), at the times the server's schedule would have run it.
    static func nextRun(_ association: HeldAssociation, after since: Double) -> Double? {
        guard let text = association.scheduleExpression, let schedule = try? Schedule.parse(text) else { return nil }
        return schedule.next(after: since, anchor: association.anchor)
    }
}

extension AgentRuntime {
    /// Keeps the set the server sent (never an older one over a newer one).
    func hold(_ sealed: SealedEnvelope, digest: String) {
        do {
            let set = try heldStore.open(sealed, key: encryptionKey, serverKey: serverKey, instanceId: instanceId)
            guard set.issuedAt >= (heldSet?.issuedAt ?? 0) else { return }
            try heldStore.save(sealed, digest: digest, issuedAt: set.issuedAt)
            heldSet = set
            heldDigest = digest
            logger.debug("holding associations", metadata: ["count": "\(set.associations.count)"])
        } catch {
            logger.warning("refused the association set the server sent: \(error)")
        }
    }

    /// While the server is unreachable, runs each held association at the times its schedule names.
    func applyHeldAssociations(now: Double) {
        guard !isConnected, !rebootingNow, let set = heldSet else { return }
        for association in set.associations where !offlineRunning.contains(association.associationId) {
            let since = max(offlineSince, lastOfflineRun[association.associationId] ?? 0)
            guard let due = HeldAssociations.nextRun(association, after: since), due <= now else { continue }
            lastOfflineRun[association.associationId] = now
            offlineRunning.insert(association.associationId)
            logger.notice(
                "the server is unreachable; applying an association on its schedule",
                metadata: ["association": "\(association.associationId)"])
            Task { await self.runOffline(association) }
        }
    }

    func runOffline(_ association: HeldAssociation) async {
        let runId = "offline-\(association.associationId)-\(Int(Date().timeIntervalSince1970 * 1000))"
        var context = DocumentRunner.Context(
            commandId: runId, instanceId: instanceId, region: identity.region, platformType: info.platformType,
            platformName: info.platformName, platformVersion: info.platformVersion, workFolder: runFolder(runId))
        context.secrets = association.secrets
        context.maxReboots = 0
        await slots.acquire()
        let outcome = await DocumentRunner().run(association.plan, context: context)
        await slots.release()
        offlineRunning.remove(association.associationId)
        try? FileManager.default.removeItem(atPath: runFolder(runId))
        let result: InvocationResult
        switch outcome {
        case .finished(let r):
            result = r
        case .reboot:
            let now = Date().timeIntervalSince1970
            result = InvocationResult(
                commandId: runId, instanceId: instanceId, state: .failed, responseCode: 194, startedAt: now, finishedAt: now,
                plugins: [
                    PluginResult(
                        name: association.plan.steps.first?.name ?? "", action: association.plan.steps.first?.action ?? "",
                        status: "Failed", statusDetails: "Failed", responseCode: 194, startedAt: now, finishedAt: now, stdout: "",
                        stderr: "The document asked for a reboot while the server was unreachable; the node does not reboot on its own.")
                ])
        }
        let run = OfflineRun(
            runId: runId, associationId: association.associationId, associationVersion: association.associationVersion, result: result)
        do { try heldStore.writeOutbox(run) } catch { logger.error("cannot keep an offline run's result: \(error)") }
        if isConnected {
            var frame = ChannelFrame(type: .associationRun)
            frame.offlineRun = run
            sendFrame(frame)
        }
    }
}
