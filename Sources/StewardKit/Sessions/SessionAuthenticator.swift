import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Authenticates one session's messages on the agent channel with the key that came in its sealed open request.
///
/// The open request is sealed to the agent and signed by the server, like an invocation; what follows (keys typed,
/// output) is numbered and carries an HMAC under that key, so nobody between the two (a proxy, a network without
/// TLS) can type into a shell, replay what was typed, or forge what the shell printed.
public struct SessionAuthenticator: Sendable {
    /// Which way a message travels; each way has its own numbering, and a message cannot be reflected back.
    public enum Direction: String, Sendable {
        case toAgent = "to-agent"
        case fromAgent = "from-agent"
    }

    let key: SymmetricKey
    private(set) var sent = 0
    private(set) var received = 0

    public init(key: SymmetricKey) { self.key = key }

    /// A fresh random key, and its base64 form for the open request.
    public static func newKey() -> (SymmetricKey, String) {
        let key = SymmetricKey(size: .bits256)
        return (key, key.withUnsafeBytes { Data($0) }.base64EncodedString())
    }

    public init?(base64 text: String) {
        guard let data = Data(base64Encoded: text), data.count == 32 else { return nil }
        self.init(key: SymmetricKey(data: data))
    }

    /// Numbers and signs a message to send.
    public mutating func sign(_ message: SessionMessage, _ direction: Direction) -> SessionMessage {
        sent += 1
        var signed = message
        signed.seq = sent
        signed.mac = nil
        signed.mac = Data(HMAC<SHA256>.authenticationCode(for: Self.bytes(signed, direction), using: key)).base64EncodedString()
        return signed
    }

    /// Whether a received message is authentic and newer than every one before it; only then is it counted.
    public mutating func accept(_ message: SessionMessage, _ direction: Direction) -> Bool {
        guard let seq = message.seq, seq > received, let macText = message.mac, let mac = Data(base64Encoded: macText) else {
            return false
        }
        var unsigned = message
        unsigned.mac = nil
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.bytes(unsigned, direction), using: key) else {
            return false
        }
        received = seq
        return true
    }

    /// Every member, each length-prefixed, so no two messages share their bytes.
    static func bytes(_ m: SessionMessage, _ direction: Direction) -> Data {
        let fields: [String?] = [
            "steward-session-v1", direction.rawValue, m.sessionId, m.kind.rawValue, m.seq.map(String.init), m.data,
            m.offset.map(String.init), m.cols.map(String.init), m.rows.map(String.init), m.signal, m.exitCode.map(String.init),
            m.reason,
        ]
        var bytes = Data()
        for field in fields {
            guard let field else {
                bytes.append(contentsOf: Array("-\n".utf8))
                continue
            }
            bytes.append(contentsOf: Array("\(field.utf8.count):".utf8))
            bytes.append(contentsOf: Array(field.utf8))
            bytes.append(10)
        }
        return bytes
    }
}
