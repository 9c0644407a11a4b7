import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The agent channel as a transport for interactive sessions.
///
/// A session is opened only by a request sealed to this agent and signed by its server; the request carries a key,
/// and every later message of the session, either way, is numbered and authenticated with it.
extension AgentRuntime {
    func receiveSession(_ frame: ChannelFrame) {
        guard let message = frame.session else { return }
        let id = message.sessionId
        guard message.kind == .open else {
            guard var authenticator = sessionKeys[id], authenticator.accept(message, .toAgent) else {
                logger.warning("dropped a session message that does not authenticate", metadata: ["session": "\(id)"])
                return
            }
            sessionKeys[id] = authenticator
            return sessions.receive(message)
        }
        let refuse = { (reason: String) in
            self.logger.warning("refused to open a session", metadata: ["session": "\(id)", "reason": "\(reason)"])
            self.send(ChannelFrame(type: .session, session: SessionMessage(.exit, sessionId: id, exitCode: -1, reason: reason)))
        }
        guard let sealed = frame.sealed else { return refuse("unsealed: a session must be opened by a sealed request") }
        let request: SessionOpenRequest
        do {
            let plaintext = try sealed.open(as: instanceId, privateKey: encryptionKey, serverKey: serverKey)
            request = try JSONDecoder().decode(SessionOpenRequest.self, from: plaintext)
        } catch {
            return refuse("the open request does not verify: \(error)")
        }
        guard request.instanceId == instanceId, request.sessionId == id else {
            return refuse("the open request is for another node or session")
        }
        guard let authenticator = request.key.flatMap(SessionAuthenticator.init(base64:)) else {
            return refuse("the open request carries no session key")
        }
        guard sessionKeys[id] == nil else { return refuse("this session is open already") }
        // The key is in place before the host's first message can be forwarded (both happen on this actor).
        sessionKeys[id] = authenticator
        if !sessions.open(request) { sessionKeys[id] = nil }
    }

    /// Sends what the sessions produce, in order and authenticated, while the channel is up (output waits for
    /// acknowledgements, so nothing piles up while it is down).
    func forwardSessionMessages() async {
        for await message in sessions.messages {
            var outgoing = message
            if var authenticator = sessionKeys[message.sessionId] {
                outgoing = authenticator.sign(message, .fromAgent)
                sessionKeys[message.sessionId] = message.kind == .exit ? nil : authenticator
            }
            send(ChannelFrame(type: .session, session: outgoing))
        }
    }
}
