import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The agent channel as a transport for interactive sessions.
extension AgentRuntime {
    /// An `open` must come sealed to this agent by the server it registered with; the rest goes to the host as it is.
    func receiveSession(_ frame: ChannelFrame) {
        guard let message = frame.session else { return }
        guard message.kind == .open else { return sessions.receive(message) }
        let refuse = { (reason: String) in
            self.logger.warning("refused to open a session", metadata: ["session": "\(message.sessionId)", "reason": "\(reason)"])
            self.send(
                ChannelFrame(type: .session, session: SessionMessage(.exit, sessionId: message.sessionId, exitCode: -1, reason: reason)))
        }
        guard let sealed = frame.sealed else { return refuse("unsealed: a session must be opened by a sealed request") }
        let request: SessionOpenRequest
        do {
            let plaintext = try sealed.open(as: instanceId, privateKey: encryptionKey, serverKey: serverKey)
            request = try JSONDecoder().decode(SessionOpenRequest.self, from: plaintext)
        } catch {
            return refuse("the open request does not verify: \(error)")
        }
        guard request.instanceId == instanceId, request.sessionId == message.sessionId else {
            return refuse("the open request is for another node or session")
        }
        sessions.open(request)
    }

    /// Sends what the sessions produce, in order, while the channel is up (output waits for acknowledgements, so
    /// nothing piles up while it is down).
    func forwardSessionMessages() async {
        for await message in sessions.messages {
            send(ChannelFrame(type: .session, session: message))
        }
    }
}
