import Foundation
import StewardDocuments
import StewardKit
import StewardStore

/// SendCommand, ListCommands, ListCommandInvocations, GetCommandInvocation and CancelCommand.
struct CommandOperations: Sendable {
    let store: Store
    let catalog: DocumentCatalog
    let dispatcher: Dispatcher
    let outputs: OutputStore
    let pager: Pager
    let groups: NodeGroups

    func register(into ops: inout [String: Operation]) {
        ops["SendCommand"] = sendCommand
        ops["ListCommands"] = listCommands
        ops["ListCommandInvocations"] = listCommandInvocations
        ops["GetCommandInvocation"] = getCommandInvocation
        ops["CancelCommand"] = cancelCommand
    }

    // MARK: SendCommand

    func sendCommand(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let documentName = try body.requiredString("DocumentName")
        let requestedVersion = try body.string("DocumentVersion")
        let resolved = try await catalog.resolve(region: ctx.region, name: documentName, version: requestedVersion)
        if let hash = try body.string("DocumentHash"), hash != resolved.version.hash {
            throw AWSError("InvalidDocument", "The document hash does not match the document \(documentName).")
        }
        let timeout = try body.int("TimeoutSeconds") ?? 3600
        guard (30...2_592_000).contains(timeout) else {
            throw AWSError.validation(
                "1 validation error detected: Value '\(timeout)' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000"
            )
        }
        let comment = try body.string("Comment") ?? ""
        guard comment.count <= 100 else { throw AWSError.validation("Comment must be at most 100 characters.") }
        let maxConcurrency = try body.string("MaxConcurrency")
        let maxErrors = try body.string("MaxErrors")
        _ = try RateLimit.parseConcurrency(maxConcurrency)
        _ = try RateLimit.parseErrors(maxErrors)
        let supplied = try body.parameterMap("Parameters") ?? [:]
        let values = try resolved.document.resolveParameters(supplied)
        let plan = resolved.document.plan(parameters: values)

        let instanceIds = try body.stringList("InstanceIds")
        let targetBodies = try body.objectList("Targets")
        var targetPairs: [CommandRecord.TargetPair] = []
        for t in targetBodies ?? [] {
            targetPairs.append(.init(key: try t.requiredString("Key"), values: try t.stringList("Values") ?? []))
        }
        let selected: [ManagedInstance]
        switch (instanceIds, targetPairs.isEmpty) {
        case (let ids?, true) where !ids.isEmpty:
            guard ids.count <= 50 else { throw AWSError.validation("InstanceIds accepts at most 50 ids; use Targets for more.") }
            guard Set(ids).count == ids.count else { throw AWSError("DuplicateInstanceId", "Instance Ids must be unique.") }
            let found = try await store.instances(region: ctx.region, ids: ids)
            let byId = Dictionary(uniqueKeysWithValues: found.map { ($0.instanceId, $0) })
            selected = try ids.map { id throws(AWSError) in
                guard let instance = byId[id] else {
                    throw AWSError("InvalidInstanceId", "Instance Id \(id) is not valid or is not registered.")
                }
                return instance
            }
        case (nil, false), (.some([]), false):
            let split = try NodeGroups.splitTargets(targetPairs.map { ($0.key, $0.values) })
            let expression = split.plain.isEmpty ? TargetExpression(clauses: []) : try TargetExpression(targets: split.plain)
            let candidates = try await candidates(for: expression, region: ctx.region)
            let tags = try await store.tags(region: ctx.region, type: "ManagedInstance", ids: candidates.map(\.instanceId))
            selected = try await groupMembers(
                candidates.filter { expression.matches(.init(instanceId: $0.instanceId, tags: tags[$0.instanceId] ?? [:])) },
                group: split.group, region: ctx.region)
            if case .instanceIds(let ids) = expression.clauses.first, expression.clauses.count == 1, split.group == nil {
                let known = Set(candidates.map(\.instanceId))
                if let unknown = ids.sorted().first(where: { !known.contains($0) }) {
                    throw AWSError("InvalidInstanceId", "Instance Id \(unknown) is not valid or is not registered.")
                }
            }
        case (.some, false):
            throw AWSError.validation("Specify InstanceIds or Targets, not both.")
        default:
            throw AWSError.validation("Specify the instances to run the command on with InstanceIds or Targets.")
        }

        let command = try await launch(
            region: ctx.region, documentName: resolved.version.name, documentVersion: requestedVersion ?? "$DEFAULT", comment: comment,
            parameters: supplied, plan: plan, instanceIds: instanceIds ?? [], targetPairs: targetPairs, selected: selected,
            timeout: timeout, maxConcurrency: maxConcurrency, maxErrors: maxErrors, now: ctx.nowSeconds)
        return ["Command": commandJSON(command)]
    }

    /// Records a command for the selected instances and hands it to the dispatcher (SendCommand, and associations).
    func launch(
        region: String, documentName: String, documentVersion: String, comment: String, parameters supplied: [String: [String]],
        plan: RunPlan, instanceIds: [String], targetPairs: [CommandRecord.TargetPair], selected: [ManagedInstance], timeout: Int,
        maxConcurrency: String?, maxErrors: String?, now: Double
    ) async throws -> CommandRecord {
        let executionTimeout = plan.steps.map(\.executionTimeoutSeconds).max() ?? 3600
        let commandId = UUID().uuidString.lowercased()
        var command = CommandRecord(
            commandId: commandId, region: region, documentName: documentName,
            documentVersion: documentVersion, comment: comment, parameters: supplied,
            instanceIds: instanceIds, targetPairs: targetPairs, requestedAt: now,
            expiresAfter: now + Double(timeout + executionTimeout), timeoutSeconds: timeout, executionTimeout: executionTimeout,
            maxConcurrency: maxConcurrency ?? "50", maxErrors: maxErrors ?? "0", status: "Pending", statusDetails: "Pending",
            targetCount: selected.count, completedCount: 0, errorCount: 0, deliveryTimedOutCount: 0, cancelRequested: false,
            plan: plan)
        if selected.isEmpty {
            command.status = "Failed"
            command.statusDetails = "NoInstancesInTag"
        }
        let invocations = selected.enumerated().map { n, instance in
            InvocationRecord(
                commandId: commandId, instanceId: instance.instanceId, region: region, position: n,
                instanceName: instance.info?.computerName ?? instance.name ?? "", state: .pending, dispatched: false,
                accepted: false, requestedAt: now, startedAt: nil, finishedAt: nil, responseCode: -1, plugins: [])
        }
        try await store.insertCommand(command, invocations: invocations)
        if !invocations.isEmpty {
            await dispatcher.submit(command, invocations, keys: selected.map { ($0.instanceId, $0.encryptionKey) })
        }
        return command
    }

    /// Narrows `instances` to the members of a resource group, when the targets name one.
    func groupMembers(_ instances: [ManagedInstance], group: String?, region: String) async throws -> [ManagedInstance] {
        guard let group else { return instances }
        return try await groups.members(try await groups.targetQuery(group: group, region: region), of: instances, region: region)
    }

    /// The instances a target expression may match, narrowed by its most selective clause so a large
    /// fleet is not read whole for a command to a few nodes.
    func candidates(for expression: TargetExpression, region: String) async throws -> [ManagedInstance] {
        for clause in expression.clauses {
            if case .instanceIds(let ids) = clause { return try await store.instances(region: region, ids: ids.sorted()) }
        }
        for clause in expression.clauses {
            if case .tag(let key, let values) = clause {
                let ids = try await store.taggedResources(region: region, type: "ManagedInstance", key: key, values: values.sorted())
                return try await store.instances(region: region, ids: ids)
            }
        }
        return try await store.instances(region: region)
    }

    // MARK: Listing

    func commandJSON(_ c: CommandRecord) -> JSONValue {
        .compact([
            "CommandId": .string(c.commandId), "DocumentName": .string(c.documentName),
            "DocumentVersion": .string(c.documentVersion), "Comment": .string(c.comment),
            "ExpiresAfter": .number(c.expiresAfter),
            "Parameters": .object(c.parameters.mapValues { JSONValue($0) }), "InstanceIds": JSONValue(c.instanceIds),
            "Targets": .array(c.targetPairs.map { ["Key": .string($0.key), "Values": JSONValue($0.values)] }),
            "RequestedDateTime": .number(c.requestedAt), "Status": .string(c.status), "StatusDetails": .string(c.statusDetails),
            "OutputS3Region": .string(c.region), "OutputS3BucketName": "", "OutputS3KeyPrefix": "",
            "MaxConcurrency": .string(c.maxConcurrency), "MaxErrors": .string(c.maxErrors),
            "TargetCount": JSONValue(c.targetCount), "CompletedCount": JSONValue(c.completedCount),
            "ErrorCount": JSONValue(c.errorCount), "DeliveryTimedOutCount": JSONValue(c.deliveryTimedOutCount),
            "ServiceRole": "", "TimeoutSeconds": JSONValue(c.timeoutSeconds),
            "NotificationConfig": ["NotificationArn": "", "NotificationEvents": [], "NotificationType": ""],
            "CloudWatchOutputConfig": ["CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false],
            // Steward's own member: API or Direct.
            "Origin": .string(c.origin),
        ])
    }

    struct Filters {
        var after: Double?
        var before: Double?
        var status: String?
        var documentName: String?
        var stage: String?
    }

    func parseFilters(_ body: RequestBody) throws(AWSError) -> Filters {
        var f = Filters()
        let items = try body.objectList("Filters") ?? []
        guard items.count <= 5 else { throw AWSError.validation("At most 5 filters are allowed.") }
        for item in items {
            let key = try item.requiredString("key")
            let value = try item.requiredString("value")
            switch key {
            case "InvokedAfter", "InvokedBefore":
                guard let date = ISO8601DateFormatter().date(from: value) ?? Self.parseLooseDate(value) else {
                    throw AWSError(
                        "InvalidFilterValue", "The filter value \(value) is not a valid date; use ISO-8601 such as 2024-01-31T00:00:00Z.")
                }
                if key == "InvokedAfter" { f.after = date.timeIntervalSince1970 } else { f.before = date.timeIntervalSince1970 }
            case "Status":
                let allowed = ["Pending", "InProgress", "Success", "Cancelled", "Failed", "TimedOut", "Cancelling", "Delayed"]
                guard allowed.contains(value) else {
                    throw AWSError(
                        "InvalidFilterValue", "The Status filter value \(value) is not one of \(allowed.joined(separator: ", ")).")
                }
                f.status = value
            case "DocumentName": f.documentName = value
            case "ExecutionStage":
                guard value == "Executing" || value == "Complete" else {
                    throw AWSError("InvalidFilterValue", "The ExecutionStage filter value must be Executing or Complete.")
                }
                f.stage = value
            default:
                throw AWSError(
                    "InvalidFilterKey",
                    "The filter key \(key) is not valid; use InvokedAfter, InvokedBefore, Status, ExecutionStage or DocumentName.")
            }
        }
        return f
    }

    static func parseLooseDate(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withFullDate]
        return f.date(from: text)
    }

    func matches(_ f: Filters, requestedAt: Double, status: String, documentName: String) -> Bool {
        if let a = f.after, requestedAt < a { return false }
        if let b = f.before, requestedAt > b { return false }
        if let s = f.status, s != status { return false }
        if let d = f.documentName, d != documentName { return false }
        if let stage = f.stage {
            let executing = ["Pending", "InProgress", "Delayed", "Cancelling"].contains(status)
            if (stage == "Executing") != executing { return false }
        }
        return true
    }

    func checkIds(_ body: RequestBody) async throws -> (String?, String?) {
        let commandId = try body.string("CommandId")
        let instanceId = try body.string("InstanceId")
        if let commandId, commandId.count != 36 { throw AWSError("InvalidCommandId", "The command ID \(commandId) is not valid.") }
        if let instanceId, !InstanceID.isValid(instanceId) {
            throw AWSError("InvalidInstanceId", "Instance Id \(instanceId) is not valid.")
        }
        return (commandId, instanceId)
    }

    func listCommands(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (commandId, instanceId) = try await checkIds(body)
        let filters = try parseFilters(body)
        let commands = try await store.commands(region: ctx.region, commandId: commandId, instanceId: instanceId)
            .filter { matches(filters, requestedAt: $0.requestedAt, status: $0.status, documentName: $0.documentName) }
        if let commandId, commands.isEmpty, try await store.command(id: commandId) == nil {
            throw AWSError("InvalidCommandId", "The command ID \(commandId) is not valid.")
        }
        let page = try pager.page(
            commands, body: body, range: 1...50, defaultSize: 50, query: "commands:\(ctx.region):\(body.pagingQuery)", key: \.commandId)
        return .compact(["Commands": .array(page.items.map(commandJSON)), "NextToken": page.nextToken])
    }

    func listCommandInvocations(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (commandId, instanceId) = try await checkIds(body)
        let filters = try parseFilters(body)
        let details = try body.bool("Details") ?? false
        var commandsById: [String: CommandRecord] = [:]
        for c in try await store.commands(region: ctx.region, commandId: commandId, instanceId: instanceId) {
            commandsById[c.commandId] = c
        }
        if let commandId, commandsById.isEmpty, try await store.command(id: commandId) == nil {
            throw AWSError("InvalidCommandId", "The command ID \(commandId) is not valid.")
        }
        let invocations = try await store.invocations(region: ctx.region, commandId: commandId, instanceId: instanceId)
            .filter { inv in
                guard let c = commandsById[inv.commandId] else { return false }
                return matches(filters, requestedAt: inv.requestedAt, status: inv.state.status, documentName: c.documentName)
            }
        let page = try pager.page(
            invocations, body: body, range: 1...50, defaultSize: 50, query: "invocations:\(ctx.region):\(body.pagingQuery)",
            key: { "\($0.commandId)/\($0.instanceId)" })
        return .compact([
            "CommandInvocations": .array(
                page.items.map { inv in
                    invocationJSON(inv, command: commandsById[inv.commandId]!, details: details, base: ctx.baseURL)
                }),
            "NextToken": page.nextToken,
        ])
    }

    /// The plugins to show: reported results, or the plan's steps while none are reported.
    func plugins(_ inv: InvocationRecord, command: CommandRecord) -> [PluginResult] {
        if !inv.plugins.isEmpty { return inv.plugins }
        let status: String
        switch inv.state {
        case .pending, .delayed: status = "Pending"
        case .inProgress: status = "InProgress"
        default: status = inv.state.status
        }
        return command.plan.steps.map {
            PluginResult(
                name: $0.name, action: $0.action, status: status, statusDetails: inv.state.details, responseCode: -1,
                startedAt: nil, finishedAt: nil, stdout: "", stderr: "")
        }
    }

    func invocationJSON(_ inv: InvocationRecord, command: CommandRecord, details: Bool, base: String) -> JSONValue {
        let plugins = plugins(inv, command: command)
        let trace = plugins.map { Self.shortOutput($0) }.joined(separator: "\n")
        var fields: [String: JSONValue] = [
            "CommandId": .string(inv.commandId), "InstanceId": .string(inv.instanceId), "InstanceName": .string(inv.instanceName),
            "Comment": .string(command.comment), "DocumentName": .string(command.documentName),
            "DocumentVersion": .string(command.documentVersion), "RequestedDateTime": .number(inv.requestedAt),
            "Status": .string(inv.state.status), "StatusDetails": .string(inv.state.details),
            "TraceOutput": .string(Self.clip(trace, 2500, suffix: "\n---Output truncated---")),
            "StandardOutputUrl": .string(plugins.count == 1 ? outputURL(inv, plugins[0], "stdout", base) : ""),
            "StandardErrorUrl": .string(plugins.count == 1 ? outputURL(inv, plugins[0], "stderr", base) : ""),
            "ServiceRole": "",
            "NotificationConfig": ["NotificationArn": "", "NotificationEvents": [], "NotificationType": ""],
            "CloudWatchOutputConfig": ["CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false],
        ]
        if details {
            fields["CommandPlugins"] = .array(plugins.map { p in pluginJSON(p, inv: inv, command: command, base: base) })
        } else {
            fields["CommandPlugins"] = []
        }
        return .object(fields)
    }

    func pluginJSON(_ p: PluginResult, inv: InvocationRecord, command: CommandRecord, base: String) -> JSONValue {
        let (status, details) = Self.pluginStatus(p)
        return .compact([
            "Name": .string(p.name), "Status": .string(status), "StatusDetails": .string(details),
            "ResponseCode": JSONValue(p.responseCode),
            "ResponseStartDateTime": p.startedAt.map { .number($0) } ?? .null,
            "ResponseFinishDateTime": p.finishedAt.map { .number($0) } ?? .null,
            "Output": .string(Self.shortOutput(p)),
            "StandardOutputUrl": .string(outputURL(inv, p, "stdout", base)),
            "StandardErrorUrl": .string(outputURL(inv, p, "stderr", base)),
            "OutputS3Region": .string(command.region), "OutputS3BucketName": "", "OutputS3KeyPrefix": "",
        ])
    }

    static func pluginStatus(_ p: PluginResult) -> (String, String) {
        p.status == "Skipped" ? ("Success", "Skipped") : (p.status, p.statusDetails)
    }

    func outputURL(_ inv: InvocationRecord, _ p: PluginResult, _ stream: String, _ base: String) -> String {
        guard p.finishedAt != nil, !(p.stdout.isEmpty && p.stderr.isEmpty) else { return "" }
        return outputs.url(base: base, commandId: inv.commandId, instanceId: inv.instanceId, plugin: p.name, stream: stream)
    }

    /// The 2,500-character `Output` that SSM shows: stdout, then stderr after a marker.
    static func shortOutput(_ p: PluginResult) -> String {
        var text = clip(p.stdout, 2500, suffix: "\n---Output truncated---")
        if !p.stderr.isEmpty {
            text += "\n\n\n----------ERROR-------\n" + clip(p.stderr, 2500, suffix: "\n---Error truncated----")
        }
        return text
    }

    static func clip(_ s: String, _ n: Int, suffix: String) -> String {
        s.count <= n ? s : String(s.prefix(n - suffix.count)) + suffix
    }

    // MARK: GetCommandInvocation

    func getCommandInvocation(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let commandId = try body.requiredString("CommandId")
        let instanceId = try body.requiredString("InstanceId")
        let pluginName = try body.string("PluginName")
        guard commandId.count == 36 else { throw AWSError("InvalidCommandId", "The command ID \(commandId) is not valid.") }
        guard InstanceID.isValid(instanceId) else { throw AWSError("InvalidInstanceId", "Instance Id \(instanceId) is not valid.") }
        guard let inv = try await store.invocation(commandId: commandId, instanceId: instanceId), inv.region == ctx.region,
            let command = try await store.command(id: commandId)
        else {
            throw AWSError("InvocationDoesNotExist", "An invocation for command \(commandId) on instance \(instanceId) does not exist.")
        }
        let plugins = plugins(inv, command: command)
        let plugin: PluginResult
        if let pluginName {
            guard let p = plugins.first(where: { $0.name == pluginName || $0.action == pluginName }) else {
                throw AWSError("InvalidPluginName", "The plugin name \(pluginName) is not valid for this document.")
            }
            plugin = p
        } else {
            let ran = plugins.filter { $0.status != "Skipped" }
            guard plugins.count == 1 || ran.count <= 1 else {
                throw AWSError("InvalidPluginName", "This document has several steps; name one with PluginName.")
            }
            plugin = ran.first ?? plugins[0]
        }
        let useInvocationStatus = pluginName == nil || plugins.count == 1
        let (pluginStatus, pluginDetails) = Self.pluginStatus(plugin)
        let start = plugin.startedAt ?? inv.startedAt
        let end = plugin.finishedAt ?? (inv.state.isTerminal ? inv.finishedAt : nil)
        var elapsed = ""
        if let start, let end { elapsed = String(format: "PT%.3fS", max(0, end - start)) }
        return .compact([
            "CommandId": .string(commandId), "InstanceId": .string(instanceId), "Comment": .string(command.comment),
            "DocumentName": .string(command.documentName), "DocumentVersion": .string(command.documentVersion),
            "PluginName": .string(plugin.name), "ResponseCode": JSONValue(plugin.responseCode),
            "ExecutionStartDateTime": .string(start.map(\.iso8601) ?? ""),
            "ExecutionElapsedTime": .string(elapsed), "ExecutionEndDateTime": .string(end.map(\.iso8601) ?? ""),
            "Status": .string(useInvocationStatus ? inv.state.status : pluginStatus),
            "StatusDetails": .string(useInvocationStatus ? inv.state.details : pluginDetails),
            "StandardOutputContent": .string(plugin.stdout), "StandardOutputUrl": .string(outputURL(inv, plugin, "stdout", ctx.baseURL)),
            "StandardErrorContent": .string(plugin.stderr), "StandardErrorUrl": .string(outputURL(inv, plugin, "stderr", ctx.baseURL)),
            "CloudWatchOutputConfig": ["CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false],
        ])
    }

    // MARK: CancelCommand

    func cancelCommand(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let commandId = try body.requiredString("CommandId")
        let instanceIds = try body.stringList("InstanceIds")
        guard let command = try await store.command(id: commandId), command.region == ctx.region else {
            throw AWSError("InvalidCommandId", "The command ID \(commandId) is not valid.")
        }
        if let instanceIds {
            guard Set(instanceIds).count == instanceIds.count else { throw AWSError("DuplicateInstanceId", "Instance Ids must be unique.") }
            let known = Set(try await store.invocations(commandId: commandId).map(\.instanceId))
            if let unknown = instanceIds.first(where: { !known.contains($0) }) {
                throw AWSError("InvalidInstanceId", "Instance Id \(unknown) is not part of command \(commandId).")
            }
        }
        _ = await dispatcher.cancel(commandId: commandId, instanceIds: instanceIds?.isEmpty == true ? nil : instanceIds)
        return [:]
    }
}
