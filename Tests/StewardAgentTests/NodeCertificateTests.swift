import Crypto
import Foundation
import StewardKit
import Testing

@testable import StewardAgent

@Suite("The node's TLS certificate")
struct NodeCertificateTests {
    @Test("BoringSSL loads the self-signed certificate and the key, and the key in it is the node's identity key")
    func loads() throws {
        let key = Curve25519.Signing.PrivateKey()
        let der = try NodeCertificate.der(for: key, instanceId: "mi-0123456789abcdef0")
        _ = try DirectTLSIdentity(key: key, instanceId: "mi-0123456789abcdef0")
        let spki = NodeCertificate.spki(key.publicKey.rawRepresentation)
        #expect(NodeCertificate.rawKey(fromSPKI: spki) == key.publicKey.rawRepresentation)
        #expect(der.count > 100 && Data(der).range(of: Data(spki)) != nil)
    }

    @Test("a pin accepts the grant's node keys or the fingerprint, and nothing else")
    func pin() {
        let node = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation
        let other = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation
        #expect(DirectTLSPin(keys: [node], fingerprint: nil).accepts(node))
        #expect(!DirectTLSPin(keys: [node], fingerprint: nil).accepts(other))
        #expect(!DirectTLSPin(keys: [], fingerprint: nil).accepts(node))
        let byFingerprint = DirectTLSPin(keys: [other], fingerprint: DirectKeys.fingerprint(rawKey: node))
        #expect(byFingerprint.accepts(node) && !byFingerprint.accepts(other))
    }
}
