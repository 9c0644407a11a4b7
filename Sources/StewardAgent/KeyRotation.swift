import Crypto
import Logging
import StewardKit
import StewardRunner
import Synchronization
import WSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Replaces an agent's key pairs without registering again: the agent proves its current key and the new
/// one to the server, which revokes the old pair at once; then the new keys are written to the state folder.
public enum KeyRotation {
    public static func rotate(stateDir: String, logger: Logger) async throws {
        let folder = try StateFolder(path: stateDir)
        let identity = try folder.identity()
        let oldSigning = try folder.signingKey()
        guard let pinned = Data(base64Encoded: identity.serverSigningKey),
            let serverKey = try? Curve25519.Signing.PublicKey(rawRepresentation: pinned)
        else { throw AgentError("\(stateDir)/identity.json holds no valid server key") }
        let newSigning = Curve25519.Signing.PrivateKey()
        let newEncryption = Curve25519.KeyAgreement.PrivateKey()
        let outcome = Mutex<String?>(nil)
        let url = try Registration.webSocketURL(identity.server, path: "/agent/v1/rotate")
        try await WebSocketClient.connect(url: url, logger: logger) { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
            guard case .text(let first)? = try await messages.next(), let challenge = try? ChannelFrame.decode(first),
                let nonce = challenge.nonce
            else { return }
            let message = ChannelFrame.authMessage(nonce: nonce, instanceId: identity.instanceId)
            try await outbound.write(
                .text(
                    ChannelFrame(
                        type: .auth, instanceId: identity.instanceId,
                        signature: try oldSigning.signature(for: message).base64EncodedString()
                    )
                    .encoded()))
            guard case .text(let second)? = try await messages.next(), let welcome = try? ChannelFrame.decode(second),
                welcome.type == .welcome,
                let proof = welcome.signature.flatMap({ Data(base64Encoded: $0) }),
                serverKey.isValidSignature(proof, for: ChannelFrame.welcomeMessage(nonce: nonce, instanceId: identity.instanceId))
            else {
                outcome.withLock { $0 = "the server refused the old key or did not prove its identity" }
                return
            }
            try await outbound.write(
                .text(
                    ChannelFrame(
                        type: .rotate, signature: try newSigning.signature(for: message).base64EncodedString(),
                        signingKey: newSigning.publicKey.rawRepresentation.base64EncodedString(),
                        encryptionKey: newEncryption.publicKey.rawRepresentation.base64EncodedString()
                    ).encoded()))
            guard case .text(let third)? = try await messages.next(), let done = try? ChannelFrame.decode(third) else { return }
            outcome.withLock { $0 = done.type == .rotated ? "rotated" : (done.reason ?? "the server refused the rotation") }
        }
        let result = outcome.withLock { $0 }
        guard result == "rotated" else { throw AgentError("key rotation failed: \(result ?? "the server did not answer")") }
        try DurableFile.write(newSigning.rawRepresentation, to: "\(folder.path)/signing.key", mode: 0o600)
        try DurableFile.write(newEncryption.rawRepresentation, to: "\(folder.path)/encryption.key", mode: 0o600)
    }
}
