import Crypto
import Foundation
import Logging
import StewardKit
import StewardStore

/// The live interactive sessions of this server: who may connect to each (its one-time token), the operator's
/// connection, the agent on the other end, and the transcript being written.
///
/// Output travels agent → relay → operator, and the agent sends more only as the operator's connection takes it
/// (acknowledged offsets), so a slow or absent operator pauses the shell rather than filling the server's memory.
actor SessionRelay {
    /// How long a token from StartSession or ResumeSession may wait for its connection.
    static let tokenLifetime: Double = 60
    /// A session nobody is connected to ends after this long.
    static let idleTimeout: Duration = .seconds(20 * 60)
    /// How long a terminated session may take to confirm before it is recorded as ended anyway.
    static let terminateGrace: Duration = .seconds(10)
    /// Output is acknowledged to the agent each time this much more has reached the operator.
    static let ackEvery = 32 * 1024
    /// How long an agent may take to start a shell.
    static let openTimeout: Duration = .seconds(30)

    /// What the operator's connection is sent.
    enum ClientFrame: Sendable {
        /// Output bytes, and the stream offset just after them.
        case output([UInt8], end: Int)
        /// A text ``SessionMessage`` (the end of the session).
        case control(String)
    }

    struct Link: Sendable {
        let id: UUID
        let outbound: AsyncStream<ClientFrame>.Continuation
    }

    struct Live {
        var record: SessionRecord
        var encryptionKey: Curve25519.KeyAgreement.PublicKey
        var tokenHash: String?
        var tokenExpires: Double = 0
        var link: Link?
        /// The open request went to the agent.
        var openSent = false
        /// The agent said the shell runs.
        var confirmed = false
        /// Output offset last acknowledged to the agent.
        var acknowledged = 0
        /// Numbers and authenticates the session's messages on the agent channel, with the key sent in the open request.
        var authenticator: SessionAuthenticator?
        /// Output that arrived while no operator was connected, delivered when one is.
        var pending: [(bytes: [UInt8], end: Int)] = []
        var transcript: SessionTranscript?
        /// The expiry of an unused token, the idle timeout or the termination grace, whichever applies now.
        var timer: Task<Void, Never>?
    }

    let store: Store
    let gateway: AgentGateway
    let signingKey: Curve25519.Signing.PrivateKey
    /// Transcripts: `<root>/<region>/<session id>.cast`.
    let root: String
    let logger: Logger
    private var live: [String: Live] = [:]
    /// Record writes, chained so that they land in the order the changes happened.
    private var lastWrite: Task<Void, Never>?

    init(store: Store, gateway: AgentGateway, signingKey: Curve25519.Signing.PrivateKey, root: String, logger: Logger) {
        self.store = store
        self.gateway = gateway
        self.signingKey = signingKey
        self.root = root
        self.logger = logger
    }

    nonisolated func transcriptPath(region: String, sessionId: String) -> String { "\(root)/\(region)/\(sessionId).cast" }

    /// Sessions live when the server last stopped cannot be reached again: they are recorded as ended.
    func recover(now: Double) async throws {
        for (region, body) in try await store.allRecords(kind: SessionRecord.kind) {
            guard var record = SessionRecord(json: body), record.status.isActive else { continue }
            record.status = .terminated
            record.endDate = now
            record.details = "The server restarted while the session was open."
            try await store.putRecord(kind: SessionRecord.kind, region: region, id: record.sessionId, body: record.json, now: now)
        }
    }

    // MARK: API side

    /// Takes a stored, `Connecting` session and returns the token its client connects with.
    func start(_ record: SessionRecord, encryptionKey: Curve25519.KeyAgreement.PublicKey, now: Double) -> String {
        live[record.sessionId] = Live(record: record, encryptionKey: encryptionKey)
        return issueToken(record.sessionId, now: now)
    }

    /// The latest state of a live session (the store may be a write behind).
    func current(_ sessionId: String) -> SessionRecord? { live[sessionId]?.record }

    /// Live sessions' latest states, for DescribeSessions.
    func currentRecords(region: String) -> [SessionRecord] { live.values.map(\.record).filter { $0.region == region } }

    /// Waits until every change so far is in the store.
    func flush() async { await lastWrite?.value }

    /// A new token for a live session (ResumeSession); any earlier unused token stops working.
    func resume(_ sessionId: String, region: String, now: Double) throws(AWSError) -> String {
        guard let session = live[sessionId], session.record.region == region else {
            throw AWSError("DoesNotExistException", "Session \(sessionId) is not active; only a live session can be resumed.")
        }
        if session.record.status == .terminating {
            throw AWSError("DoesNotExistException", "Session \(sessionId) is terminating.")
        }
        return issueToken(sessionId, now: now)
    }

    private func issueToken(_ sessionId: String, now: Double) -> String {
        let token = AccessKeys.random(64, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        live[sessionId]?.tokenHash = Self.hash(token)
        live[sessionId]?.tokenExpires = now + Self.tokenLifetime
        if live[sessionId]?.link == nil && live[sessionId]?.openSent == false {
            // Nobody connected yet: the session fails if nobody does before the token expires.
            arm(sessionId, after: .seconds(Int(Self.tokenLifetime) + 5)) { relay in
                await relay.end(sessionId, status: .failed, details: "No client connected to the session's stream in time.")
            }
        }
        return token
    }

    /// Ends a session (TerminateSession): the agent is told to kill the shell; ended sessions are left as they are.
    func terminate(_ sessionId: String, region: String) {
        guard var session = live[sessionId], session.record.region == region else { return }
        guard session.openSent, gateway.isConnected(session.record.target) else {
            return end(sessionId, status: .terminated, details: "Terminated by \(session.record.owner).")
        }
        guard session.record.status != .terminating else { return }
        session.record.status = .terminating
        toAgent(SessionMessage(.close, sessionId: sessionId), &session)
        live[sessionId] = session
        persist(session.record)
        arm(sessionId, after: Self.terminateGrace) { relay in
            await relay.end(sessionId, status: .terminated, details: "Terminated; the node did not confirm that the shell ended.")
        }
    }

    // MARK: operator side

    /// Checks a stream's hello and makes it the session's connection; the first one also starts the shell.
    func connect(_ sessionId: String, hello: SessionStreamHello, now: Double) -> Result<(AsyncStream<ClientFrame>, UUID), AWSError> {
        guard var session = live[sessionId] else {
            return .failure(AWSError("DoesNotExistException", "Session \(sessionId) is not active."))
        }
        guard let expected = session.tokenHash, Self.hash(hello.token) == expected, now <= session.tokenExpires else {
            return .failure(
                AWSError("AccessDeniedException", "The token is not valid for this session (it is single-use and short-lived)."))
        }
        guard session.record.status != .terminating else {
            return .failure(AWSError("DoesNotExistException", "Session \(sessionId) is terminating."))
        }
        let target = session.record.target
        guard gateway.isConnected(target) else {
            end(sessionId, status: .failed, details: "The node's channel is not connected.")
            return .failure(AWSError("TargetNotConnected", "\(target) is not connected."))
        }
        session.tokenHash = nil
        session.timer?.cancel()
        session.timer = nil
        let (stream, continuation) = AsyncStream<ClientFrame>.makeStream(bufferingPolicy: .unbounded)
        if let old = session.link {
            old.outbound.yield(
                .control(SessionMessage(.exit, sessionId: sessionId, reason: "another client resumed this session").json))
            old.outbound.finish()
        }
        let link = Link(id: UUID(), outbound: continuation)
        session.link = link
        let cols = min(max(hello.cols ?? 80, 1), 1000)
        let rows = min(max(hello.rows ?? 24, 1), 1000)
        let term = (hello.term ?? "").isEmpty ? "xterm-256color" : String(hello.term!.prefix(64))
        if !session.openSent {
            do {
                session.transcript = try SessionTranscript(
                    path: transcriptPath(region: session.record.region, sessionId: sessionId), start: now, cols: cols, rows: rows,
                    term: term, title: "\(sessionId) on \(target)")
                let (key, keyText) = SessionAuthenticator.newKey()
                var request = SessionOpenRequest(
                    sessionId: sessionId, instanceId: target, notAfter: now + 30, term: term, cols: cols, rows: rows,
                    owner: session.record.owner, command: session.record.command)
                request.key = keyText
                session.authenticator = SessionAuthenticator(key: key)
                let sealed = try SealedEnvelope.seal(
                    try JSONEncoder().encode(request), to: target, recipientKey: session.encryptionKey, signingKey: signingKey, now: now)
                gateway.send(ChannelFrame(type: .session, sealed: sealed, session: SessionMessage(.open, sessionId: sessionId)), to: target)
                session.openSent = true
            } catch {
                live[sessionId] = session
                end(sessionId, status: .failed, details: "The session could not be opened: \(error)")
                return .failure(AWSError.internalError("The session could not be opened."))
            }
        } else {
            toAgent(SessionMessage(.resize, sessionId: sessionId, cols: cols, rows: rows), &session)
            session.transcript?.resize(cols: cols, rows: rows, at: now)
            session.record.status = .connected
            persist(session.record)
        }
        for chunk in session.pending { continuation.yield(.output(chunk.bytes, end: chunk.end)) }
        session.pending = []
        live[sessionId] = session
        if !session.confirmed {
            // An agent that does not know sessions (or cannot start a shell) must not leave the client waiting.
            arm(sessionId, after: Self.openTimeout) { relay in
                await relay.end(sessionId, status: .failed, details: "The node did not start the session in time.")
            }
        }
        return .success((stream, link.id))
    }

    /// A message from the operator's connection (typed bytes, resize, signal, close).
    func fromClient(_ sessionId: String, _ message: SessionMessage, now: Double) {
        guard var session = live[sessionId], session.openSent else { return }
        switch message.kind {
        case .input:
            toAgent(.input(sessionId, message.bytes), &session)
        case .signal:
            guard let name = message.signal?.uppercased(), SessionMessage.signals[name] != nil else { return }
            toAgent(SessionMessage(.signal, sessionId: sessionId, signal: name), &session)
        case .resize:
            let cols = min(max(message.cols ?? 80, 1), 1000)
            let rows = min(max(message.rows ?? 24, 1), 1000)
            session.transcript?.resize(cols: cols, rows: rows, at: now)
            toAgent(SessionMessage(.resize, sessionId: sessionId, cols: cols, rows: rows), &session)
        case .close:
            return terminate(sessionId, region: session.record.region)
        default:
            return
        }
        live[sessionId] = session
    }

    /// The operator's connection wrote output up to `end`: the agent may send more.
    func delivered(_ sessionId: String, end: Int) {
        guard var session = live[sessionId], end - session.acknowledged >= Self.ackEvery else { return }
        // Acknowledging in steps well under the agent's window keeps it busy without a message per chunk.
        session.acknowledged = end
        toAgent(SessionMessage(.ack, sessionId: sessionId, offset: end), &session)
        live[sessionId] = session
    }

    /// Sends a message of a session to its agent, numbered and authenticated.
    private func toAgent(_ message: SessionMessage, _ session: inout Live) {
        guard var authenticator = session.authenticator else { return }
        gateway.send(ChannelFrame(type: .session, session: authenticator.sign(message, .toAgent)), to: session.record.target)
        session.authenticator = authenticator
    }

    /// The operator's connection closed; the shell keeps running until it is resumed, terminated or idle too long.
    func disconnected(_ sessionId: String, linkId: UUID) {
        guard var session = live[sessionId], session.link?.id == linkId else { return }
        session.link?.outbound.finish()
        session.link = nil
        if session.record.status == .connected || session.record.status == .connecting {
            session.record.status = .disconnected
            persist(session.record)
        }
        live[sessionId] = session
        arm(sessionId, after: Self.idleTimeout) { relay in
            await relay.end(sessionId, status: .terminated, details: "Terminated after being disconnected for too long.")
        }
    }

    // MARK: agent side

    /// A session message from an agent's channel; a node can speak only for its own sessions.
    func fromAgent(_ message: SessionMessage, instanceId: String, now: Double) {
        let id = message.sessionId
        guard var session = live[id], session.record.target == instanceId else { return }
        if var authenticator = session.authenticator, authenticator.accept(message, .fromAgent) {
            session.authenticator = authenticator
        } else if !(message.kind == .exit && !session.confirmed) {
            // Only a refusal to open may come unauthenticated (the agent may not have the key then).
            logger.warning("dropped a session message that does not authenticate", metadata: ["session": "\(id)"])
            return
        }
        switch message.kind {
        case .opened:
            session.confirmed = true
            if session.record.status == .connecting {
                session.record.status = session.link == nil ? .disconnected : .connected
                persist(session.record)
            }
            live[id] = session
            if session.link == nil {
                arm(id, after: Self.idleTimeout) { relay in
                    await relay.end(id, status: .terminated, details: "Terminated after being disconnected for too long.")
                }
            } else {
                live[id]?.timer?.cancel()
                live[id]?.timer = nil
            }
            return
        case .output:
            let bytes = message.bytes
            let end = (message.offset ?? 0) + bytes.count
            session.transcript?.output(bytes, at: now)
            if let link = session.link {
                link.outbound.yield(.output(bytes, end: end))
            } else {
                session.pending.append((bytes, end))
            }
        case .exit:
            live[id] = session
            let code = message.exitCode ?? -1
            if let reason = message.reason, code < 0 {
                end(id, status: .failed, details: "The node could not run the session: \(reason)", exitCode: nil)
            } else if session.record.status == .terminating {
                end(id, status: .terminated, details: "Terminated by request; the shell ended with status \(code).", exitCode: code)
            } else {
                end(id, status: .terminated, details: "The shell exited with status \(code).", exitCode: code)
            }
            return
        default:
            break
        }
        live[id] = session
    }

    /// An agent's channel closed: its sessions cannot continue (the agent ends their shells too).
    func agentGone(_ instanceId: String) {
        for (id, session) in live where session.record.target == instanceId {
            end(id, status: .terminated, details: "The node's channel to the server closed.")
        }
    }

    // MARK: ending

    /// Records the end of a session, tells its operator, closes its transcript and forgets it.
    func end(_ sessionId: String, status: SessionRecord.Status, details: String, exitCode: Int? = nil) {
        guard var session = live.removeValue(forKey: sessionId) else { return }
        let now = Date().timeIntervalSince1970
        session.timer?.cancel()
        session.record.status = status
        session.record.endDate = now
        session.record.details = details
        session.record.exitCode = exitCode
        session.transcript?.close(at: now)
        if let link = session.link {
            link.outbound.yield(.control(SessionMessage(.exit, sessionId: sessionId, exitCode: exitCode, reason: details).json))
            link.outbound.finish()
        }
        if session.openSent, exitCode == nil, gateway.isConnected(session.record.target) {
            // The shell may still run (timeouts, a node that stopped answering): the agent is told to end it.
            toAgent(SessionMessage(.close, sessionId: sessionId), &session)
        }
        logger.info(
            "session ended",
            metadata: [
                "session": "\(sessionId)", "target": "\(session.record.target)", "status": "\(status.rawValue)", "details": "\(details)",
            ])
        persist(session.record)
    }

    private func arm(_ sessionId: String, after delay: Duration, _ action: @escaping @Sendable (SessionRelay) async -> Void) {
        live[sessionId]?.timer?.cancel()
        live[sessionId]?.timer = Task { [weak self] in
            try? await Task.sleep(for: delay)
            guard !Task.isCancelled, let self else { return }
            await action(self)
        }
    }

    private func persist(_ record: SessionRecord) {
        let previous = lastWrite
        let store = self.store
        let logger = self.logger
        lastWrite = Task {
            await previous?.value
            do {
                try await store.putRecord(
                    kind: SessionRecord.kind, region: record.region, id: record.sessionId, body: record.json,
                    now: Date().timeIntervalSince1970)
            } catch {
                logger.error("could not store a session's state", metadata: ["session": "\(record.sessionId)", "error": "\(error)"])
            }
        }
    }

    static func hash(_ token: String) -> String { SigV4.hex(Array(SHA256.hash(data: Data(token.utf8)))) }
}

extension SessionMessage {
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
