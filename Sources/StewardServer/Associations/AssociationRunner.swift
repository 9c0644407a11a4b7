import Foundation
import Logging
import StewardKit
import StewardStore

/// Keeps associations true: runs an association's document on its members when it is created or updated, on its
/// schedule, when asked (StartAssociationsOnce), and on one node as soon as that node starts to match (a tag added,
/// inventory uploaded, the node registered or reconnected). Results become per-node association status, execution
/// history and, with SyncCompliance AUTO, compliance items of type Association.
actor AssociationRunner {
    let store: Store
    let commands: CommandOperations
    let catalog: DocumentCatalog
    let queries: InventoryQueries
    let groups: NodeGroups
    let logger: Logger
    /// Offline application: each connected node is sent the associations that apply to it, sealed to it.
    let delivery: HeldDelivery?

    /// Executions whose command has not finished: execution id → what it is for.
    struct Active: Sendable {
        var region: String
        var association: JSONValue
        var executionId: String
        var commandId: String
        var instanceIds: [String]
        var previous: [String: JSONValue]
        /// A run the node made on its own while the server was unreachable (no command behind it).
        var offline = false
    }

    private var active: [String: Active] = [:]
    struct NodeKey: Hashable, Sendable {
        var region: String
        var instanceId: String
    }
    private var changed: Set<NodeKey> = []
    /// Nodes whose held associations may be out of date.
    var toDeliver: Set<NodeKey> = []
    /// What each node holds (the digest it reported, or the one sent last).
    var held: [String: String] = [:]

    init(
        store: Store, commands: CommandOperations, catalog: DocumentCatalog, queries: InventoryQueries, groups: NodeGroups,
        delivery: HeldDelivery? = nil, logger: Logger
    ) {
        self.delivery = delivery
        self.groups = groups
        self.store = store
        self.commands = commands
        self.catalog = catalog
        self.queries = queries
        self.logger = logger
    }

    // MARK: triggers

    /// A node's attributes changed: its memberships are looked at again on the next tick (within a second).
    nonisolated func nodeChanged(region: String, instanceId: String) {
        Task { await self.queueChange(region: region, instanceId: instanceId) }
    }

    /// A group was created, changed or deleted: every node of the region is looked at again.
    func groupsChanged(region: String) async {
        guard let instances = try? await store.instances(region: region) else { return }
        for instance in instances { queueChange(region: region, instanceId: instance.instanceId) }
    }

    private func queueChange(region: String, instanceId: String) {
        changed.insert(NodeKey(region: region, instanceId: instanceId))
        toDeliver.insert(NodeKey(region: region, instanceId: instanceId))
    }

    /// One pass: finished executions, changed nodes, and schedules that are due.
    func tick(now: Double) async {
        await collectFinished(now: now)
        let nodes = changed
        changed.removeAll()
        for (region, group) in Dictionary(grouping: nodes, by: \.region) {
            do { try await reconsider(region: region, instanceIds: group.map(\.instanceId), now: now) } catch {
                logger.error("association membership check failed", metadata: ["region": "\(region)", "error": "\(error)"])
            }
        }
        await deliverHeld(now: now)
        do {
            for (region, association) in try await store.allRecords(kind: "association") {
                guard let next = association["_NextRun"]?.numberValue, next <= now else { continue }
                var updated = association
                updated["_NextRun"] = nextRun(association, after: now)
                try await store.putRecord(kind: "association", region: region, id: id(association), body: updated, now: now)
                _ = try await run(region: region, association: updated, only: nil, trigger: "Schedule", now: now)
            }
        } catch {
            logger.error("association schedule failed", metadata: ["error": "\(error)"])
        }
    }

    func id(_ association: JSONValue) -> String { association["AssociationId"]?.textValue ?? "" }

    /// When the schedule runs next (nil without a schedule).
    func nextRun(_ association: JSONValue, after: Double) -> JSONValue {
        guard let text = association["ScheduleExpression"]?.stringValue, let schedule = try? Schedule.parse(text) else { return .null }
        let anchor = association["Date"]?.numberValue ?? after
        return schedule.next(after: after, anchor: anchor).map { .number($0) } ?? .null
    }

    /// Re-evaluates every association of the region for the nodes that changed: those that joined are brought to
    /// the intended state together (one execution per association), those that left are recorded and left alone.
    func reconsider(region: String, instanceIds: [String], now: Double) async throws {
        let instances = try await store.instances(region: region, ids: Array(Set(instanceIds)))
        guard !instances.isEmpty else { return }
        let statuses = try await store.records(kind: "instance-association", region: region)
        var statusById: [String: JSONValue] = [:]
        for s in statuses { statusById["\(s["InstanceId"]?.textValue ?? "")|\(s["AssociationId"]?.textValue ?? "")"] = s }
        for association in try await store.records(kind: "association", region: region) {
            let targets = try Self.targets(association)
            let members = Set(try await targets.members(of: instances, region: region, groups: groups).map(\.instanceId))
            let version = association["AssociationVersion"]?.textValue
            var joined: [ManagedInstance] = []
            for instance in instances {
                let statusId = "\(instance.instanceId)|\(id(association))"
                let status = statusById[statusId]
                if members.contains(instance.instanceId) {
                    let applied = status?["AssociationVersion"]?.textValue == version && status?["Status"]?.textValue != "Left"
                    let running = active.values.contains {
                        $0.instanceIds.contains(instance.instanceId) && id($0.association) == id(association)
                    }
                    if !applied && !running { joined.append(instance) }
                } else if let status, status["Status"]?.textValue != "Left" {
                    // No longer a member: not touched again; the change goes into the association's history.
                    var left = status
                    left["Status"] = "Left"
                    left["DetailedStatus"] = "NoLongerTargeted"
                    left["_AppliedVersion"] = nil
                    left["ExecutionSummary"] = "The node no longer matches the association's targets."
                    left["ExecutionDate"] = .number(now)
                    try await store.putRecord(
                        kind: "instance-association", region: region, id: statusId, parent: instance.instanceId, body: left, now: now)
                    try await recordExecution(
                        region: region, association: association, executionId: UUID().uuidString.lowercased(), status: "Success",
                        detailed: "MemberLeft", targets: [(instance.instanceId, "Skipped", "NoLongerTargeted")], commandId: nil, now: now)
                    try await store.deleteRecords(
                        kind: "compliance", region: region, id: "\(instance.instanceId)|Association|\(id(association))")
                }
            }
            if !joined.isEmpty {
                logger.info(
                    "nodes joined an association's targets", metadata: ["association": "\(id(association))", "nodes": "\(joined.count)"])
                _ = try await run(region: region, association: association, only: joined, trigger: "MemberJoined", now: now)
            }
        }
    }

    static func targets(_ association: JSONValue) throws(AWSError) -> AssociationTargets {
        let pairs = (association["Targets"]?.arrayValue ?? []).map { t in
            (key: t["Key"]?.textValue ?? "", values: t["Values"]?.arrayValue?.map(\.textValue) ?? [])
        }
        return try AssociationTargets(pairs)
    }

    // MARK: running

    /// Runs the association on its members (or on `only`); returns the execution id.
    @discardableResult
    func run(region: String, association: JSONValue, only: [ManagedInstance]?, trigger: String, now: Double) async throws -> String? {
        let targets = try Self.targets(association)
        let candidates: [ManagedInstance]
        if let only { candidates = only } else { candidates = try await store.instances(region: region) }
        let members = try await targets.members(of: candidates, region: region, groups: groups)
        let executionId = UUID().uuidString.lowercased()
        guard !members.isEmpty else {
            if only == nil {
                try await recordExecution(
                    region: region, association: association, executionId: executionId, status: "Success", detailed: "NoTargets",
                    targets: [],
                    commandId: nil, now: now)
            }
            return nil
        }
        let (documentName, supplied, plan) = try await plan(for: association, region: region)
        let command = try await commands.launch(
            region: region, documentName: documentName,
            documentVersion: association["DocumentVersion"]?.stringValue ?? "$DEFAULT",
            comment: "association \(id(association))", parameters: supplied, plan: plan, instanceIds: members.map(\.instanceId),
            targetPairs: [],
            selected: members, timeout: 600, maxConcurrency: association["MaxConcurrency"]?.stringValue,
            maxErrors: association["MaxErrors"]?.stringValue, now: now)
        var previous: [String: JSONValue] = [:]
        let memberIds = Set(members.map(\.instanceId))
        for old in try await store.records(kind: "instance-association", region: region)
        where old["AssociationId"]?.textValue == id(association) && memberIds.contains(old["InstanceId"]?.textValue ?? "") {
            previous[old["InstanceId"]?.textValue ?? ""] = old
        }
        try await store.putRecords(
            kind: "instance-association", region: region,
            members.map { m in
                var pending = Self.statusBody(
                    association, instanceId: m.instanceId, status: "Pending", detailed: "Pending", summary: "", now: now)
                pending["ExecutionId"] = .string(executionId)
                pending["_AppliedVersion"] = previous[m.instanceId]?["_AppliedVersion"]
                return ("\(m.instanceId)|\(id(association))", m.instanceId, pending)
            }, now: now)
        try await recordExecution(
            region: region, association: association, executionId: executionId, status: "Pending", detailed: trigger,
            targets: members.map { ($0.instanceId, "Pending", "Pending") }, commandId: command.commandId, now: now)
        active[executionId] = Active(
            region: region, association: association, executionId: executionId, commandId: command.commandId,
            instanceIds: members.map(\.instanceId), previous: previous)
        var updated = association
        updated["LastExecutionDate"] = .number(now)
        try await store.putRecord(kind: "association", region: region, id: id(association), body: updated, now: now)
        return executionId
    }

    /// The association's document (the version it names) planned with its parameters; Parameter Store references
    /// are still unresolved.
    func plan(for association: JSONValue, region: String) async throws -> (
        documentName: String, parameters: [String: [String]], plan: RunPlan
    ) {
        let documentVersion = association["DocumentVersion"]?.stringValue
        let resolved = try await catalog.resolve(
            region: region, name: association["Name"]?.textValue ?? "",
            version: documentVersion == "$DEFAULT" ? nil : documentVersion)
        var supplied: [String: [String]] = [:]
        for (k, v) in association["Parameters"]?.objectValue ?? [:] { supplied[k] = v.arrayValue?.map(\.textValue) ?? [v.textValue] }
        let values = try resolved.document.resolveParameters(supplied)
        return (resolved.version.name, supplied, resolved.document.plan(parameters: values))
    }

    static func statusBody(_ association: JSONValue, instanceId: String, status: String, detailed: String, summary: String, now: Double)
        -> JSONValue
    {
        .compact([
            "AssociationId": association["AssociationId"] ?? .null, "Name": association["Name"] ?? .null,
            "DocumentVersion": association["DocumentVersion"] ?? "$DEFAULT", "AssociationVersion": association["AssociationVersion"] ?? "1",
            "InstanceId": .string(instanceId), "ExecutionDate": .number(now), "Status": .string(status),
            "DetailedStatus": .string(detailed),
            "ExecutionSummary": .string(summary), "AssociationName": association["AssociationName"] ?? .null,
        ])
    }

    func recordExecution(
        region: String, association: JSONValue, executionId: String, status: String, detailed: String,
        targets: [(instanceId: String, status: String, detailed: String)], commandId: String?, now: Double
    ) async throws {
        var counts: [String: Int] = [:]
        for t in targets { counts[t.status, default: 0] += 1 }
        let countText = JSONWriter.string(.object(counts.mapValues { JSONValue($0) }))
        let execution: JSONValue = .compact([
            "AssociationId": association["AssociationId"] ?? .null, "AssociationVersion": association["AssociationVersion"] ?? "1",
            "ExecutionId": .string(executionId), "Status": .string(status), "DetailedStatus": .string(detailed),
            "CreatedTime": .number(now),
            "LastExecutionDate": .number(now), "ResourceCountByStatus": .string(countText), "_Created": .number(now),
        ])
        try await store.putRecord(
            kind: "association-execution", region: region, id: executionId, parent: id(association), body: execution, now: now)
        try await store.putRecords(
            kind: "association-target", region: region,
            targets.map { t in
                (
                    "\(executionId)|\(t.instanceId)", executionId,
                    .compact([
                        "AssociationId": association["AssociationId"] ?? .null,
                        "AssociationVersion": association["AssociationVersion"] ?? "1",
                        "ExecutionId": .string(executionId), "ResourceId": .string(t.instanceId), "ResourceType": "ManagedInstance",
                        "Status": .string(t.status), "DetailedStatus": .string(t.detailed), "LastExecutionDate": .number(now),
                        "OutputSource": commandId.map { ["OutputSourceId": .string($0), "OutputSourceType": "RunCommand"] } ?? .null,
                    ])
                )
            }, now: now)
    }

    /// Executions whose commands finished: per-node status, execution history, compliance.
    func collectFinished(now: Double) async {
        for (executionId, run) in active {
            do {
                let invocations = try await store.invocations(commandId: run.commandId)
                guard !invocations.isEmpty, invocations.allSatisfy(\.state.isTerminal) else { continue }
                active[executionId] = nil
                try await finish(run, invocations: invocations, now: now)
            } catch {
                logger.error("cannot read an association's command", metadata: ["execution": "\(executionId)", "error": "\(error)"])
            }
        }
    }

    func finish(_ run: Active, invocations: [InvocationRecord], now: Double) async throws {
        let association = run.association
        var targets: [(String, String, String)] = []
        var statusRecords: [(String, String, JSONValue)] = []
        var complianceRecords: [(String, String, JSONValue)] = []
        var anyFailed = false
        for inv in invocations {
            let success = inv.state == .success
            anyFailed = anyFailed || !success
            // Exit 168 from a check step: the node was already in the intended state and did no work.
            let compliantAlready = inv.plugins.contains { $0.responseCode == 168 }
            let previous = run.previous[inv.instanceId]
            // Brought to this version before (by any run, even if a later one is still pending): work now is drift.
            let version = association["AssociationVersion"] ?? "1"
            let wasCompliant =
                previous?["_AppliedVersion"] == version
                || (previous?["Status"]?.textValue == "Success" && previous?["AssociationVersion"] == version)
            let detailed: String
            let summary: String
            if !success {
                detailed = inv.state.rawValue
                summary = "The document failed on this node: \(inv.state.rawValue)."
            } else if compliantAlready {
                detailed = "Compliant"
                summary = "Already in the intended state; nothing was changed."
            } else if wasCompliant {
                detailed = "DriftCorrected"
                summary = "The node had drifted from the intended state; it was applied again."
            } else {
                detailed = "Success"
                summary = "The intended state was applied."
            }
            var body = Self.statusBody(
                association, instanceId: inv.instanceId, status: success ? "Success" : "Failed", detailed: detailed,
                summary: run.offline ? "Applied by the node while the server was unreachable. \(summary)" : summary, now: now)
            body["ExecutionId"] = .string(run.executionId)
            body["_AppliedVersion"] = success ? version : previous?["_AppliedVersion"]
            if !success { body["ErrorCode"] = "ExecutionError" }
            statusRecords.append(("\(inv.instanceId)|\(id(association))", inv.instanceId, body))
            targets.append((inv.instanceId, success ? "Success" : "Failed", detailed))
            if (association["SyncCompliance"]?.stringValue ?? "AUTO") == "AUTO" {
                let item: JSONValue = [
                    "ComplianceType": "Association", "ResourceType": "ManagedInstance", "ResourceId": .string(inv.instanceId),
                    "Id": association["AssociationId"] ?? .null,
                    "Title": association["AssociationName"] ?? association["Name"] ?? .null,
                    "Status": success ? "COMPLIANT" : "NON_COMPLIANT",
                    "Severity": association["ComplianceSeverity"] ?? "UNSPECIFIED",
                    "ExecutionSummary": [
                        "ExecutionTime": .number(now), "ExecutionId": .string(run.executionId), "ExecutionType": "Command",
                    ],
                    "Details": [
                        "DocumentName": association["Name"] ?? .null, "DocumentVersion": association["DocumentVersion"] ?? "$DEFAULT",
                        "DetailedStatus": .string(detailed),
                    ],
                ]
                complianceRecords.append(("\(inv.instanceId)|Association|\(id(association))", inv.instanceId, item))
            }
        }
        try await store.putRecords(kind: "instance-association", region: run.region, statusRecords, now: now)
        try await store.putRecords(kind: "compliance", region: run.region, complianceRecords, now: now)
        let existing = try await store.record(kind: "association-execution", region: run.region, id: run.executionId)
        try await recordExecution(
            region: run.region, association: association, executionId: run.executionId, status: anyFailed ? "Failed" : "Success",
            detailed: existing?["DetailedStatus"]?.textValue ?? "Schedule", targets: targets,
            commandId: run.offline ? nil : run.commandId, now: now)
        if var current = try await store.record(kind: "association", region: run.region, id: id(association)) {
            current["LastExecutionDate"] = .number(now)
            if !anyFailed { current["LastSuccessfulExecutionDate"] = .number(now) }
            try await store.putRecord(kind: "association", region: run.region, id: id(association), body: current, now: now)
        }
    }

    /// Runs every second until cancelled.
    func loop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            await tick(now: Date().timeIntervalSince1970)
        }
    }

    /// Executions under way are read back after a restart, so their results are still recorded.
    func recover() async {
        do {
            for (region, execution) in try await store.allRecords(kind: "association-execution")
            where execution["Status"]?.textValue == "Pending" {
                guard let associationId = execution["AssociationId"]?.stringValue,
                    let association = try await store.record(kind: "association", region: region, id: associationId)
                else { continue }
                let targets = try await store.records(
                    kind: "association-target", region: region, parent: execution["ExecutionId"]?.textValue ?? "")
                guard let commandId = targets.first?["OutputSource"]?["OutputSourceId"]?.stringValue else { continue }
                let executionId = execution["ExecutionId"]?.textValue ?? ""
                active[executionId] = Active(
                    region: region, association: association, executionId: executionId, commandId: commandId,
                    instanceIds: targets.compactMap { $0["ResourceId"]?.stringValue }, previous: [:])
            }
        } catch {
            logger.error("cannot recover association executions", metadata: ["error": "\(error)"])
        }
    }
}
