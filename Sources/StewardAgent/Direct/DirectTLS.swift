import Crypto
import NIOCore
import NIOSSL
import StewardKit
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The agent's TLS identity on the direct TCP listener: TLS 1.3 only, with a self-signed certificate for the node's
/// Ed25519 identity key (``NodeCertificate``). It follows the identity key when that rotates.
final class DirectTLSIdentity: Sendable {
    private let state: Mutex<(key: Data, context: NIOSSLContext)>
    private let instanceId: String

    init(key: Curve25519.Signing.PrivateKey, instanceId: String) throws {
        self.instanceId = instanceId
        state = Mutex((key.publicKey.rawRepresentation, try Self.context(key, instanceId: instanceId)))
    }

    /// The context for the next connection.
    var context: NIOSSLContext { state.withLock { $0.context } }

    /// Uses `key` from the next connection on, if it is a new one.
    func update(_ key: Curve25519.Signing.PrivateKey) throws {
        let raw = key.publicKey.rawRepresentation
        guard state.withLock({ $0.key != raw }) else { return }
        let context = try Self.context(key, instanceId: instanceId)
        state.withLock { $0 = (raw, context) }
    }

    static func context(_ key: Curve25519.Signing.PrivateKey, instanceId: String) throws -> NIOSSLContext {
        let certificate = try NIOSSLCertificate(bytes: NodeCertificate.der(for: key, instanceId: instanceId), format: .der)
        let privateKey = try NIOSSLPrivateKey(bytes: Array(NodeCertificate.pem(for: key).utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(certificate)], privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.signingSignatureAlgorithms = [.ed25519]
        return try NIOSSLContext(configuration: configuration)
    }
}

/// The operator's side of TLS to a node: the certificate is accepted only if its key is one the operator expects
/// (a node key from the grant, or the given fingerprint), the way SSH checks a host key, not through a CA.
struct DirectTLSPin: Sendable {
    /// The node keys (raw) the grant carries, or empty when a fingerprint decides.
    let keys: Set<Data>
    let fingerprint: String?
    /// The key the node presented, for the error message and for the check that the signed handshake inside
    /// comes from the same key.
    let presented = SharedKey()

    final class SharedKey: Sendable {
        let value = Mutex<Data?>(nil)
    }

    func accepts(_ raw: Data) -> Bool {
        if let fingerprint { return fingerprint == DirectKeys.fingerprint(rawKey: raw) || fingerprint == raw.base64EncodedString() }
        return keys.contains(raw)
    }

    /// A client context for TLS 1.3 with Ed25519 certificates and no CA roots (nothing is checked against them).
    static func clientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.verifySignatureAlgorithms = [.ed25519]
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates([])
        return try NIOSSLContext(configuration: configuration)
    }

    func handler(context: NIOSSLContext) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: nil) { [self] certificates, promise in
            guard let leaf = certificates.first, let spki = try? leaf.extractPublicKey().toSPKIBytes(),
                let raw = NodeCertificate.rawKey(fromSPKI: spki)
            else { return promise.succeed(.failed) }
            presented.value.withLock { $0 = raw }
            promise.succeed(accepts(raw) ? .certificateVerified : .failed)
        }
    }
}
