import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A short-lived permission for one operator key to run named documents or commands on some nodes directly,
/// without the control plane: issued and signed by the server, checked by the agent alone.
public struct DirectGrant: Sendable, Codable, Hashable {
    public static let currentVersion = 1
    /// The longest a grant may live.
    public static let maxLifetime: Double = 12 * 3600

    public var version: Int
    public var grantId: String
    public var accountId: String
    public var region: String
    /// Fingerprint of the server key that signed the grant (``DirectKeys/fingerprint(_:)``).
    public var issuer: String
    /// The operator's Ed25519 public key, base64: only its holder may use the grant.
    public var operatorKey: String
    /// Nodes by id; a node is in scope when it is listed here or matches `targets`.
    public var instanceIds: [String]
    /// SSM targets (`tag:Name`, `tag-key`, `InstanceIds`) that the agent matches against its own tags.
    public var targets: [CommandRecord.TargetPair]
    /// Documents the operator may run, pinned by the SHA-256 of their content.
    public var documents: [Document]
    /// Shell command patterns the operator may run; `*` matches any text. `AWS-RunShellScript` in `documents` allows any.
    public var commands: [String]
    /// Whether the operator may open interactive shells (`steward session --direct`); absent in grants without.
    public var sessions: Bool?
    /// The Ed25519 public keys (base64) of the nodes in scope when the grant was issued, so the operator's tool can
    /// tell it reached the right node without asking the control plane.
    public var nodeKeys: [String: String]
    public var issuedAt: Double
    public var expiresAt: Double

    public struct Document: Sendable, Codable, Hashable {
        public var name: String
        /// Lowercase hex SHA-256 of the document's content; nil for the built-in shell document, whose plan the agent builds.
        public var sha256: String?
        public init(name: String, sha256: String?) {
            self.name = name
            self.sha256 = sha256
        }
    }

    public init(
        grantId: String, accountId: String, region: String, issuer: String, operatorKey: String, instanceIds: [String],
        targets: [CommandRecord.TargetPair], documents: [Document], commands: [String], sessions: Bool = false,
        nodeKeys: [String: String], issuedAt: Double, expiresAt: Double
    ) {
        self.version = Self.currentVersion
        self.sessions = sessions ? true : nil
        self.grantId = grantId
        self.accountId = accountId
        self.region = region
        self.issuer = issuer
        self.operatorKey = operatorKey
        self.instanceIds = instanceIds
        self.targets = targets
        self.documents = documents
        self.commands = commands
        self.nodeKeys = nodeKeys
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }

    /// Whether the grant covers a node with this id and these tags.
    public func covers(instanceId: String, tags: [String: String]) -> Bool {
        if instanceIds.contains(instanceId) { return true }
        guard !targets.isEmpty, let expression = try? TargetExpression(targets: targets.map { ($0.key, $0.values) }) else {
            return false
        }
        return expression.matches(.init(instanceId: instanceId, tags: tags))
    }

    /// Whether the grant allows inline shell commands with this text (every line, or the whole text, must match a pattern).
    public func allowsCommands(_ lines: [String]) -> Bool {
        if documents.contains(where: { $0.name == DirectRequest.shellDocument }) { return true }
        let meaningful = lines.flatMap { $0.split(separator: "\n").map { String($0).trimmingSpaces } }.filter { !$0.isEmpty }
        guard !meaningful.isEmpty else { return false }
        return meaningful.allSatisfy { line in commands.contains { DirectGrant.glob($0, matches: line) } }
    }

    /// Whether the grant allows interactive sessions: only when it says so, never implied by commands or documents.
    public var allowsSessions: Bool { sessions == true }

    /// The allowed document whose content has this SHA-256, if any.
    public func document(sha256 hash: String) -> Document? {
        documents.first { $0.sha256 == hash.lowercased() }
    }

    /// `*` matches any run of characters (spaces included); everything else matches itself.
    public static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.utf8)
        let t = Array(text.utf8)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count && p[pi] != UInt8(ascii: "*") && p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}

/// A grant as the operator holds it: the exact bytes the server signed, and the signature.
///
/// The payload travels as base64 of the signed JSON, so no canonical form is needed to check it.
public struct SignedGrant: Sendable, Codable, Hashable {
    public var payload: String
    public var signature: String

    public init(payload: String, signature: String) {
        self.payload = payload
        self.signature = signature
    }

    public static func sign(_ grant: DirectGrant, with key: Curve25519.Signing.PrivateKey) throws -> SignedGrant {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = try encoder.encode(grant)
        let signature = try key.signature(for: DirectKeys.grantMessage(bytes))
        return SignedGrant(payload: bytes.base64EncodedString(), signature: signature.base64EncodedString())
    }

    /// The grant's content, unchecked (for display, and for the tool to find the node's key).
    public func unverified() throws(DirectRefusal) -> DirectGrant {
        guard let bytes = Data(base64Encoded: payload), let grant = try? JSONDecoder().decode(DirectGrant.self, from: bytes) else {
            throw DirectRefusal(.malformed, "the grant is not a valid Steward grant")
        }
        return grant
    }

    /// The grant, if the pinned server key signed it and it is in force now.
    public func verify(serverKey: Curve25519.Signing.PublicKey, now: Double) throws(DirectRefusal) -> DirectGrant {
        let grant = try unverified()
        guard grant.version == DirectGrant.currentVersion else {
            throw DirectRefusal(.malformed, "grant version \(grant.version) is not supported by this agent")
        }
        guard grant.issuer == DirectKeys.fingerprint(serverKey) else {
            throw DirectRefusal(
                .unknownIssuer, "the grant was issued by key \(grant.issuer), not by the control plane this node is registered with")
        }
        guard let bytes = Data(base64Encoded: payload), let sig = Data(base64Encoded: signature),
            serverKey.isValidSignature(sig, for: DirectKeys.grantMessage(bytes))
        else {
            throw DirectRefusal(.badSignature, "the grant's signature does not verify with the control plane's key (forged or altered)")
        }
        guard now >= grant.issuedAt - 300 else {
            throw DirectRefusal(.notYetValid, "the grant is not valid before \(grant.issuedAt) (check the clocks)")
        }
        guard now < grant.expiresAt else {
            throw DirectRefusal(.expired, "the grant \(grant.grantId) expired \(Int(now - grant.expiresAt)) s ago")
        }
        return grant
    }
}

/// Why an agent refused a direct request: a code the tool and the audit record carry, and a sentence for the operator.
public struct DirectRefusal: Error, Sendable, Codable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, Hashable {
        case malformed
        case unknownIssuer
        case badSignature
        case expired
        case notYetValid
        case wrongNode
        case notAllowed
        case badProof
        case replayed
        case busy
        case internalError
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Fingerprints and the exact bytes each signature in the direct protocol covers.
public enum DirectKeys {
    /// `SHA256:` and unpadded base64 of the SHA-256 of the raw public key, as SSH prints key fingerprints.
    public static func fingerprint(_ key: Curve25519.Signing.PublicKey) -> String {
        fingerprint(rawKey: key.rawRepresentation)
    }

    public static func fingerprint(rawKey: Data) -> String {
        var text = Data(SHA256.hash(data: rawKey)).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return "SHA256:" + text
    }

    public static func sha256Hex(_ bytes: some DataProtocol) -> String {
        SHA256.hash(data: bytes).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    static func grantMessage(_ payload: Data) -> Data {
        var message = Data("steward-grant-v1\n".utf8)
        message.append(payload)
        return message
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
