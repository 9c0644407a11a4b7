import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A command message sealed to one agent: encrypted with HPKE to the agent's X25519 key and signed
/// with the server's Ed25519 key.
///
/// Only that agent can read it, and it can tell that the server it registered with wrote it, that it
/// is addressed to itself, and (by its nonce) whether it has seen this very message before.
public struct SealedEnvelope: Sendable, Codable, Hashable {
    public static let ciphersuite = HPKE.Ciphersuite.Curve25519_SHA256_ChachaPoly
    static let info = Data("steward-invocation-v1".utf8)

    /// The instance the message is for.
    public var recipient: String
    /// Random and never reused: a replayed capture carries a nonce the agent has seen.
    public var nonce: String
    /// Epoch seconds when the server sealed it.
    public var issuedAt: Double
    public var encapsulatedKey: String
    public var ciphertext: String
    /// Ed25519 over the header, the encapsulated key and the ciphertext.
    public var signature: String

    public enum OpenError: Error, Equatable, CustomStringConvertible {
        case malformed
        case badSignature
        case wrongRecipient(String)
        case undecryptable

        public var description: String {
            switch self {
            case .malformed: "the sealed message is malformed"
            case .badSignature: "the server signature does not verify"
            case .wrongRecipient(let id): "the message is addressed to \(id)"
            case .undecryptable: "the message cannot be decrypted with this agent's key"
            }
        }
    }

    var header: Data { Data("\(recipient)\n\(nonce)\n\(issuedAt)".utf8) }

    func signedBytes(encapsulatedKey: Data, ciphertext: Data) -> Data {
        var bytes = header
        bytes.append(0)
        bytes.append(encapsulatedKey)
        bytes.append(0)
        bytes.append(ciphertext)
        return bytes
    }

    /// Seals `plaintext` for the agent whose encryption key is `recipientKey`.
    public static func seal(
        _ plaintext: Data, to recipient: String, recipientKey: Curve25519.KeyAgreement.PublicKey,
        signingKey: Curve25519.Signing.PrivateKey, now: Double
    ) throws -> SealedEnvelope {
        var nonceBytes = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in nonceBytes.indices { nonceBytes[i] = UInt8.random(in: 0...255, using: &rng) }
        var envelope = SealedEnvelope(
            recipient: recipient, nonce: Data(nonceBytes).base64EncodedString(), issuedAt: now, encapsulatedKey: "",
            ciphertext: "", signature: "")
        var sender = try HPKE.Sender(recipientKey: recipientKey, ciphersuite: ciphersuite, info: info)
        let ciphertext = try sender.seal(plaintext, authenticating: envelope.header)
        let signature = try signingKey.signature(
            for: envelope.signedBytes(encapsulatedKey: sender.encapsulatedKey, ciphertext: ciphertext))
        envelope.encapsulatedKey = sender.encapsulatedKey.base64EncodedString()
        envelope.ciphertext = ciphertext.base64EncodedString()
        envelope.signature = signature.base64EncodedString()
        return envelope
    }

    /// Checks the signature and the addressee, then decrypts.
    public func open(
        as instanceId: String, privateKey: Curve25519.KeyAgreement.PrivateKey, serverKey: Curve25519.Signing.PublicKey
    ) throws(OpenError) -> Data {
        guard let enc = Data(base64Encoded: encapsulatedKey), let sealed = Data(base64Encoded: ciphertext),
            let sig = Data(base64Encoded: signature)
        else { throw .malformed }
        guard serverKey.isValidSignature(sig, for: signedBytes(encapsulatedKey: enc, ciphertext: sealed)) else {
            throw .badSignature
        }
        guard recipient == instanceId else { throw .wrongRecipient(recipient) }
        do {
            var receiver = try HPKE.Recipient(
                privateKey: privateKey, ciphersuite: Self.ciphersuite, info: Self.info, encapsulatedKey: enc)
            return try receiver.open(sealed, authenticating: header)
        } catch {
            throw .undecryptable
        }
    }
}
