import Logging
import StewardKit
import Synchronization
import WSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Registers this node with an activation and stores the identity the server gives it.
public enum Registration {
    public static func register(
        server: String, activationId: String, activationCode: String, stateDir: String, info: NodeInfo = NodeFacts.current(),
        logger: Logger
    ) async throws -> StateFolder.Identity {
        let folder = try StateFolder(path: stateDir)
        if let existing = try? folder.identity() {
            throw AgentError("\(stateDir) is already registered as \(existing.instanceId); use a new state folder to register again")
        }
        let (signing, encryption) = try folder.createKeys()
        let request = RegistrationRequest(
            activationId: activationId, activationCode: activationCode,
            signingKey: signing.publicKey.rawRepresentation.base64EncodedString(),
            encryptionKey: encryption.publicKey.rawRepresentation.base64EncodedString(), info: info)
        let body = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let reply = ReplyBox()
        try await WebSocketClient.connect(url: try webSocketURL(server, path: "/agent/v1/register"), logger: logger) {
            inbound, outbound, _ in
            try await outbound.write(.text(body))
            for try await message in inbound.messages(maxSize: 1 << 20) {
                if case .text(let text) = message {
                    reply.set(text)
                    break
                }
            }
        }
        guard let text = reply.get(), let response = try? JSONDecoder().decode(RegistrationResponse.self, from: Data(text.utf8)) else {
            throw AgentError("the server at \(server) did not answer the registration")
        }
        if let error = response.error { throw AgentError("registration refused: \(error)") }
        guard let instanceId = response.instanceId, let region = response.region, let key = response.serverSigningKey else {
            throw AgentError("the server's registration answer is incomplete")
        }
        let identity = StateFolder.Identity(instanceId: instanceId, region: region, server: server, serverSigningKey: key)
        try folder.saveIdentity(identity)
        return identity
    }

    /// `http://host:port` (or `ws://`) to the WebSocket URL of a path on that server.
    static func webSocketURL(_ server: String, path: String) throws -> String {
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        if base.hasPrefix("http://") {
            base = "ws://" + base.dropFirst(7)
        } else if base.hasPrefix("https://") {
            base = "wss://" + base.dropFirst(8)
        } else if !base.hasPrefix("ws://") && !base.hasPrefix("wss://") {
            throw AgentError("the server URL must start with http://, https://, ws:// or wss://, not \(server)")
        }
        return base + path
    }

    final class ReplyBox: Sendable {
        private let text = Mutex<String?>(nil)
        func set(_ t: String) { text.withLock { $0 = t } }
        func get() -> String? { text.withLock { $0 } }
    }
}
