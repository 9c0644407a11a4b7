import SQLKit
import StewardKit

extension Store {
    static func insertInstance(_ i: ManagedInstance, db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO instances (instance_id, region, activation_id, name, signing_key, encryption_key, registration_date,
                ping_status, last_ping, agent_version, platform_name, platform_type, platform_version, ip_address,
                computer_name, iam_role)
            VALUES (\(bind: i.instanceId), \(bind: i.region), \(bind: i.activationId), \(bind: i.name), \(bind: i.signingKey),
                \(bind: i.encryptionKey), \(bind: i.registrationDate), \(bind: i.pingStatus), \(bind: i.lastPing),
                \(bind: i.info?.agentVersion), \(bind: i.info?.platformName), \(bind: i.info?.platformType),
                \(bind: i.info?.platformVersion), \(bind: i.info?.ipAddress), \(bind: i.info?.computerName), \(bind: i.iamRole))
            """
        ).run()
    }

    public func instance(id: String) async throws -> ManagedInstance? {
        try await read { db in
            try await db.raw("SELECT * FROM instances WHERE instance_id = \(bind: id)").first().map(Store.instance)
        }
    }

    /// The instances of a region among `ids`, in no particular order.
    public func instances(region: String, ids: [String]) async throws -> [ManagedInstance] {
        guard !ids.isEmpty else { return [] }
        return try await read { db in
            var found: [ManagedInstance] = []
            for chunk in ids.chunked(into: 500) {
                var query: SQLQueryString = "SELECT * FROM instances WHERE region = \(bind: region) AND instance_id IN ("
                for (n, id) in chunk.enumerated() {
                    if n > 0 { query.appendLiteral(", ") }
                    query.appendInterpolation(bind: id)
                }
                query.appendLiteral(") ORDER BY instance_id")
                found += try await db.raw(query).all().map(Store.instance)
            }
            return found
        }
    }

    public func instances(region: String) async throws -> [ManagedInstance] {
        try await read { db in
            try await db.raw("SELECT * FROM instances WHERE region = \(bind: region) ORDER BY instance_id").all().map(Store.instance)
        }
    }

    /// Records that an agent's channel opened or closed, with what it reported about its node.
    public func updatePresence(instanceId: String, pingStatus: String, at time: Double, info: NodeInfo?) async throws {
        try await write { db in
            if let info {
                try await db.raw(
                    """
                    UPDATE instances SET ping_status = \(bind: pingStatus), last_ping = \(bind: time),
                        agent_version = \(bind: info.agentVersion), platform_name = \(bind: info.platformName),
                        platform_type = \(bind: info.platformType), platform_version = \(bind: info.platformVersion),
                        ip_address = \(bind: info.ipAddress), computer_name = \(bind: info.computerName)
                    WHERE instance_id = \(bind: instanceId)
                    """
                ).run()
            } else {
                try await db.raw(
                    "UPDATE instances SET ping_status = \(bind: pingStatus), last_ping = \(bind: time) WHERE instance_id = \(bind: instanceId)"
                ).run()
            }
        }
    }

    /// On start no channel is open yet, so every node is ConnectionLost until its agent reconnects.
    public func markAllConnectionLost() async throws {
        try await write { db in
            try await db.raw("UPDATE instances SET ping_status = 'ConnectionLost' WHERE ping_status = 'Online'").run()
        }
    }

    static func instance(_ row: any SQLRow) throws -> ManagedInstance {
        var info: NodeInfo?
        if let platformType = try row.optionalString("platform_type") {
            info = NodeInfo(
                computerName: try row.optionalString("computer_name") ?? "", ipAddress: try row.optionalString("ip_address") ?? "",
                platformName: try row.optionalString("platform_name") ?? "", platformType: platformType,
                platformVersion: try row.optionalString("platform_version") ?? "",
                agentVersion: try row.optionalString("agent_version") ?? "")
        }
        return ManagedInstance(
            instanceId: try row.string("instance_id"), region: try row.string("region"),
            activationId: try row.optionalString("activation_id"), name: try row.optionalString("name"),
            signingKey: try row.string("signing_key"), encryptionKey: try row.string("encryption_key"),
            registrationDate: try row.double("registration_date"), pingStatus: try row.string("ping_status"),
            lastPing: try row.optionalDouble("last_ping"), info: info, iamRole: try row.optionalString("iam_role"))
    }
}

extension Store {
    /// Replaces an instance's public keys; the old ones stop working at once.
    public func rotateKeys(instanceId: String, signingKey: String, encryptionKey: String) async throws {
        try await write { db in
            try await db.raw(
                "UPDATE instances SET signing_key = \(bind: signingKey), encryption_key = \(bind: encryptionKey) WHERE instance_id = \(bind: instanceId)"
            ).run()
        }
    }

    /// Removes a managed instance and its tags; its command history stays.
    public func deregister(instanceId: String) async throws {
        try await write { db in
            try await db.raw("DELETE FROM tags WHERE resource_type = 'ManagedInstance' AND resource_id = \(bind: instanceId)").run()
            try await db.raw("DELETE FROM instances WHERE instance_id = \(bind: instanceId)").run()
        }
    }
}
