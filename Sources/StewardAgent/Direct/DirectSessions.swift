import Logging
import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Interactive shells over a direct connection: the same checks as a task, then a ``SessionHost`` of its own
/// for this connection, with the transcript recorded on the node and delivered with the audit record.
///
/// The connection is the session: when it closes, the shell is hung up (there is nothing to resume it through).
extension DirectTasks {
    static let runShell = "SSM-SessionManagerRunShell"
    static let interactiveCommand = "AWS-StartInteractiveCommand"

    func session(
        _ message: DirectMessage, on channel: inout FrameChannel, nonce: String, transcriptHash: Data, peer: String,
        hangUp: @escaping @Sendable () -> Void
    ) async {
        let now = Date().timeIntervalSince1970
        let commandId = UUID().uuidString.lowercased()
        var audit = DirectAuditRecord(
            commandId: commandId, instanceId: runtime.instanceId, grantId: nil, operatorKey: nil, documentName: Self.runShell,
            parameters: [:], receivedAt: now, result: nil, refusal: nil, peer: peer)
        let request: DirectSessionRequest
        do {
            guard let body = message.body.flatMap({ Data(base64Encoded: $0) }),
                let proof = message.proof.flatMap({ Data(base64Encoded: $0) }),
                let decoded = try? JSONDecoder().decode(DirectSessionRequest.self, from: body)
            else { throw DirectRefusal(.malformed, "the session request is malformed") }
            request = decoded
            if let command = request.command {
                audit.documentName = Self.interactiveCommand
                audit.parameters = DirectAuditRecord.masked(["command": [command]])
            }
            if let claimed = try? request.grant.unverified() {
                audit.grantId = claimed.grantId
                audit.operatorKey = Data(base64Encoded: claimed.operatorKey).map { DirectKeys.fingerprint(rawKey: $0) }
            }
            let grant = try authorize(
                request.grant, answering: request.nonce, body: body, proof: proof, nonce: nonce, transcriptHash: transcriptHash, now: now)
            guard grant.allowsSessions else {
                throw DirectRefusal(
                    .notAllowed, "the grant \(grant.grantId) does not allow interactive sessions (ask for one with --sessions)")
            }
        } catch {
            let refusal = error as? DirectRefusal ?? DirectRefusal(.internalError, "\(error)")
            audit.refusal = refusal
            logger.warning(
                "refused a direct session", metadata: ["reason": "\(refusal)", "grant": "\(audit.grantId ?? "?")", "peer": "\(peer)"])
            try? await channel.writeMessage(DirectMessage(kind: .refused, code: refusal.code, message: refusal.message))
            await runtime.recordDirect(audit, started: false)
            return
        }

        let sessionId = "direct-\(commandId)"
        audit.session = DirectSessionSummary(sessionId: sessionId, command: request.command)
        let host = SessionHost(logger: logger)
        let transcript: TranscriptFile
        do {
            transcript = try TranscriptFile(
                path: runtime.folder.directTranscriptPath(sessionId), start: now, cols: request.cols, rows: request.rows,
                term: request.term, title: "\(runtime.instanceId) (direct)")
            try runtime.recordStart(audit, log: startLog)
            try await channel.writeMessage(DirectMessage(kind: .accepted, commandId: sessionId))
        } catch {
            logger.error("a direct session could not start", metadata: ["session": "\(sessionId)", "error": "\(error)"])
            audit.result = Self.sessionResult(audit, exitCode: nil, reason: "the session could not start: \(error)", now: now)
            await runtime.recordDirect(audit, started: true)
            return
        }
        logger.notice(
            "direct session started",
            metadata: [
                "session": "\(sessionId)", "grant": "\(audit.grantId ?? "?")", "operator": "\(audit.operatorKey ?? "?")", "peer": "\(peer)",
            ])
        host.open(
            SessionOpenRequest(
                sessionId: sessionId, instanceId: runtime.instanceId, notAfter: now + 60, term: request.term, cols: request.cols,
                rows: request.rows, owner: audit.operatorKey ?? "direct", command: request.command))

        // The shell's side, in a task of its own: output and the exit go to the operator and into the transcript.
        var writer = channel.takeWriter()
        let shell = Task { () -> SessionMessage? in
            var connected = true
            for await event in host.messages {
                let at = Date().timeIntervalSince1970
                if event.kind == .output { transcript.output(event.bytes, at: at) }
                if connected {
                    do { try await writer.writeMessage(DirectMessage(kind: .terminal, terminal: event)) } catch { connected = false }
                }
                if event.kind == .exit { return event }
            }
            return nil
        }
        // Once the shell ended, the tool closes the connection; one that does not is cut off after a grace period.
        let closer = Task {
            guard await shell.value != nil, (try? await Task.sleep(for: .seconds(5))) != nil else { return }
            hangUp()
        }
        defer { closer.cancel() }
        // The operator's side: keys, resizes, signals and acknowledgements, until the connection closes.
        do {
            while let incoming = try await channel.readMessage() {
                guard incoming.kind == .terminal, var event = incoming.terminal else { continue }
                event.sessionId = sessionId
                if event.kind == .resize, let cols = event.cols, let rows = event.rows {
                    let at = Date().timeIntervalSince1970
                    transcript.resize(cols: cols, rows: rows, at: at)
                }
                host.receive(event)
            }
        } catch {
            logger.debug("a direct session's connection failed", metadata: ["session": "\(sessionId)", "error": "\(error)"])
        }
        // The operator is gone (or the shell ended and the connection was closed): hang the terminal up.
        host.terminateAll()
        let exit = await shell.value
        let end = Date().timeIntervalSince1970
        transcript.close(at: end)
        let code = exit.flatMap { $0.exitCode.flatMap { $0 >= 0 ? $0 : nil } }
        audit.session?.exitCode = code
        audit.session?.reason = code == nil ? exit?.reason ?? "the operator's connection closed" : nil
        audit.result = Self.sessionResult(audit, exitCode: code, reason: audit.session?.reason, now: end)
        logger.notice("direct session ended", metadata: ["session": "\(sessionId)", "exit": "\(code.map(String.init) ?? "-")"])
        // A session is not on anyone's critical path: its end is recorded durably, next to its flushed transcript.
        await runtime.recordDirect(audit, started: false)
    }

    /// A session as a command result: Success when the shell exited 0, Failed otherwise, with the status as the
    /// response code.
    static func sessionResult(_ audit: DirectAuditRecord, exitCode: Int?, reason: String?, now: Double) -> InvocationResult {
        let success = exitCode == 0
        let details = exitCode.map { "The shell exited with status \($0).\n" } ?? "\(reason ?? "The session ended without a status.")\n"
        return InvocationResult(
            commandId: audit.commandId, instanceId: audit.instanceId, state: success ? .success : .failed, responseCode: exitCode ?? -1,
            startedAt: audit.receivedAt, finishedAt: now,
            plugins: [
                PluginResult(
                    name: "session", action: "steward:session", status: success ? "Success" : "Failed",
                    statusDetails: success ? "Success" : "Failed", responseCode: exitCode ?? -1, startedAt: audit.receivedAt,
                    finishedAt: now, stdout: "Transcript: steward sessions transcript \(audit.session?.sessionId ?? "")\n",
                    stderr: success ? "" : details)
            ])
    }
}

extension StateFolder {
    var directTranscriptFolder: String { "\(path)/direct-sessions" }

    /// Where a direct session's transcript waits until the control plane acknowledges its record.
    func directTranscriptPath(_ sessionId: String) -> String { "\(directTranscriptFolder)/\(safe(sessionId)).cast" }
}
