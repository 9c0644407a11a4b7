import SQLKit

/// Access keys for SigV4. The secret is stored sealed under the master key, never in plain text.
extension Store {
    public struct AccessKeyRow: Sendable {
        public var accessKeyId: String
        public var secretSealed: String
        public var createdAt: Double
    }

    public func insertAccessKey(id: String, secretSealed: String, createdAt: Double) async throws -> Bool {
        try await write { db in
            let existing = try await db.raw("SELECT access_key_id FROM access_keys WHERE access_key_id = \(bind: id)").first()
            if existing != nil { return false }
            try await db.raw(
                "INSERT INTO access_keys (access_key_id, secret_sealed, created_at) VALUES (\(bind: id), \(bind: secretSealed), \(bind: createdAt))"
            ).run()
            return true
        }
    }

    public func accessKey(id: String) async throws -> AccessKeyRow? {
        try await read { db in
            guard let row = try await db.raw("SELECT * FROM access_keys WHERE access_key_id = \(bind: id)").first() else { return nil }
            return AccessKeyRow(
                accessKeyId: try row.string("access_key_id"), secretSealed: try row.string("secret_sealed"),
                createdAt: try row.double("created_at"))
        }
    }
}
