import Crypto
import NIOCore
import NIOPosix
import NIOSSL
import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The operator's end of the direct protocol (`steward exec --direct`): checks the node, presents the grant, proves the
/// operator key, and relays the task's output.
public struct DirectClient: Sendable {
    /// The agent's default TCP port for direct tasks.
    public static let defaultPort = 8445

    public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
        case unix(String)
        case tcp(host: String, port: Int)

        /// `unix:PATH`, `HOST`, `HOST:PORT` or `[IPv6]:PORT`.
        public static func parse(_ text: String) throws -> Endpoint {
            if text.hasPrefix("unix:") {
                let path = String(text.dropFirst(5))
                guard !path.isEmpty else { throw AgentError("unix: needs a socket path") }
                return .unix(path)
            }
            let hasPort = text.hasPrefix("[") ? text.contains("]:") : text.contains(":")
            guard !text.isEmpty else { throw AgentError("--direct needs HOST[:PORT] or unix:PATH") }
            if !hasPort {
                return .tcp(host: text.hasPrefix("[") ? String(text.dropFirst().dropLast()) : text, port: defaultPort)
            }
            let (host, port) = try DirectEndpoints.parseAddress(text)
            return .tcp(host: host, port: port)
        }

        public var description: String {
            switch self {
            case .unix(let path): "unix:\(path)"
            case .tcp(let host, let port): "\(host):\(port)"
            }
        }
    }

    /// How a direct task ended.
    public enum Outcome: Sendable {
        case exited(code: Int, status: String, commandId: String)
        case refused(DirectRefusal)
    }

    /// Points in a request's life, for timing: the node proved its identity; the node accepted the request.
    public enum Milestone: Sendable {
        case nodeVerified
        case accepted
    }

    /// The request exactly as sent: a test sends it again on a new connection to see a replay refused.
    public struct SentRequest: Sendable {
        public var body: Data
        public var proof: Data
    }

    public var endpoint: Endpoint
    public var grant: SignedGrant
    public var operatorKey: Curve25519.Signing.PrivateKey
    /// The node's key fingerprint, when the grant does not carry the node's key.
    public var nodeFingerprint: String?
    /// Send these bytes instead of a fresh request (replay tests).
    public var replay: SentRequest?

    public init(endpoint: Endpoint, grant: SignedGrant, operatorKey: Curve25519.Signing.PrivateKey, nodeFingerprint: String? = nil) {
        self.endpoint = endpoint
        self.grant = grant
        self.operatorKey = operatorKey
        self.nodeFingerprint = nodeFingerprint
    }

    /// The task: inline commands, or a document with parameters.
    public enum Job: Sendable {
        case commands([String], timeoutSeconds: Int?)
        case document(content: String, format: String?, parameters: [String: [String]])
    }

    /// Runs the task; `output` gets stdout and stderr as they arrive (`true` for stderr).
    public func run(
        _ job: Job, output: @escaping @Sendable (String, Bool) -> Void = { _, _ in }, sent: (@Sendable (SentRequest) -> Void)? = nil,
        milestone: (@Sendable (Milestone) -> Void)? = nil
    ) async throws -> Outcome {
        try await withChannel { channel, hello, keys in
            milestone?(.nodeVerified)
            let request: SentRequest
            if let replay {
                request = replay
            } else {
                let body = try JSONEncoder().encode(makeRequest(job, nonce: hello.nonce))
                let proof = try operatorKey.signature(
                    for: DirectProtocol.proofMessage(
                        transcriptHash: keys.transcriptHash, nonce: hello.nonce, instanceId: hello.instanceId, body: body))
                request = SentRequest(body: body, proof: proof)
            }
            sent?(request)
            try await channel.writeMessage(
                DirectMessage(kind: .exec, body: request.body.base64EncodedString(), proof: request.proof.base64EncodedString()))
            var commandId = ""
            while let message = try await channel.readMessage() {
                switch message.kind {
                case .accepted:
                    commandId = message.commandId ?? ""
                    milestone?(.accepted)
                case .stdout: output(message.data ?? "", false)
                case .stderr: output(message.data ?? "", true)
                case .exit:
                    return .exited(code: message.exitCode ?? 1, status: message.status ?? "", commandId: message.commandId ?? commandId)
                case .refused:
                    return .refused(DirectRefusal(message.code ?? .internalError, message.message ?? "refused"))
                case .exec, .session, .terminal: break
                }
            }
            throw AgentError("the node closed the connection before the task ended (command \(commandId.isEmpty ? "?" : commandId))")
        }
    }

    /// Connects, checks the node by its signed handshake, and hands the sealed channel to `body`.
    func withChannel<T: Sendable>(
        _ body: (inout FrameChannel, DirectProtocol.AgentHello, DirectProtocol.Keys) async throws -> T
    ) async throws -> T {
        let pin = tlsPin()
        let connection = try await connect(pin: pin)
        return try await connection.executeThenClose { inbound, outbound in
            var channel = FrameChannel(inbound: inbound, outbound: outbound)
            let ephemeral = Curve25519.KeyAgreement.PrivateKey()
            let hello: DirectProtocol.AgentHello
            do {
                try await channel.writeFrame(
                    DirectProtocol.encode(
                        DirectProtocol.ClientHello(ephemeralKey: ephemeral.publicKey.rawRepresentation.base64EncodedString())))
                guard let answer = try await channel.readClear(DirectProtocol.AgentHello.self) else {
                    throw AgentError("\(endpoint) closed the connection during the handshake")
                }
                hello = answer
            } catch {
                if let presented = pin?.presented.value.withLock({ $0 }), pin?.accepts(presented) == false {
                    throw AgentError(
                        "\(endpoint) presents node key \(DirectKeys.fingerprint(rawKey: presented)), which \(nodeFingerprint == nil ? "the grant does not name (a grant for another node?)" : "is not \(nodeFingerprint!)")"
                    )
                }
                throw AgentError("the TLS or protocol handshake with \(endpoint) failed: \(error)")
            }
            if let pin, pin.presented.value.withLock({ $0 }) != Data(base64Encoded: hello.nodeKey) {
                throw AgentError("\(endpoint) signed its handshake with another key than its TLS certificate's")
            }
            let transcript = try verifyNode(hello, clientKey: ephemeral.publicKey.rawRepresentation)
            guard let agentKeyData = Data(base64Encoded: hello.ephemeralKey),
                let agentKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: agentKeyData)
            else { throw AgentError("the node sent a malformed handshake") }
            let keys = DirectProtocol.Keys(secret: try ephemeral.sharedSecretFromKeyAgreement(with: agentKey), transcript: transcript)
            channel.secure(send: keys.clientToAgent, receive: keys.agentToClient)
            return try await body(&channel, hello, keys)
        }
    }

    func makeRequest(_ job: Job, nonce: String) -> DirectRequest {
        switch job {
        case .commands(let commands, let timeout):
            DirectRequest(
                grant: grant, nonce: nonce, commands: commands, document: nil, documentFormat: nil, parameters: [:],
                timeoutSeconds: timeout,
                sentAt: Date().timeIntervalSince1970)
        case .document(let content, let format, let parameters):
            DirectRequest(
                grant: grant, nonce: nonce, commands: nil, document: content, documentFormat: format, parameters: parameters,
                timeoutSeconds: nil, sentAt: Date().timeIntervalSince1970)
        }
    }

    /// Checks that the node is the one the grant (or `nodeFingerprint`) names, by its signature over the handshake.
    func verifyNode(_ hello: DirectProtocol.AgentHello, clientKey: Data) throws -> Data {
        guard hello.protocol == DirectProtocol.name else { throw AgentError("the peer does not speak \(DirectProtocol.name)") }
        guard let nodeKeyData = Data(base64Encoded: hello.nodeKey),
            let nodeKey = try? Curve25519.Signing.PublicKey(rawRepresentation: nodeKeyData),
            let agentKey = Data(base64Encoded: hello.ephemeralKey), let signature = Data(base64Encoded: hello.signature)
        else { throw AgentError("the node sent a malformed handshake") }
        let fingerprint = DirectKeys.fingerprint(nodeKey)
        if let expected = nodeFingerprint {
            guard expected == fingerprint || expected == hello.nodeKey else {
                throw AgentError("\(endpoint) is node \(hello.instanceId) with key \(fingerprint), not the expected \(expected)")
            }
        } else {
            let claimed = try? grant.unverified()
            guard let known = claimed?.nodeKeys[hello.instanceId] else {
                throw AgentError(
                    "\(endpoint) is node \(hello.instanceId) (key \(fingerprint)), for which the grant carries no key; pass --node-fingerprint (KeyFingerprint in DescribeInstanceInformation)"
                )
            }
            guard known == hello.nodeKey else {
                throw AgentError(
                    "\(endpoint) claims to be \(hello.instanceId) but its key \(fingerprint) is not the one the control plane registered")
            }
        }
        let transcript = DirectProtocol.transcript(
            clientKey: clientKey, agentKey: agentKey, nonce: hello.nonce, instanceId: hello.instanceId)
        guard nodeKey.isValidSignature(signature, for: transcript) else {
            throw AgentError("\(endpoint) did not prove it holds the key of \(hello.instanceId)")
        }
        return transcript
    }

    /// What TLS must see over TCP: a node key from the grant, or the given fingerprint. Nil for a Unix socket.
    func tlsPin() -> DirectTLSPin? {
        guard case .tcp = endpoint else { return nil }
        let keys = Set(((try? grant.unverified())?.nodeKeys.values).map { $0.compactMap { Data(base64Encoded: $0) } } ?? [])
        return DirectTLSPin(keys: keys, fingerprint: nodeFingerprint)
    }

    /// One client context per process: building it is the costly part, and it holds no per-connection state.
    static let tlsContext = Result { try DirectTLSPin.clientContext() }

    func connect(pin: DirectTLSPin?) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(10))
        let context = try pin.map { _ in try Self.tlsContext.get() }
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let pin, let context { try channel.pipeline.syncOperations.addHandler(try pin.handler(context: context)) }
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        do {
            switch endpoint {
            case .unix(let path):
                return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            case .tcp(let host, let port):
                return try await bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1).connect(
                    host: host, port: port, channelInitializer: initializer)
            }
        } catch {
            throw AgentError("cannot reach the agent at \(endpoint): \(error)")
        }
    }
}
