import SQLKit
import StewardKit

/// Small JSON records by kind (associations, executions, compliance items): one table, keyed by (kind, region, id),
/// with a parent id for the records that belong to another (versions of an association, targets of an execution).
extension Store {
    public func putRecord(kind: String, region: String, id: String, parent: String = "", body: JSONValue, now: Double) async throws {
        try await putRecords(kind: kind, region: region, [(id, parent, body)], now: now)
    }

    public func putRecords(kind: String, region: String, _ records: [(id: String, parent: String, body: JSONValue)], now: Double)
        async throws
    {
        guard !records.isEmpty else { return }
        try await write { db in
            for chunk in records.chunked(into: 200) {
                var query = SQLQueryString("INSERT INTO records (kind, region, id, parent, body, updated) VALUES ")
                for (n, r) in chunk.enumerated() {
                    if n > 0 { query.appendLiteral(", ") }
                    query.appendInterpolation(
                        "(\(bind: kind), \(bind: region), \(bind: r.id), \(bind: r.parent), \(bind: JSONWriter.string(r.body)), \(bind: now))"
                            as SQLQueryString)
                }
                query.appendLiteral(
                    " ON CONFLICT (kind, region, id) DO UPDATE SET parent = excluded.parent, body = excluded.body, updated = excluded.updated"
                )
                try await db.raw(query).run()
            }
        }
    }

    public func record(kind: String, region: String, id: String) async throws -> JSONValue? {
        try await read { db in
            try await db.raw("SELECT body FROM records WHERE kind = \(bind: kind) AND region = \(bind: region) AND id = \(bind: id)")
                .first()
                .map { try JSONReader.parse(try $0.string("body")) }
        }
    }

    /// Records of a kind, all of a region or those of one parent, in id order.
    public func records(kind: String, region: String, parent: String? = nil) async throws -> [JSONValue] {
        try await read { db in
            var query = SQLQueryString("SELECT body FROM records WHERE kind = \(bind: kind) AND region = \(bind: region)")
            if let parent { query.appendInterpolation(" AND parent = \(bind: parent)" as SQLQueryString) }
            query.appendLiteral(" ORDER BY id")
            return try await db.raw(query).all().map { try JSONReader.parse(try $0.string("body")) }
        }
    }

    /// Every region's records of a kind (for schedulers that serve all regions).
    public func allRecords(kind: String) async throws -> [(region: String, body: JSONValue)] {
        try await read { db in
            try await db.raw("SELECT region, body FROM records WHERE kind = \(bind: kind) ORDER BY region, id").all().map {
                (try $0.string("region"), try JSONReader.parse(try $0.string("body")))
            }
        }
    }

    public func deleteRecords(kind: String, region: String, id: String? = nil, parent: String? = nil) async throws {
        try await write { db in
            var query = SQLQueryString("DELETE FROM records WHERE kind = \(bind: kind) AND region = \(bind: region)")
            if let id { query.appendInterpolation(" AND id = \(bind: id)" as SQLQueryString) }
            if let parent { query.appendInterpolation(" AND parent = \(bind: parent)" as SQLQueryString) }
            try await db.raw(query).run()
        }
    }
}
