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

extension AgentRuntime {
    /// Serves direct tasks on the configured endpoints until cancelled; nil when none are configured.
    func startDirectListener() -> Task<Void, Never>? {
        let enabled = options.direct.socketPath != nil || options.direct.tcp != nil
        var log: DirectStartLog?
        if enabled || FileManager.default.fileExists(atPath: folder.directStartLogPath) {
            do {
                log = try DirectStartLog(path: folder.directStartLogPath, flushOutbox: { [folder] in try folder.syncAuditOutbox() })
            } catch {
                logger.error("no direct start log (each task's record is flushed on its own): \(error)")
            }
        }
        closeInterruptedAudit(log)
        guard enabled else { return nil }
        directLog = log
        let identity: DirectTLSIdentity
        do { identity = try DirectTLSIdentity(key: signingKey, instanceId: instanceId) } catch {
            logger.error("cannot accept direct tasks: no TLS identity: \(error)")
            return nil
        }
        directIdentity = identity
        let listener = DirectListener(
            endpoints: options.direct, tasks: DirectTasks(runtime: self, startLog: log), identity: identity, logger: logger)
        let onBound = options.onDirectBound
        return Task {
            do { try await listener.run(onBound: onBound) } catch {
                self.logger.error("cannot accept direct tasks: \(error)")
            }
        }
    }

    /// Runs a direct task's plan on the agent's runner, in a run folder with its journal like any command; the caller
    /// removes the folder once the operator has the result.
    nonisolated func runDirect(
        commandId: String, plan: RunPlan, output: @escaping @Sendable (String, Bool) -> Void
    ) async -> InvocationResult {
        var context = DocumentRunner.Context(
            commandId: commandId, instanceId: instanceId, region: identity.region, platformType: info.platformType,
            platformName: info.platformName, platformVersion: info.platformVersion, workFolder: directRunFolder(commandId))
        context.maxReboots = 0
        context.output = output
        // A direct task is not resumed after a crash (its operator is gone); the audit record written before it
        // started is what survives, so the journal stays in memory.
        context.durableJournal = false
        await slots.acquire()
        let outcome = await DocumentRunner().run(plan, context: context)
        await slots.release()
        switch outcome {
        case .finished(let result):
            return result
        case .reboot:
            let now = Date().timeIntervalSince1970
            return InvocationResult(
                commandId: commandId, instanceId: instanceId, state: .failed, responseCode: 194, startedAt: now, finishedAt: now,
                plugins: [
                    PluginResult(
                        name: plan.steps.first?.name ?? "", action: plan.steps.first?.action ?? "", status: "Failed",
                        statusDetails: "Failed", responseCode: 194, startedAt: now, finishedAt: now, stdout: "",
                        stderr: "A direct task may not reboot the node; send it through the control plane.\n")
                ])
        }
    }

    /// A document's plan, made by `steward-runner plan` next to the agent, so the agent never loads the YAML parser.
    nonisolated func planDocument(_ content: String, format: String?, parameters: [String: [String]], commandId: String) async throws
        -> RunPlan
    {
        let folder = directRunFolder(commandId)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/document"
        try DurableFile.write(Data(content.utf8), to: path, mode: 0o600, sync: false)
        var arguments = [
            "plan", "--document", path, "--parameters-json", String(decoding: try JSONEncoder().encode(parameters), as: UTF8.self),
        ]
        if let format { arguments += ["--format", format] }
        let runner = options.runnerPath ?? Self.siblingExecutable("steward-runner")
        let outcome = try await ChildProcess.run(
            executable: runner, arguments: arguments, environment: ProcessInfo.processInfo.environment, workingDirectory: folder,
            timeout: .seconds(30))
        guard outcome.exitCode == 0, let plan = try? JSONDecoder().decode(RunPlan.self, from: Data(outcome.stdout)) else {
            let reason = String(decoding: outcome.stderr, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "no reason given"
            throw DirectRefusal(.malformed, "the document is not valid: \(reason)")
        }
        return plan
    }

    /// Notes, durably, that a task is about to run: if the agent stops before it ends, the record says so.
    /// One flush in the start log; a record too large for it is written to the outbox on its own.
    nonisolated func recordStart(_ record: DirectAuditRecord, log: DirectStartLog?) throws {
        if let log, try log.started(record.commandId, JSONEncoder().encode(record)) { return }
        try folder.writeAudit(record, durable: true)
    }

    /// Keeps the record in the outbox until the server acknowledges it, and sends it now if the channel is up.
    /// The end of a task that started is written without a flush: a crash leaves the record of its start.
    func recordDirect(_ record: DirectAuditRecord, started: Bool) {
        do { try folder.writeAudit(record, durable: !started) } catch { logger.error("cannot write the direct audit record: \(error)") }
        directLog?.finished(record.commandId)
        send(auditFrame(record))
    }

    /// Every finished audit record the server has not acknowledged, sent again on a new channel.
    func resendAudit() {
        for record in folder.auditOutbox() where record.isFinished { send(auditFrame(record)) }
    }

    /// An audit record as it travels, with a session's transcript next to it.
    nonisolated func auditFrame(_ record: DirectAuditRecord) -> ChannelFrame {
        var frame = ChannelFrame(type: .directAudit, audit: record)
        if let session = record.session, let bytes = FileManager.default.contents(atPath: folder.directTranscriptPath(session.sessionId)) {
            frame.transcript = String(decoding: bytes, as: UTF8.self)
        }
        return frame
    }

    /// Records of tasks that were running when the agent stopped end as failed, with the reason: those the start log
    /// holds that were neither delivered nor recorded in the outbox, and unfinished ones in the outbox.
    func closeInterruptedAudit(_ log: DirectStartLog?) {
        let now = Date().timeIntervalSince1970
        if let log {
            let records = log.records()
            let delivered = Set(records.filter { $0.kind == .delivered }.map { String(decoding: $0.payload, as: UTF8.self) })
            let kept = Set(folder.auditOutbox().map(\.commandId))
            for entry in records where entry.kind == .started {
                guard let record = try? JSONDecoder().decode(DirectAuditRecord.self, from: entry.payload),
                    !delivered.contains(record.commandId), !kept.contains(record.commandId)
                else { continue }
                do { try folder.writeAudit(record, durable: true) } catch {
                    logger.error("cannot keep the record of an interrupted direct task: \(error)")
                    return
                }
            }
            do { try log.reset() } catch { logger.error("cannot start the direct start log over: \(error)") }
        }
        for var record in folder.auditOutbox() where !record.isFinished {
            record.result = InvocationResult(
                commandId: record.commandId, instanceId: record.instanceId, state: .failed, responseCode: -1, startedAt: record.receivedAt,
                finishedAt: now,
                plugins: [
                    PluginResult(
                        name: "direct", action: "steward:direct", status: "Failed", statusDetails: "Failed", responseCode: -1,
                        startedAt: record.receivedAt, finishedAt: now, stdout: "",
                        stderr: "The agent stopped while this direct task ran; its output is lost.\n")
                ])
            record.session?.reason = "the agent stopped while the session ran"
            try? folder.writeAudit(record, durable: true)
            try? FileManager.default.removeItem(atPath: directRunFolder(record.commandId))
        }
    }

    /// The run folder of a direct task, next to those of commands.
    nonisolated func directRunFolder(_ commandId: String) -> String { "\(folder.path)/runs/\(folder.safe(commandId))" }

    /// An executable installed next to this one.
    static func siblingExecutable(_ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let me = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        return String(me[..<(me.lastIndex(of: "/") ?? me.startIndex)]) + "/" + name
    }
}

extension StateFolder {
    var tagsPath: String { "\(path)/tags.json" }
    var auditFolder: String { "\(path)/direct-audit" }
    var directStartLogPath: String { "\(path)/direct-started.log" }

    /// The node's tags as the server last told them (for grants that target tags).
    func tags() -> [String: String] {
        FileManager.default.contents(atPath: tagsPath).flatMap { try? JSONDecoder().decode([String: String].self, from: $0) } ?? [:]
    }

    func saveTags(_ tags: [String: String]) throws {
        guard tags != self.tags() else { return }
        try DurableFile.write(try JSONEncoder().encode(tags), to: tagsPath, mode: 0o600)
    }

    func writeAudit(_ record: DirectAuditRecord, durable: Bool) throws {
        try FileManager.default.createDirectory(atPath: auditFolder, withIntermediateDirectories: true)
        try DurableFile.write(
            try JSONEncoder().encode(record), to: "\(auditFolder)/\(safe(record.commandId)).json", mode: 0o600, sync: durable)
    }

    /// Flushes every record in the outbox, and the outbox folder.
    func syncAuditOutbox() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: auditFolder)) ?? []
        for name in names where name.hasSuffix(".json") {
            let fd = open("\(auditFolder)/\(name)", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw AgentError("cannot flush \(auditFolder)/\(name): \(String(cString: strerror(errno)))") }
        }
        let dir = open(auditFolder, O_RDONLY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    func auditOutbox() -> [DirectAuditRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: auditFolder)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            FileManager.default.contents(atPath: "\(auditFolder)/\(name)").flatMap {
                try? JSONDecoder().decode(DirectAuditRecord.self, from: $0)
            }
        }
    }

    /// Forgets a record (and a session's transcript) once the control plane has it.
    func removeAudit(_ commandId: String) {
        let path = "\(auditFolder)/\(safe(commandId)).json"
        if let session = FileManager.default.contents(atPath: path).flatMap({ try? JSONDecoder().decode(DirectAuditRecord.self, from: $0) }
        )?
        .session {
            unlink(directTranscriptPath(session.sessionId))
        }
        unlink(path)
    }
}
