import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The direct protocol between the operator's tool and an agent, over a Unix socket or TCP.
///
/// Every frame is a 4-byte big-endian length and a payload. The first two frames are the handshake, in clear:
/// the tool's ``ClientHello`` (an ephemeral X25519 key) and the agent's ``AgentHello`` (its ephemeral key, a fresh
/// nonce, and its identity key's signature over both ephemeral keys, the nonce and its instance id). The tool checks
/// that signature against the node key it expects, so it knows which node it reached; both sides then derive one
/// ChaCha20-Poly1305 key per direction with HKDF from the X25519 secret, and every later frame is a sealed
/// ``DirectMessage``. The first sealed message is a request (`kind` `exec`; other kinds can follow), carrying the
/// grant and the operator's signature over the nonce, the instance id, the handshake and the request's bytes.
public enum DirectProtocol {
    public static let name = "steward-direct/1"
    public static let maxFrame = 16 << 20

    /// The tool's opening frame.
    public struct ClientHello: Sendable, Codable {
        public var `protocol`: String
        public var ephemeralKey: String
        public init(ephemeralKey: String) {
            self.protocol = DirectProtocol.name
            self.ephemeralKey = ephemeralKey
        }
    }

    /// The agent's answer: who it is, proved by its identity key, and the nonce the operator must sign.
    public struct AgentHello: Sendable, Codable {
        public var `protocol`: String
        public var instanceId: String
        /// The agent's Ed25519 identity key, base64.
        public var nodeKey: String
        public var ephemeralKey: String
        public var nonce: String
        public var signature: String
        public init(instanceId: String, nodeKey: String, ephemeralKey: String, nonce: String, signature: String) {
            self.protocol = DirectProtocol.name
            self.instanceId = instanceId
            self.nodeKey = nodeKey
            self.ephemeralKey = ephemeralKey
            self.nonce = nonce
            self.signature = signature
        }
    }

    /// The bytes both sides hash into the handshake: protocol, both ephemeral keys, the nonce and the node.
    public static func transcript(clientKey: Data, agentKey: Data, nonce: String, instanceId: String) -> Data {
        var bytes = Data("\(name)\n".utf8)
        bytes.append(clientKey)
        bytes.append(agentKey)
        bytes.append(Data("\n\(nonce)\n\(instanceId)".utf8))
        return bytes
    }

    /// What the operator signs for a request: it answers this nonce, on this channel, for this node, with these bytes.
    public static func proofMessage(transcriptHash: Data, nonce: String, instanceId: String, body: Data) -> Data {
        var bytes = Data("steward-direct-request-v1\n\(nonce)\n\(instanceId)\n".utf8)
        bytes.append(transcriptHash)
        bytes.append(Data(SHA256.hash(data: body)))
        return bytes
    }

    /// The keys of one channel, one per direction.
    public struct Keys: Sendable {
        public let clientToAgent: SymmetricKey
        public let agentToClient: SymmetricKey
        public let transcriptHash: Data

        public init(secret: SharedSecret, transcript: Data) {
            transcriptHash = Data(SHA256.hash(data: transcript))
            clientToAgent = secret.hkdfDerivedSymmetricKey(
                using: SHA256.self, salt: transcriptHash, sharedInfo: Data("steward-direct c2a".utf8), outputByteCount: 32)
            agentToClient = secret.hkdfDerivedSymmetricKey(
                using: SHA256.self, salt: transcriptHash, sharedInfo: Data("steward-direct a2c".utf8), outputByteCount: 32)
        }
    }

    /// Seals or opens the frames of one direction; the nonce is a counter, so a dropped, repeated or reordered frame fails.
    public struct Cipher: Sendable {
        let key: SymmetricKey
        var counter: UInt64 = 0

        public init(key: SymmetricKey) { self.key = key }

        mutating func nextNonce() throws -> ChaChaPoly.Nonce {
            var bytes = [UInt8](repeating: 0, count: 12)
            let n = counter
            for i in 0..<8 { bytes[4 + i] = UInt8((n >> (8 * (7 - UInt64(i)))) & 0xff) }
            counter += 1
            return try ChaChaPoly.Nonce(data: bytes)
        }

        public mutating func seal(_ plaintext: Data) throws -> Data {
            let box = try ChaChaPoly.seal(plaintext, using: key, nonce: try nextNonce())
            return box.ciphertext + box.tag
        }

        public mutating func open(_ sealed: Data) throws -> Data {
            guard sealed.count >= 16 else { throw DirectRefusal(.malformed, "a sealed frame is too short") }
            let box = try ChaChaPoly.SealedBox(
                nonce: try nextNonce(), ciphertext: sealed.prefix(sealed.count - 16), tag: sealed.suffix(16))
            return try ChaChaPoly.open(box, using: key)
        }
    }

    /// Length-prefixed frames out of a byte stream.
    public struct FrameReader: Sendable {
        var buffer: [UInt8] = []
        var start = 0

        public init() {}

        public mutating func append(_ bytes: some Sequence<UInt8>) {
            if start > 0 && start == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            buffer.append(contentsOf: bytes)
        }

        /// The next whole frame, nil if more bytes are needed; throws on a frame larger than ``maxFrame``.
        public mutating func next() throws(DirectRefusal) -> Data? {
            guard buffer.count - start >= 4 else { return nil }
            let length = buffer[start..<start + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= DirectProtocol.maxFrame else { throw DirectRefusal(.malformed, "a frame of \(length) bytes is too large") }
            guard buffer.count - start - 4 >= length else { return nil }
            let frame = Data(buffer[start + 4..<start + 4 + length])
            start += 4 + length
            if start > 1 << 16 {
                buffer.removeFirst(start)
                start = 0
            }
            return frame
        }
    }

    public static func frame(_ payload: Data) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + payload
    }

    public static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data()
    }
}

/// A sealed message after the handshake; `kind` says which members it uses.
public struct DirectMessage: Sendable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// tool → agent: run a task (``DirectRequest`` in `body`, operator's signature in `proof`).
        case exec
        /// agent → tool: the task passed every check and runs under this command id.
        case accepted
        /// agent → tool: output as it is produced.
        case stdout
        case stderr
        /// agent → tool: the task ended; `exitCode` is its exit code, `status` its SSM status.
        case exit
        /// agent → tool: the request was refused (`code`, `message`); nothing ran.
        case refused
        /// tool → agent: open an interactive shell (``DirectSessionRequest`` in `body`, operator's signature in `proof`).
        case session
        /// Either way, once a session is accepted: one ``SessionMessage`` in `terminal` (input, resize, signal, ack and
        /// close from the tool; opened, output and exit from the agent).
        case terminal
    }

    public var kind: Kind
    /// On a request: base64 of the request's JSON bytes, exactly as signed.
    public var body: String?
    public var proof: String?
    public var commandId: String?
    public var data: String?
    public var exitCode: Int?
    public var status: String?
    public var code: DirectRefusal.Code?
    public var message: String?
    public var terminal: SessionMessage?

    public init(
        kind: Kind, body: String? = nil, proof: String? = nil, commandId: String? = nil, data: String? = nil, exitCode: Int? = nil,
        status: String? = nil, code: DirectRefusal.Code? = nil, message: String? = nil, terminal: SessionMessage? = nil
    ) {
        self.terminal = terminal
        self.kind = kind
        self.body = body
        self.proof = proof
        self.commandId = commandId
        self.data = data
        self.exitCode = exitCode
        self.status = status
        self.code = code
        self.message = message
    }
}

/// What the operator asks the agent to run.
public struct DirectRequest: Sendable, Codable, Hashable {
    /// The built-in document for inline commands.
    public static let shellDocument = "AWS-RunShellScript"

    public var grant: SignedGrant
    /// The agent nonce this request answers.
    public var nonce: String
    /// Inline shell commands (run as `AWS-RunShellScript`), or nil when `document` is given.
    public var commands: [String]?
    /// A document's content (JSON or YAML) and the format, when not inline commands.
    public var document: String?
    public var documentFormat: String?
    public var parameters: [String: [String]]
    /// Seconds the whole task may take (the step's execution timeout for inline commands).
    public var timeoutSeconds: Int?
    /// The operator's wall clock when it signed, for the audit record.
    public var sentAt: Double

    public init(
        grant: SignedGrant, nonce: String, commands: [String]?, document: String?, documentFormat: String?,
        parameters: [String: [String]], timeoutSeconds: Int?, sentAt: Double
    ) {
        self.grant = grant
        self.nonce = nonce
        self.commands = commands
        self.document = document
        self.documentFormat = documentFormat
        self.parameters = parameters
        self.timeoutSeconds = timeoutSeconds
        self.sentAt = sentAt
    }
}

/// An interactive shell the operator asks for over a direct connection (message kind `session`).
public struct DirectSessionRequest: Sendable, Codable, Hashable {
    public var grant: SignedGrant
    /// The agent nonce this request answers.
    public var nonce: String
    public var term: String
    public var cols: Int
    public var rows: Int
    /// A command line to run on the terminal instead of a login shell (as `AWS-StartInteractiveCommand`).
    public var command: String?
    public var sentAt: Double

    public init(grant: SignedGrant, nonce: String, term: String, cols: Int, rows: Int, command: String?, sentAt: Double) {
        self.grant = grant
        self.nonce = nonce
        self.term = term
        self.cols = cols
        self.rows = rows
        self.command = command
        self.sentAt = sentAt
    }
}

/// What the audit record of a direct session says about the session itself.
public struct DirectSessionSummary: Sendable, Codable, Hashable {
    public var sessionId: String
    public var command: String?
    /// The shell's exit status once it ended; nil while it runs or when it was cut off.
    public var exitCode: Int?
    /// Why it ended without a status (the operator went away, the agent stopped).
    public var reason: String?

    public init(sessionId: String, command: String?, exitCode: Int? = nil, reason: String? = nil) {
        self.sessionId = sessionId
        self.command = command
        self.exitCode = exitCode
        self.reason = reason
    }
}

/// One direct execution or refusal as the agent records it and the control plane stores it (a command of origin Direct).
public struct DirectAuditRecord: Sendable, Codable, Hashable {
    public var commandId: String
    public var instanceId: String
    public var grantId: String?
    /// Fingerprint of the operator key that proved possession (or claimed to, for a refusal).
    public var operatorKey: String?
    public var documentName: String
    /// As requested, with values of secret-looking names replaced by `****`.
    public var parameters: [String: [String]]
    public var receivedAt: Double
    /// nil when the request was refused.
    public var result: InvocationResult?
    public var refusal: DirectRefusal?
    /// `unix` or the peer's address.
    public var peer: String
    /// Set for an interactive session (whose transcript travels next to the record).
    public var session: DirectSessionSummary?

    public init(
        commandId: String, instanceId: String, grantId: String?, operatorKey: String?, documentName: String,
        parameters: [String: [String]], receivedAt: Double, result: InvocationResult?, refusal: DirectRefusal?, peer: String
    ) {
        self.commandId = commandId
        self.instanceId = instanceId
        self.grantId = grantId
        self.operatorKey = operatorKey
        self.documentName = documentName
        self.parameters = parameters
        self.receivedAt = receivedAt
        self.result = result
        self.refusal = refusal
        self.peer = peer
    }

    /// False while the task runs: a record of a task that started is written before it runs.
    public var isFinished: Bool { result != nil || refusal != nil }

    /// Parameter values whose names suggest a secret are masked before the record leaves the node.
    public static func masked(_ parameters: [String: [String]]) -> [String: [String]] {
        let words = ["password", "passwd", "secret", "token", "key", "credential", "private"]
        return Dictionary(
            uniqueKeysWithValues: parameters.map { name, values in
                let lower = name.lowercased()
                let secret = words.contains { lower.contains($0) } || values.contains { $0.contains("{{ssm-secure:") }
                return (name, secret ? values.map { _ in "****" } : values)
            })
    }
}
