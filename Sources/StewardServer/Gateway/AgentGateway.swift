import Foundation
import StewardKit
import Synchronization

/// The open agent channels of this server, by instance id.
///
/// Sending is synchronous and never waits: frames go into the connection's outbound queue,
/// which that connection's writer task drains.
final class AgentGateway: Sendable {
    struct Connection: Sendable {
        let id: UUID
        let outbound: AsyncStream<String>.Continuation
    }

    private let connections = Mutex<[String: Connection]>([:])

    /// Adds a connection, closing any older one for the same instance.
    func attach(instanceId: String, connection: Connection) {
        let old = connections.withLock { table -> Connection? in
            let old = table[instanceId]
            table[instanceId] = connection
            return old
        }
        old?.outbound.finish()
    }

    /// Removes a connection if it is still the current one; returns whether it was.
    @discardableResult
    func detach(instanceId: String, connectionId: UUID) -> Bool {
        connections.withLock { table in
            guard table[instanceId]?.id == connectionId else { return false }
            table[instanceId] = nil
            return true
        }
    }

    func isConnected(_ instanceId: String) -> Bool { connections.withLock { $0[instanceId] != nil } }

    var connectedCount: Int { connections.withLock { $0.count } }

    @discardableResult
    func send(_ frame: ChannelFrame, to instanceId: String) -> Bool {
        guard let connection = connections.withLock({ $0[instanceId] }) else { return false }
        if case .terminated = connection.outbound.yield(frame.encoded()) { return false }
        return true
    }

    func disconnect(instanceId: String, reason: String) {
        let connection = connections.withLock { $0.removeValue(forKey: instanceId) }
        guard let connection else { return }
        connection.outbound.yield(ChannelFrame(type: .error, reason: reason).encoded())
        connection.outbound.finish()
    }

    func disconnectAll() {
        let all = connections.withLock { table -> [Connection] in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for connection in all { connection.outbound.finish() }
    }
}
