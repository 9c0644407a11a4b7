import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The operator's end of a direct interactive session (`steward session --direct`).
extension DirectClient {
    /// The terminal the remote shell gets.
    public struct Terminal: Sendable {
        public var term: String
        public var cols: Int
        public var rows: Int
        /// A command line instead of a login shell.
        public var command: String?

        public init(term: String, cols: Int, rows: Int, command: String? = nil) {
            self.term = term
            self.cols = cols
            self.rows = rows
            self.command = command
        }
    }

    /// How a direct session ended.
    public enum SessionOutcome: Sendable {
        /// The shell ended (`exitCode`), or the session ended without a status (`reason`).
        case ended(sessionId: String, exitCode: Int?, reason: String?)
        case refused(DirectRefusal)
    }

    /// Opens a shell on the node: `events` carry what the operator does (input, resize, signal, close; their session
    /// id does not matter), `output` gets what the shell writes. Output is acknowledged once handed to `output`, so
    /// the node's flow control paces the shell to the operator's terminal.
    public func session(
        _ terminal: Terminal, events: AsyncStream<SessionMessage>, output: @escaping @Sendable ([UInt8]) -> Void,
        started: (@Sendable (String) -> Void)? = nil
    ) async throws -> SessionOutcome {
        try await withChannel { channel, hello, keys in
            let request = DirectSessionRequest(
                grant: grant, nonce: hello.nonce, term: terminal.term, cols: terminal.cols, rows: terminal.rows, command: terminal.command,
                sentAt: Date().timeIntervalSince1970)
            let body = try JSONEncoder().encode(request)
            let proof = try operatorKey.signature(
                for: DirectProtocol.proofMessage(
                    transcriptHash: keys.transcriptHash, nonce: hello.nonce, instanceId: hello.instanceId, body: body))
            try await channel.writeMessage(
                DirectMessage(kind: .session, body: body.base64EncodedString(), proof: proof.base64EncodedString()))
            guard let answer = try await channel.readMessage() else {
                throw AgentError("\(endpoint) closed the connection before it answered the session request")
            }
            if answer.kind == .refused {
                return .refused(DirectRefusal(answer.code ?? .internalError, answer.message ?? "refused"))
            }
            guard answer.kind == .accepted, let sessionId = answer.commandId else {
                throw AgentError("\(endpoint) answered the session request with \(answer.kind.rawValue)")
            }
            started?(sessionId)

            // Everything the operator's side sends goes through one writer: the operator's events and our acks.
            let (outgoing, send) = AsyncStream<SessionMessage>.makeStream(bufferingPolicy: .unbounded)
            var writer = channel.takeWriter()
            let sender = Task {
                for await event in outgoing {
                    try await writer.writeMessage(DirectMessage(kind: .terminal, terminal: event))
                }
            }
            let pump = Task {
                for await event in events { send.yield(event) }
            }
            defer {
                pump.cancel()
                send.finish()
                sender.cancel()
            }
            while let message = try await channel.readMessage() {
                guard message.kind == .terminal, let event = message.terminal else { continue }
                switch event.kind {
                case .output:
                    let bytes = event.bytes
                    output(bytes)
                    send.yield(SessionMessage(.ack, sessionId: sessionId, offset: (event.offset ?? 0) + bytes.count))
                case .exit:
                    let code = event.exitCode.flatMap { $0 >= 0 ? $0 : nil }
                    return .ended(sessionId: sessionId, exitCode: code, reason: event.reason)
                default:
                    break
                }
            }
            return .ended(sessionId: sessionId, exitCode: nil, reason: "the node closed the connection")
        }
    }
}
