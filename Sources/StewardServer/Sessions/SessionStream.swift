import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import StewardKit

/// The operator's end of a session: the WebSocket at `StreamUrl`.
///
/// The client proves itself with the first frame (``SessionStreamHello`` with the one-time token), then sends typed
/// bytes as binary frames and controls as text ``SessionMessage``s; it receives output as binary frames and the end
/// of the session as a text `exit` message.
struct SessionStream: Sendable {
    static let helloTimeout: Duration = .seconds(10)

    let relay: SessionRelay
    let logger: Logger

    func addRoute(to router: Router<BasicWebSocketRequestContext>) {
        router.ws("/sessions/v1/stream/:session") { inbound, outbound, context in
            let id = context.requestContext.parameters.get("session") ?? ""
            try await serve(sessionId: id, inbound: inbound, outbound: outbound)
        }
    }

    func serve(sessionId: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        // A connection that does not say who it is in time is closed.
        let deadline = Task {
            try await Task.sleep(for: Self.helloTimeout)
            try await outbound.close(.policyViolation, reason: "no hello")
        }
        guard case .text(let text)? = try await messages.next() else { return deadline.cancel() }
        deadline.cancel()
        guard let hello = try? JSONDecoder().decode(SessionStreamHello.self, from: Data(text.utf8)) else {
            return try await refuse(outbound, sessionId, "the first message must be the hello with the session's token")
        }
        let stream: AsyncStream<SessionRelay.ClientFrame>
        let linkId: UUID
        switch await relay.connect(sessionId, hello: hello, now: Date().timeIntervalSince1970) {
        case .success(let (s, id)): (stream, linkId) = (s, id)
        case .failure(let error): return try await refuse(outbound, sessionId, "\(error.code): \(error.message)")
        }
        let relay = self.relay
        let writer = Task {
            for await frame in stream {
                switch frame {
                case .output(let bytes, let end):
                    do { try await outbound.write(.binary(ByteBuffer(bytes: bytes))) } catch { return }
                    await relay.delivered(sessionId, end: end)
                case .control(let text):
                    try? await outbound.write(.text(text))
                }
            }
            // The session ended (or another client took it over).
            try? await outbound.close(.normalClosure, reason: nil)
        }
        do {
            while let message = try await messages.next() {
                switch message {
                case .binary(let buffer):
                    await relay.fromClient(sessionId, .input(sessionId, buffer.readableBytesView), now: Date().timeIntervalSince1970)
                case .text(let text):
                    guard var control = try? JSONDecoder().decode(SessionMessage.self, from: Data(text.utf8)) else { continue }
                    control.sessionId = sessionId
                    await relay.fromClient(sessionId, control, now: Date().timeIntervalSince1970)
                }
            }
        } catch {
            logger.debug("a session stream ended", metadata: ["session": "\(sessionId)", "error": "\(error)"])
        }
        await relay.disconnected(sessionId, linkId: linkId)
        await writer.value
    }

    private func refuse(_ outbound: WebSocketOutboundWriter, _ sessionId: String, _ reason: String) async throws {
        try await outbound.write(.text(SessionMessage(.exit, sessionId: sessionId, reason: reason).json))
        try await outbound.close(.policyViolation, reason: nil)
    }
}
