import SQLKit
import StewardKit

/// Parameter Store: every version of every parameter, and the keys that seal SecureStrings.
extension Store {
    public enum ParameterWrite: Sendable {
        case stored(ParameterVersion)
        case alreadyExists
        case versionLimit
    }

    public static let maxParameterVersions = 100

    /// Adds a version, or the first one; `overwrite` must be set to add to an existing parameter.
    public func putParameter(_ p: ParameterVersion, overwrite: Bool) async throws -> ParameterWrite {
        try await write { db in
            let latest = try await Store.parameterVersions(region: p.region, name: p.name, db: db).last
            if latest != nil && !overwrite { return .alreadyExists }
            let count =
                try await db.raw(
                    "SELECT COUNT(*) AS n FROM parameters WHERE region = \(bind: p.region) AND name = \(bind: p.name)"
                ).first()?.int("n") ?? 0
            guard count < Store.maxParameterVersions else { return .versionLimit }
            var stored = p
            stored.version = (latest?.version ?? 0) + 1
            stored.labels = []
            try await db.raw(
                """
                INSERT INTO parameters (region, name, version, type, value, key_id, description, allowed_pattern, tier, data_type,
                    last_modified, last_modified_user, labels)
                VALUES (\(bind: stored.region), \(bind: stored.name), \(bind: stored.version), \(bind: stored.type),
                    \(bind: stored.value), \(bind: stored.keyId), \(bind: stored.description), \(bind: stored.allowedPattern),
                    \(bind: stored.tier), \(bind: stored.dataType), \(bind: stored.lastModified), \(bind: stored.lastModifiedUser), '[]')
                """
            ).run()
            return .stored(stored)
        }
    }

    /// Every version of a parameter, oldest first.
    public func parameterVersions(region: String, name: String) async throws -> [ParameterVersion] {
        try await read { db in try await Store.parameterVersions(region: region, name: name, db: db) }
    }

    /// The latest version of one parameter.
    public func latestParameter(region: String, name: String) async throws -> ParameterVersion? {
        try await read { db in
            try await db.raw(
                "SELECT * FROM parameters WHERE region = \(bind: region) AND name = \(bind: name) ORDER BY version DESC LIMIT 1"
            ).first().map(Store.parameter)
        }
    }

    /// The latest version of every parameter in a region, by name.
    public func latestParameters(region: String) async throws -> [ParameterVersion] {
        try await read { db in
            try await db.raw(
                """
                SELECT p.* FROM parameters p WHERE p.region = \(bind: region) AND p.version =
                    (SELECT MAX(q.version) FROM parameters q WHERE q.region = p.region AND q.name = p.name)
                ORDER BY p.name
                """
            ).all().map(Store.parameter)
        }
    }

    /// Deletes every version; false if there was none.
    public func deleteParameter(region: String, name: String) async throws -> Bool {
        try await write { db in
            guard try await db.raw("SELECT name FROM parameters WHERE region = \(bind: region) AND name = \(bind: name)").first() != nil
            else { return false }
            try await db.raw("DELETE FROM parameters WHERE region = \(bind: region) AND name = \(bind: name)").run()
            try await db.raw(
                "DELETE FROM tags WHERE region = \(bind: region) AND resource_type = 'Parameter' AND resource_id = \(bind: name)"
            ).run()
            return true
        }
    }

    /// Sets the labels of every version at once (labels move between versions in one transaction).
    public func setParameterLabels(region: String, name: String, labels: [Int: [String]]) async throws {
        try await write { db in
            for (version, list) in labels {
                try await db.raw(
                    "UPDATE parameters SET labels = \(bind: Columns.json(list)) WHERE region = \(bind: region) AND name = \(bind: name) AND version = \(bind: version)"
                ).run()
            }
        }
    }

    static func parameterVersions(region: String, name: String, db: any SQLDatabase) async throws -> [ParameterVersion] {
        try await db.raw("SELECT * FROM parameters WHERE region = \(bind: region) AND name = \(bind: name) ORDER BY version")
            .all().map(Store.parameter)
    }

    static func parameter(_ row: any SQLRow) throws -> ParameterVersion {
        ParameterVersion(
            region: try row.string("region"), name: try row.string("name"), version: try row.int("version"),
            type: try row.string("type"), value: try row.string("value"), keyId: try row.optionalString("key_id"),
            description: try row.optionalString("description"), allowedPattern: try row.optionalString("allowed_pattern"),
            tier: try row.string("tier"), dataType: try row.string("data_type"), lastModified: try row.double("last_modified"),
            lastModifiedUser: try row.string("last_modified_user"),
            labels: try Columns.decode([String].self, from: try row.string("labels"), column: "labels"))
    }

    // MARK: Keys

    public struct KeyRow: Sendable {
        public var keyId: String
        public var alias: String?
        public var materialSealed: String
        public var created: Double

        public init(keyId: String, alias: String?, materialSealed: String, created: Double) {
            self.keyId = keyId
            self.alias = alias
            self.materialSealed = materialSealed
            self.created = created
        }
    }

    public func kmsKeys(region: String) async throws -> [KeyRow] {
        try await read { db in
            try await db.raw("SELECT * FROM kms_keys WHERE region = \(bind: region) ORDER BY created, key_id").all().map {
                KeyRow(
                    keyId: try $0.string("key_id"), alias: try $0.optionalString("alias"),
                    materialSealed: try $0.string("material_sealed"), created: try $0.double("created"))
            }
        }
    }

    /// Stores a key unless one with that alias exists; returns the key that holds the alias.
    public func insertKMSKey(region: String, key: KeyRow) async throws -> KeyRow {
        try await write { db in
            if let alias = key.alias,
                let row = try await db.raw("SELECT * FROM kms_keys WHERE region = \(bind: region) AND alias = \(bind: alias)").first()
            {
                return KeyRow(
                    keyId: try row.string("key_id"), alias: alias, materialSealed: try row.string("material_sealed"),
                    created: try row.double("created"))
            }
            try await db.raw(
                """
                INSERT INTO kms_keys (region, key_id, alias, material_sealed, created)
                VALUES (\(bind: region), \(bind: key.keyId), \(bind: key.alias), \(bind: key.materialSealed), \(bind: key.created))
                """
            ).run()
            return key
        }
    }
}
