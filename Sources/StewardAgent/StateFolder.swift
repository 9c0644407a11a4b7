import Crypto
import StewardKit
import StewardRunner

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The agent's state folder: identity and keys (mode 0600), the journal of accepted runs and the outbox of results.
public struct StateFolder: Sendable {
    public let path: String

    public init(path: String) throws {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
        for sub in ["", "/journal", "/outbox", "/runs"] {
            try FileManager.default.createDirectory(atPath: self.path + sub, withIntermediateDirectories: true)
        }
        chmod(self.path, 0o700)
    }

    /// Who this agent is, as the server told it at registration.
    public struct Identity: Sendable, Codable {
        public var instanceId: String
        public var region: String
        public var server: String
        /// The server's Ed25519 public key, pinned at registration.
        public var serverSigningKey: String
    }

    var identityPath: String { "\(path)/identity.json" }

    public func identity() throws -> Identity {
        guard let data = FileManager.default.contents(atPath: identityPath) else {
            throw AgentError("\(path) holds no registration; run `steward-agent register` first")
        }
        return try JSONDecoder().decode(Identity.self, from: data)
    }

    func saveIdentity(_ identity: Identity) throws {
        try DurableFile.write(try JSONEncoder().encode(identity), to: identityPath, mode: 0o600)
    }

    public func signingKey() throws -> Curve25519.Signing.PrivateKey {
        try Curve25519.Signing.PrivateKey(rawRepresentation: try key(named: "signing.key"))
    }

    public func encryptionKey() throws -> Curve25519.KeyAgreement.PrivateKey {
        try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: try key(named: "encryption.key"))
    }

    func key(named name: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: "\(path)/\(name)"), data.count == 32 else {
            throw AgentError("\(path)/\(name) is missing or damaged; register again")
        }
        return data
    }

    /// Makes new key pairs (used at registration).
    func createKeys() throws -> (Curve25519.Signing.PrivateKey, Curve25519.KeyAgreement.PrivateKey) {
        let signing = Curve25519.Signing.PrivateKey()
        let encryption = Curve25519.KeyAgreement.PrivateKey()
        try DurableFile.write(signing.rawRepresentation, to: "\(path)/signing.key", mode: 0o600)
        try DurableFile.write(encryption.rawRepresentation, to: "\(path)/encryption.key", mode: 0o600)
        return (signing, encryption)
    }

    // MARK: Journal and outbox

    /// A journal entry: the agent accepted this invocation and will run it exactly once.
    struct JournalEntry: Codable, Sendable {
        var invocation: InvocationMessage
        var acceptedAt: Double
        var finished: Bool
        /// Nonces of the sealed messages that carried this invocation; one seen again is a replay.
        var nonces: [String] = []
    }

    func journalPath(_ commandId: String) -> String { "\(path)/journal/\(safe(commandId)).json" }
    func outboxPath(_ commandId: String) -> String { "\(path)/outbox/\(safe(commandId)).json" }

    func safe(_ id: String) -> String { String(id.filter { $0.isLetter || $0.isNumber || $0 == "-" }) }

    func journal(_ commandId: String) -> JournalEntry? {
        FileManager.default.contents(atPath: journalPath(commandId)).flatMap { try? JSONDecoder().decode(JournalEntry.self, from: $0) }
    }

    /// `durable: false` skips the disk flush: used when marking a run finished, because its result is
    /// already durable in the outbox, and a lost mark only makes the agent report that result again.
    func writeJournal(_ entry: JournalEntry, durable: Bool = true) throws {
        try DurableFile.write(try JSONEncoder().encode(entry), to: journalPath(entry.invocation.commandId), mode: 0o600, sync: durable)
    }

    func allJournal() -> [JournalEntry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(path)/journal")) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap { name in
            FileManager.default.contents(atPath: "\(path)/journal/\(name)").flatMap {
                try? JSONDecoder().decode(JournalEntry.self, from: $0)
            }
        }
    }

    func writeOutbox(_ result: InvocationResult) throws {
        try DurableFile.write(try JSONEncoder().encode(result), to: outboxPath(result.commandId), mode: 0o600)
    }

    func outbox() -> [InvocationResult] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(path)/outbox")) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            FileManager.default.contents(atPath: "\(path)/outbox/\(name)").flatMap {
                try? JSONDecoder().decode(InvocationResult.self, from: $0)
            }
        }
    }

    func outboxResult(_ commandId: String) -> InvocationResult? {
        FileManager.default.contents(atPath: outboxPath(commandId)).flatMap { try? JSONDecoder().decode(InvocationResult.self, from: $0) }
    }

    func removeOutbox(_ commandId: String) {
        unlink(outboxPath(commandId))
    }

    /// Journal entries of finished runs are dropped once their delivery deadline has passed (a replay of
    /// such a message is then refused as expired) and they are older than `age`.
    func pruneJournal(olderThan age: Double, now: Double) {
        for entry in allJournal() where entry.finished && now > entry.invocation.notAfter && now - entry.acceptedAt > age {
            if outboxResult(entry.invocation.commandId) == nil { unlink(journalPath(entry.invocation.commandId)) }
        }
    }
}

public struct AgentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
