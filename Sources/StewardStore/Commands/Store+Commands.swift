import SQLKit
import StewardKit

extension Store {
    /// Stores a new command with all of its invocations in one transaction.
    public func insertCommand(_ c: CommandRecord, invocations: [InvocationRecord]) async throws {
        try await write { db in
            try await db.raw(
                """
                INSERT INTO commands (command_id, region, document_name, document_version, comment, parameters, instance_ids,
                    targets, requested_at, expires_after, timeout_seconds, execution_timeout, max_concurrency, max_errors,
                    status, status_details, target_count, completed_count, error_count, delivery_timed_out_count,
                    cancel_requested, plan, origin)
                VALUES (\(bind: c.commandId), \(bind: c.region), \(bind: c.documentName), \(bind: c.documentVersion),
                    \(bind: c.comment), \(bind: Columns.json(c.parameters)), \(bind: Columns.json(c.instanceIds)),
                    \(bind: Columns.json(c.targetPairs)), \(bind: c.requestedAt), \(bind: c.expiresAfter),
                    \(bind: c.timeoutSeconds), \(bind: c.executionTimeout), \(bind: c.maxConcurrency), \(bind: c.maxErrors),
                    \(bind: c.status), \(bind: c.statusDetails), \(bind: c.targetCount), \(bind: c.completedCount),
                    \(bind: c.errorCount), \(bind: c.deliveryTimedOutCount), \(bind: c.cancelRequested ? 1 : 0),
                    \(bind: Columns.json(c.plan)), \(bind: c.origin))
                """
            ).run()
            for chunk in invocations.chunked(into: 100) {
                try await db.raw(Store.invocationRows(chunk)).run()
            }
        }
    }

    /// Writes changed invocations and command summaries together.
    public func saveProgress(invocations: [InvocationRecord], commands: [CommandRecord]) async throws {
        guard !invocations.isEmpty || !commands.isEmpty else { return }
        try await write { db in
            // One statement per hundred rows: a row at a time costs a thread hop per row on SQLite.
            for chunk in invocations.chunked(into: 100) {
                var query = Store.invocationRows(chunk)
                query.appendLiteral(
                    """
                     ON CONFLICT (command_id, instance_id) DO UPDATE SET state = excluded.state, dispatched = excluded.dispatched,
                        accepted = excluded.accepted, started_at = excluded.started_at, finished_at = excluded.finished_at,
                        response_code = excluded.response_code, plugins = excluded.plugins
                    """)
                try await db.raw(query).run()
            }
            for c in commands {
                try await db.raw(
                    """
                    UPDATE commands SET status = \(bind: c.status), status_details = \(bind: c.statusDetails),
                        completed_count = \(bind: c.completedCount), error_count = \(bind: c.errorCount),
                        delivery_timed_out_count = \(bind: c.deliveryTimedOutCount),
                        cancel_requested = \(bind: c.cancelRequested ? 1 : 0)
                    WHERE command_id = \(bind: c.commandId)
                    """
                ).run()
            }
        }
    }

    /// `INSERT INTO invocations ... VALUES` with one row per invocation.
    static func invocationRows(_ rows: ArraySlice<InvocationRecord>) -> SQLQueryString {
        var query = SQLQueryString(
            "INSERT INTO invocations (command_id, instance_id, region, position, instance_name, state, dispatched, accepted, requested_at, started_at, finished_at, response_code, plugins) VALUES "
        )
        for (n, i) in rows.enumerated() {
            if n > 0 { query.appendLiteral(", ") }
            query.appendInterpolation(
                "(\(bind: i.commandId), \(bind: i.instanceId), \(bind: i.region), \(bind: i.position), \(bind: i.instanceName), \(bind: i.state.rawValue), \(bind: i.dispatched ? 1 : 0), \(bind: i.accepted ? 1 : 0), \(bind: i.requestedAt), \(bind: i.startedAt), \(bind: i.finishedAt), \(bind: i.responseCode), \(bind: Columns.json(i.plugins)))"
                    as SQLQueryString)
        }
        return query
    }

    public func command(id: String) async throws -> CommandRecord? {
        try await read { db in try await db.raw("SELECT * FROM commands WHERE command_id = \(bind: id)").first().map(Store.command) }
    }

    /// Commands of a region, newest first, optionally only those that ran on one instance.
    public func commands(region: String, commandId: String?, instanceId: String?) async throws -> [CommandRecord] {
        try await read { db in
            var query: SQLQueryString = "SELECT c.* FROM commands c WHERE c.region = \(bind: region)"
            if let commandId { query.appendInterpolation(" AND c.command_id = \(bind: commandId)" as SQLQueryString) }
            if let instanceId {
                query.appendInterpolation(
                    " AND EXISTS (SELECT 1 FROM invocations i WHERE i.command_id = c.command_id AND i.instance_id = \(bind: instanceId))"
                        as SQLQueryString)
            }
            query.appendLiteral(" ORDER BY c.requested_at DESC, c.command_id")
            return try await db.raw(query).all().map(Store.command)
        }
    }

    /// Commands that have not reached a final status, for the dispatcher to pick up after a restart.
    public func unfinishedCommands() async throws -> [CommandRecord] {
        try await read { db in
            try await db.raw("SELECT * FROM commands WHERE status IN ('Pending', 'InProgress', 'Cancelling') ORDER BY requested_at")
                .all().map(Store.command)
        }
    }

    public func invocations(commandId: String) async throws -> [InvocationRecord] {
        try await read { db in
            try await db.raw("SELECT * FROM invocations WHERE command_id = \(bind: commandId) ORDER BY position").all().map(
                Store.invocation)
        }
    }

    public func invocations(region: String, commandId: String?, instanceId: String?) async throws -> [InvocationRecord] {
        try await read { db in
            var query: SQLQueryString = "SELECT * FROM invocations WHERE region = \(bind: region)"
            if let commandId { query.appendInterpolation(" AND command_id = \(bind: commandId)" as SQLQueryString) }
            if let instanceId { query.appendInterpolation(" AND instance_id = \(bind: instanceId)" as SQLQueryString) }
            query.appendLiteral(" ORDER BY requested_at DESC, command_id, position")
            return try await db.raw(query).all().map(Store.invocation)
        }
    }

    public func invocation(commandId: String, instanceId: String) async throws -> InvocationRecord? {
        try await read { db in
            try await db.raw("SELECT * FROM invocations WHERE command_id = \(bind: commandId) AND instance_id = \(bind: instanceId)")
                .first().map(Store.invocation)
        }
    }

    static func command(_ row: any SQLRow) throws -> CommandRecord {
        var record = try commandColumns(row)
        record.origin = (try? row.string("origin")) ?? CommandRecord.apiOrigin
        return record
    }

    static func commandColumns(_ row: any SQLRow) throws -> CommandRecord {
        CommandRecord(
            commandId: try row.string("command_id"), region: try row.string("region"),
            documentName: try row.string("document_name"), documentVersion: try row.string("document_version"),
            comment: try row.string("comment"),
            parameters: try Columns.decode([String: [String]].self, from: try row.string("parameters"), column: "parameters"),
            instanceIds: try Columns.decode([String].self, from: try row.string("instance_ids"), column: "instance_ids"),
            targetPairs: try Columns.decode([CommandRecord.TargetPair].self, from: try row.string("targets"), column: "targets"),
            requestedAt: try row.double("requested_at"), expiresAfter: try row.double("expires_after"),
            timeoutSeconds: try row.int("timeout_seconds"), executionTimeout: try row.int("execution_timeout"),
            maxConcurrency: try row.string("max_concurrency"), maxErrors: try row.string("max_errors"),
            status: try row.string("status"), statusDetails: try row.string("status_details"),
            targetCount: try row.int("target_count"), completedCount: try row.int("completed_count"),
            errorCount: try row.int("error_count"), deliveryTimedOutCount: try row.int("delivery_timed_out_count"),
            cancelRequested: try row.bool("cancel_requested"),
            plan: try Columns.decode(RunPlan.self, from: try row.string("plan"), column: "plan"))
    }

    static func invocation(_ row: any SQLRow) throws -> InvocationRecord {
        let stateText = try row.string("state")
        guard let state = InvocationState(rawValue: stateText) else { throw StoreError.corrupt("unknown invocation state \(stateText)") }
        return InvocationRecord(
            commandId: try row.string("command_id"), instanceId: try row.string("instance_id"), region: try row.string("region"),
            position: try row.int("position"), instanceName: try row.string("instance_name"), state: state,
            dispatched: try row.bool("dispatched"), accepted: try row.bool("accepted"), requestedAt: try row.double("requested_at"),
            startedAt: try row.optionalDouble("started_at"), finishedAt: try row.optionalDouble("finished_at"),
            responseCode: try row.int("response_code"),
            plugins: try Columns.decode([PluginResult].self, from: try row.string("plugins"), column: "plugins"))
    }
}

extension Array {
    func chunked(into size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
