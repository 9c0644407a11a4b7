import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A self-signed X.509 certificate for the node's Ed25519 identity key, so the direct TCP listener speaks TLS with
/// the very key the control plane registered: the operator's tool pins it (from the grant or the fingerprint), no CA.
///
/// The certificate carries nothing to trust besides the key: its name is the instance id, its validity open-ended
/// (2000 to 9999, as RFC 5280 suggests for certificates without a meaningful expiry).
enum NodeCertificate {
    /// DER of the certificate for `key`, named `instanceId`.
    static func der(for key: Curve25519.Signing.PrivateKey, instanceId: String) throws -> [UInt8] {
        let algorithm = DER.sequence(DER.oid(ed25519))
        let name = DER.sequence(DER.set(DER.sequence(DER.oid([0x55, 0x04, 0x03]) + DER.tlv(0x0C, Array(instanceId.utf8)))))
        var serial = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in serial.indices { serial[i] = UInt8.random(in: 0...255, using: &rng) }
        serial[0] &= 0x7F  // positive
        serial[0] |= 0x01  // and no leading zero byte
        let validity = DER.sequence(DER.tlv(0x17, Array("000101000000Z".utf8)) + DER.tlv(0x18, Array("99991231235959Z".utf8)))
        let tbs = DER.sequence(
            DER.tlv(0xA0, DER.tlv(0x02, [2]))  // version 3
                + DER.tlv(0x02, serial) + algorithm + name + validity + name + spki(key.publicKey.rawRepresentation))
        let signature = try key.signature(for: tbs)
        return DER.sequence(tbs + algorithm + DER.tlv(0x03, [0] + Array(signature)))
    }

    /// The private key as PKCS#8 PEM, the form BoringSSL loads.
    static func pem(for key: Curve25519.Signing.PrivateKey) -> String {
        let der = DER.sequence(
            DER.tlv(0x02, [0]) + DER.sequence(DER.oid(ed25519)) + DER.tlv(0x04, DER.tlv(0x04, Array(key.rawRepresentation))))
        return "-----BEGIN PRIVATE KEY-----\n\(Data(der).base64EncodedString())\n-----END PRIVATE KEY-----\n"
    }

    /// SubjectPublicKeyInfo of a raw Ed25519 public key.
    static func spki(_ raw: Data) -> [UInt8] {
        DER.sequence(DER.sequence(DER.oid(ed25519)) + DER.tlv(0x03, [0] + Array(raw)))
    }

    /// The raw Ed25519 key in a SubjectPublicKeyInfo, nil for any other kind of key.
    static func rawKey(fromSPKI spki: [UInt8]) -> Data? {
        let prefix = Array(self.spki(Data(count: 32)).prefix(12))
        guard spki.count == 44, Array(spki.prefix(12)) == prefix else { return nil }
        return Data(spki.suffix(32))
    }

    /// 1.3.101.112
    static let ed25519: [UInt8] = [0x2B, 0x65, 0x70]
}

/// Just enough DER for the certificate above.
enum DER {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        let n = content.count
        let length: [UInt8] =
            n < 0x80 ? [UInt8(n)] : n < 0x100 ? [0x81, UInt8(n)] : [0x82, UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        return [tag] + length + content
    }

    static func sequence(_ content: [UInt8]) -> [UInt8] { tlv(0x30, content) }
    static func set(_ content: [UInt8]) -> [UInt8] { tlv(0x31, content) }
    static func oid(_ encoded: [UInt8]) -> [UInt8] { tlv(0x06, encoded) }
}
