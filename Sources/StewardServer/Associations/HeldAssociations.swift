import Crypto
import Foundation
import StewardKit
import StewardStore

/// How the server hands each node the associations it applies on its own while the server is unreachable: sealed to
/// the node (the plans carry resolved parameters, secrets among them) and sent only when they changed, which the
/// node's reported digest tells.
struct HeldDelivery: Sendable {
    let gateway: AgentGateway
    let signingKey: Curve25519.Signing.PrivateKey
    let resolve: Dispatcher.Resolver

    /// Keyed with a server secret, so the digest says nothing about the (secret) content.
    func digest(_ associations: [HeldAssociation]) -> String {
        let key = SymmetricKey(data: SHA256.hash(data: Data("held-associations".utf8) + signingKey.rawRepresentation))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(associations)) ?? Data()
        return Data(HMAC<SHA256>.authenticationCode(for: bytes, using: key)).base64EncodedString()
    }
}

extension AssociationRunner {
    /// A node reported (on connecting) the digest of the set it holds.
    func nodeHolds(instanceId: String, digest: String?) {
        held[instanceId] = digest ?? ""
    }

    /// Associations were created, changed or deleted: every node of the region may hold a stale set.
    func associationsChanged(region: String) async {
        guard delivery != nil, let instances = try? await store.instances(region: region) else { return }
        for instance in instances { toDeliver.insert(NodeKey(region: region, instanceId: instance.instanceId)) }
    }

    /// Sends each queued, connected node its scheduled associations, when they differ from what it holds.
    func deliverHeld(now: Double) async {
        guard let delivery, !toDeliver.isEmpty else { return }
        let queued = toDeliver
        toDeliver.removeAll()
        for (region, keys) in Dictionary(grouping: queued, by: \.region) {
            do {
                let ids = keys.map(\.instanceId).filter { delivery.gateway.isConnected($0) }
                guard !ids.isEmpty else { continue }
                let instances = try await store.instances(region: region, ids: ids.sorted())
                var perNode: [String: [HeldAssociation]] = [:]
                for association in try await store.records(kind: "association", region: region)
                where association["ScheduleExpression"]?.stringValue != nil {
                    let members = try await Self.targets(association).members(of: instances, region: region, groups: groups)
                    guard !members.isEmpty, let heldForm = try await heldForm(association, region: region, delivery: delivery) else {
                        continue
                    }
                    for m in members { perNode[m.instanceId, default: []].append(heldForm) }
                }
                for instance in instances {
                    let list = (perNode[instance.instanceId] ?? []).sorted { $0.associationId < $1.associationId }
                    let digest = delivery.digest(list)
                    let holds = held[instance.instanceId] ?? ""
                    guard holds != digest, !(list.isEmpty && holds.isEmpty) else { continue }
                    guard let keyData = Data(base64Encoded: instance.encryptionKey),
                        let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: keyData)
                    else { continue }
                    let set = AssociationSet(instanceId: instance.instanceId, issuedAt: now, associations: list)
                    let envelope = try SealedEnvelope.seal(
                        try JSONEncoder().encode(set), to: instance.instanceId, recipientKey: key, signingKey: delivery.signingKey,
                        now: now)
                    var frame = ChannelFrame(type: .associations, sealed: envelope)
                    frame.digest = digest
                    if delivery.gateway.send(frame, to: instance.instanceId) { held[instance.instanceId] = digest }
                }
            } catch {
                logger.error("cannot hand nodes their associations", metadata: ["region": "\(region)", "error": "\(error)"])
            }
        }
    }

    /// An association as a node keeps it, or nil when its document or parameters cannot be resolved now (the node
    /// then does not apply it offline; the server reports the problem when it runs it).
    func heldForm(_ association: JSONValue, region: String, delivery: HeldDelivery) async throws -> HeldAssociation? {
        guard let planned = try? await plan(for: association, region: region) else { return nil }
        let references: ParameterReferences.Resolved
        do { references = try await delivery.resolve(planned.plan, region) } catch { return nil }
        return HeldAssociation(
            associationId: id(association), associationVersion: association["AssociationVersion"]?.textValue ?? "1",
            associationName: association["AssociationName"]?.stringValue, documentName: planned.documentName,
            scheduleExpression: association["ScheduleExpression"]?.stringValue, anchor: association["Date"]?.numberValue ?? 0,
            plan: references.plan, secrets: references.secrets)
    }

    /// A run a node made on its own while the server was unreachable: recorded like a scheduled run (status,
    /// execution history with DetailedStatus `Offline`, compliance). Returns once it is durable; a run seen before
    /// is not recorded twice.
    func offlineRun(_ run: OfflineRun, instanceId: String) async throws {
        guard let instance = try await store.instance(id: instanceId), run.result.instanceId == instanceId else { return }
        let region = instance.region
        guard try await store.record(kind: "offline-run", region: region, id: run.runId) == nil else { return }
        if let association = try await store.record(kind: "association", region: region, id: run.associationId) {
            let statusId = "\(instanceId)|\(run.associationId)"
            let previous = try await store.record(kind: "instance-association", region: region, id: statusId)
            let executionId = UUID().uuidString.lowercased()
            let at = run.result.finishedAt
            try await recordExecution(
                region: region, association: association, executionId: executionId, status: "Pending", detailed: "Offline",
                targets: [(instanceId, "Pending", "Pending")], commandId: nil, now: at)
            let invocation = InvocationRecord(
                commandId: run.runId, instanceId: instanceId, region: region, position: 0, instanceName: instance.info?.computerName ?? "",
                state: run.result.state, dispatched: true, accepted: true, requestedAt: run.result.startedAt,
                startedAt: run.result.startedAt, finishedAt: at, responseCode: run.result.responseCode, plugins: run.result.plugins)
            var active = Active(
                region: region, association: association, executionId: executionId, commandId: run.runId, instanceIds: [instanceId],
                previous: previous.map { [instanceId: $0] } ?? [:])
            active.offline = true
            try await finish(active, invocations: [invocation], now: at)
        }
        try await store.putRecord(
            kind: "offline-run", region: region, id: run.runId, parent: instanceId,
            body: [
                "AssociationId": .string(run.associationId), "InstanceId": .string(instanceId),
                "Received": .number(Date().timeIntervalSince1970),
            ],
            now: Date().timeIntervalSince1970)
    }
}
