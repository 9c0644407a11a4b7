import SQLKit
import StewardKit

/// Tags on any resource, keyed by the AWS resource type and id.
extension Store {
    static func upsertTag(region: String, type: String, id: String, tag: Tag, db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO tags (region, resource_type, resource_id, tag_key, tag_value)
            VALUES (\(bind: region), \(bind: type), \(bind: id), \(bind: tag.key), \(bind: tag.value))
            ON CONFLICT (region, resource_type, resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value
            """
        ).run()
    }

    public func addTags(region: String, type: String, id: String, tags: [Tag], limit: Int = 50) async throws -> Bool {
        try await write { db in
            let existing = try await Store.tags(region: region, type: type, id: id, db: db)
            let keys = Set(existing.map(\.key)).union(tags.map(\.key))
            guard keys.count <= limit else { return false }
            for tag in tags { try await Store.upsertTag(region: region, type: type, id: id, tag: tag, db: db) }
            return true
        }
    }

    public func removeTags(region: String, type: String, id: String, keys: [String]) async throws {
        try await write { db in
            for key in keys {
                try await db.raw(
                    "DELETE FROM tags WHERE region = \(bind: region) AND resource_type = \(bind: type) AND resource_id = \(bind: id) AND tag_key = \(bind: key)"
                ).run()
            }
        }
    }

    public func removeAllTags(region: String, type: String, id: String) async throws {
        try await write { db in
            try await db.raw(
                "DELETE FROM tags WHERE region = \(bind: region) AND resource_type = \(bind: type) AND resource_id = \(bind: id)"
            ).run()
        }
    }

    public func tags(region: String, type: String, id: String) async throws -> [Tag] {
        try await read { db in try await Store.tags(region: region, type: type, id: id, db: db) }
    }

    static func tags(region: String, type: String, id: String, db: any SQLDatabase) async throws -> [Tag] {
        try await db.raw(
            "SELECT tag_key, tag_value FROM tags WHERE region = \(bind: region) AND resource_type = \(bind: type) AND resource_id = \(bind: id) ORDER BY tag_key"
        ).all().map { Tag(key: try $0.string("tag_key"), value: try $0.string("tag_value")) }
    }

    /// The tags of the given resources, by resource id.
    public func tags(region: String, type: String, ids: [String]) async throws -> [String: [String: String]] {
        guard !ids.isEmpty else { return [:] }
        return try await read { db in
            var out: [String: [String: String]] = [:]
            for chunk in ids.chunked(into: 500) {
                var query: SQLQueryString =
                    "SELECT resource_id, tag_key, tag_value FROM tags WHERE region = \(bind: region) AND resource_type = \(bind: type) AND resource_id IN ("
                for (n, id) in chunk.enumerated() {
                    if n > 0 { query.appendLiteral(", ") }
                    query.appendInterpolation(bind: id)
                }
                query.appendLiteral(")")
                for row in try await db.raw(query).all() {
                    out[try row.string("resource_id"), default: [:]][try row.string("tag_key")] = try row.string("tag_value")
                }
            }
            return out
        }
    }

    /// The resources of a type that carry `key` with one of `values`.
    public func taggedResources(region: String, type: String, key: String, values: [String]) async throws -> [String] {
        guard !values.isEmpty else { return [] }
        return try await read { db in
            var query: SQLQueryString =
                "SELECT resource_id FROM tags WHERE region = \(bind: region) AND resource_type = \(bind: type) AND tag_key = \(bind: key) AND tag_value IN ("
            for (n, value) in values.enumerated() {
                if n > 0 { query.appendLiteral(", ") }
                query.appendInterpolation(bind: value)
            }
            query.appendLiteral(") ORDER BY resource_id")
            return try await db.raw(query).all().map { try $0.string("resource_id") }
        }
    }

    /// All tags of one resource type in a region, by resource id.
    public func tagsByResource(region: String, type: String) async throws -> [String: [String: String]] {
        try await read { db in
            var out: [String: [String: String]] = [:]
            for row in try await db.raw(
                "SELECT resource_id, tag_key, tag_value FROM tags WHERE region = \(bind: region) AND resource_type = \(bind: type)"
            ).all() {
                out[try row.string("resource_id"), default: [:]][try row.string("tag_key")] = try row.string("tag_value")
            }
            return out
        }
    }
}
