import Logging
import NIOCore
import NIOPosix
import NIOSSL
import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Where the agent accepts direct tasks: a Unix socket for local use, a TCP address for the network, or both.
public struct DirectEndpoints: Sendable, Hashable {
    /// Path of the Unix socket (mode 0600: only the agent's user, and root, may connect).
    public var socketPath: String?
    /// `HOST:PORT` to listen on over TCP.
    public var tcp: (host: String, port: Int)?

    public init(socketPath: String? = nil, tcp: (host: String, port: Int)? = nil) {
        self.socketPath = socketPath
        self.tcp = tcp
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.socketPath == b.socketPath && a.tcp?.host == b.tcp?.host && a.tcp?.port == b.tcp?.port
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(socketPath)
        hasher.combine(tcp?.host)
        hasher.combine(tcp?.port)
    }

    /// `HOST:PORT`, `:PORT` or `PORT` (loopback when no host is given), and `[::1]:PORT` for IPv6.
    public static func parseAddress(_ text: String) throws -> (host: String, port: Int) {
        var host = "127.0.0.1"
        var portText = text
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = String(text[close...].dropFirst().drop { $0 == ":" })
        } else if let colon = text.lastIndex(of: ":") {
            if colon != text.startIndex { host = String(text[..<colon]) }
            portText = String(text[text.index(after: colon)...])
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw AgentError("the direct listen address must be HOST:PORT, :PORT or PORT, not \(text)")
        }
        return (host, port)
    }
}

/// Accepts direct connections and hands each to ``DirectTasks``; runs until its task is cancelled.
struct DirectListener {
    let endpoints: DirectEndpoints
    let tasks: DirectTasks
    /// TLS on the TCP endpoint; the Unix socket needs none (the file's mode decides who connects).
    let identity: DirectTLSIdentity
    let logger: Logger

    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// Binds every endpoint (an endpoint that cannot be bound is logged and left out), then serves them.
    /// `onBound` gets the TCP port actually bound.
    func run(onBound: @escaping @Sendable (Int?) -> Void = { _ in }) async throws {
        var servers: [(NIOAsyncChannel<Connection, Never>, String)] = []
        var tcpPort: Int?
        if let path = endpoints.socketPath {
            do { servers.append((try await bindSocket(path), "unix")) } catch {
                logger.error("cannot accept direct tasks on \(path): \(error)")
            }
        }
        if let tcp = endpoints.tcp {
            do {
                let server = try await bindTCP(tcp)
                tcpPort = server.channel.localAddress?.port
                servers.append((server, "tcp"))
            } catch {
                logger.error("cannot accept direct tasks on \(tcp.host):\(tcp.port): \(error)")
            }
        }
        onBound(tcpPort)
        try await serve(servers)
    }

    func bindSocket(_ path: String) async throws -> NIOAsyncChannel<Connection, Never> {
        // At its default place the state folder (0700) keeps others out until the socket's own mode is set.
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture { try Connection(wrappingChannelSynchronously: channel) }
            }
        chmod(path, 0o600)
        logger.info("accepting direct tasks", metadata: ["socket": "\(path)"])
        return server
    }

    func bindTCP(_ tcp: (host: String, port: Int)) async throws -> NIOAsyncChannel<Connection, Never> {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: tcp.host, port: tcp.port) { [identity] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: identity.context))
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        logger.info(
            "accepting direct tasks over TLS 1.3", metadata: ["address": "\(tcp.host):\(server.channel.localAddress?.port ?? tcp.port)"])
        return server
    }

    func serve(_ servers: [(NIOAsyncChannel<Connection, Never>, String)]) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for (server, kind) in servers {
                group.addTask {
                    try await withTaskCancellationHandler {
                        try await server.executeThenClose { inbound in
                            try await withThrowingDiscardingTaskGroup { connections in
                                for try await connection in inbound {
                                    let peer = kind == "unix" ? "unix" : connection.channel.remoteAddress.map { "\($0)" } ?? "tcp"
                                    connections.addTask { await self.serve(connection, peer: peer) }
                                }
                            }
                        }
                    } onCancel: {
                        server.channel.close(promise: nil)
                    }
                }
            }
        }
    }

    /// How long a connection may take to present its request; a peer that goes quiet is cut off.
    static let requestTimeout: Duration = .seconds(30)

    func serve(_ connection: Connection, peer: String) async {
        let channel = connection.channel
        let watchdog = Task {
            try await Task.sleep(for: Self.requestTimeout)
            channel.close(promise: nil)
        }
        defer { watchdog.cancel() }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var frames = FrameChannel(inbound: inbound, outbound: outbound)
                await tasks.serve(
                    &frames, peer: peer, closed: channel.closeFuture, onRequest: { watchdog.cancel() },
                    hangUp: { channel.close(promise: nil) })
            }
        } catch {
            logger.debug("a direct connection ended with an error", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }
}
