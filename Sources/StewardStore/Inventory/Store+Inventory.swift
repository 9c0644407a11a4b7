import Foundation
import NIOCore
import PostgresKit
import SQLKit
import StewardKit

/// Inventory: one header row per (instance, type) and one row per entry, with Name and Version as indexed
/// columns so that fleet-wide questions ("which nodes have openssl below 3.0.13") read only the rows they need.
extension Store {
    /// Replaces the stored content of each uploaded type of one instance, in one transaction.
    public func putInventory(region: String, instanceId: String, uploads: [InventoryUpload], now: Double) async throws {
        try await putInventory(region: region, batch: [(instanceId, uploads)], now: now)
    }

    /// The same for many instances at once (bulk loads, benchmarks).
    public func putInventory(region: String, batch: [(instanceId: String, uploads: [InventoryUpload])], now: Double) async throws {
        if case .postgres(let client, _) = backend {
            try await putInventoryPostgres(client: client, region: region, batch: batch, now: now)
            return
        }
        try await write { db in
            var rows: [EntryInsert] = []
            for (instanceId, uploads) in batch {
                for upload in uploads {
                    try await db.raw(
                        """
                        DELETE FROM inventory_entries WHERE region = \(bind: region) AND instance_id = \(bind: instanceId)
                            AND type_name = \(bind: upload.typeName)
                        """
                    ).run()
                    try await db.raw(
                        """
                        INSERT INTO inventory_items (region, instance_id, type_name, schema_version, capture_time, content_hash,
                            entry_count, updated_at)
                        VALUES (\(bind: region), \(bind: instanceId), \(bind: upload.typeName), \(bind: upload.schemaVersion),
                            \(bind: upload.captureTime), \(bind: upload.contentHash), \(bind: upload.content.count), \(bind: now))
                        ON CONFLICT (region, instance_id, type_name) DO UPDATE SET schema_version = excluded.schema_version,
                            capture_time = excluded.capture_time, content_hash = excluded.content_hash,
                            entry_count = excluded.entry_count, updated_at = excluded.updated_at
                        """
                    ).run()
                    for (i, entry) in upload.content.enumerated() {
                        rows.append(
                            EntryInsert(
                                instanceId: instanceId, typeName: upload.typeName, idx: i, name: entry["Name"], version: entry["Version"],
                                data: InventoryUpload.encode(entry)))
                    }
                    if upload.typeName.hasPrefix("Custom:") {
                        try await Store.noteCustomSchema(region: region, upload: upload, db: db)
                    }
                    if rows.count >= 20_000 {
                        try await Store.insertEntries(rows, region: region, db: db)
                        rows.removeAll(keepingCapacity: true)
                    }
                }
            }
            try await Store.insertEntries(rows, region: region, db: db)
        }
    }

    /// PostgreSQL: set-based deletes and header upserts, then the entries through `COPY ... FROM STDIN`.
    func putInventoryPostgres(
        client: PostgresClient, region: String, batch: [(instanceId: String, uploads: [InventoryUpload])], now: Double
    )
        async throws
    {
        let logger = self.logger
        let uploads = batch.flatMap { item in item.uploads.map { (instanceId: item.instanceId, upload: $0) } }
        guard !uploads.isEmpty else { return }
        try await client.withConnection { conn in
            let db = conn.sql()
            try await db.raw("BEGIN").run()
            do {
                let ids = uploads.map(\.instanceId)
                let types = uploads.map(\.upload.typeName)
                try await db.raw(
                    """
                    DELETE FROM inventory_entries e USING UNNEST(\(bind: ids)::text[], \(bind: types)::text[]) AS t(i, ty)
                    WHERE e.region = \(bind: region) AND e.type_name = t.ty AND e.instance_id = t.i
                    """
                ).run()
                try await db.raw(
                    """
                    INSERT INTO inventory_items (region, instance_id, type_name, schema_version, capture_time, content_hash, entry_count,
                        updated_at)
                    SELECT \(bind: region), i, ty, v, c, h, n, \(bind: now) FROM UNNEST(\(bind: ids)::text[], \(bind: types)::text[],
                        \(bind: uploads.map(\.upload.schemaVersion))::text[], \(bind: uploads.map(\.upload.captureTime))::text[],
                        \(bind: uploads.map(\.upload.contentHash))::text[], \(bind: uploads.map { $0.upload.content.count })::bigint[])
                        AS t(i, ty, v, c, h, n)
                    ON CONFLICT (region, instance_id, type_name) DO UPDATE SET schema_version = excluded.schema_version,
                        capture_time = excluded.capture_time, content_hash = excluded.content_hash,
                        entry_count = excluded.entry_count, updated_at = excluded.updated_at
                    """
                ).run()
                for item in uploads where item.upload.typeName.hasPrefix("Custom:") {
                    try await Store.noteCustomSchema(region: region, upload: item.upload, db: db)
                }
                try await conn.copyFrom(
                    table: "inventory_entries", columns: ["region", "type_name", "instance_id", "idx", "name", "version", "data"],
                    logger: logger
                ) { writer in
                    // COPY's text format, built as bytes: this runs for every row of a bulk ingest.
                    var out: [UInt8] = []
                    out.reserveCapacity(1 << 21)
                    var json: [UInt8] = []
                    var prefix: [UInt8] = []
                    for item in uploads {
                        prefix.removeAll(keepingCapacity: true)
                        for field in [region, item.upload.typeName, item.instanceId] {
                            Store.appendCopyField(field, to: &prefix)
                            prefix.append(0x09)
                        }
                        for (i, entry) in item.upload.content.enumerated() {
                            out += prefix
                            out += String(i).utf8
                            out.append(0x09)
                            if let name = entry["Name"] { Store.appendCopyField(name, to: &out) } else { out += [0x5C, 0x4E] }
                            out.append(0x09)
                            if let version = entry["Version"] { Store.appendCopyField(version, to: &out) } else { out += [0x5C, 0x4E] }
                            out.append(0x09)
                            json.removeAll(keepingCapacity: true)
                            InventoryUpload.encode(entry, into: &json)
                            // JSON holds no raw tab, line feed or carriage return; its backslashes are doubled for COPY.
                            for b in json {
                                out.append(b)
                                if b == 0x5C { out.append(0x5C) }
                            }
                            out.append(0x0A)
                            if out.count > 1 << 20 {
                                try await writer.write(ByteBuffer(bytes: out))
                                out.removeAll(keepingCapacity: true)
                            }
                        }
                    }
                    if !out.isEmpty { try await writer.write(ByteBuffer(bytes: out)) }
                }
                try await db.raw("COMMIT").run()
            } catch {
                try? await db.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Appends a value in COPY's text format (backslash, tab, line feed and carriage return escaped).
    static func appendCopyField(_ value: String, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            guard bytes.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else {
                out.append(contentsOf: bytes)
                return
            }
            for b in bytes {
                switch b {
                case 0x5C: out += [0x5C, 0x5C]
                case 0x09: out += [0x5C, UInt8(ascii: "t")]
                case 0x0A: out += [0x5C, UInt8(ascii: "n")]
                case 0x0D: out += [0x5C, UInt8(ascii: "r")]
                default: out.append(b)
                }
            }
        }
    }

    struct EntryInsert: Sendable {
        var instanceId: String
        var typeName: String
        var idx: Int
        var name: String?
        var version: String?
        var data: String
    }

    /// SQLite: the rows travel as one JSON text and SQLite unpacks them, one bind per statement instead of seven per row.
    /// (PostgreSQL takes entries through COPY, in ``putInventoryPostgres``.)
    static func insertEntries(_ rows: [EntryInsert], region: String, db: any SQLDatabase) async throws {
        guard !rows.isEmpty else { return }
        for chunk in rows.chunked(into: 20_000) {
            var text = "["
            text.reserveCapacity(chunk.count * 200)
            for (n, r) in chunk.enumerated() {
                // [instance, type, idx, name, version, {entry}]: the entry is JSON already and goes in as it is.
                text += n > 0 ? ",[" : "["
                JSONWriter.appendString(r.instanceId, to: &text)
                text += ","
                JSONWriter.appendString(r.typeName, to: &text)
                text += ",\(r.idx),"
                if let name = r.name { JSONWriter.appendString(name, to: &text) } else { text += "null" }
                text += ","
                if let version = r.version { JSONWriter.appendString(version, to: &text) } else { text += "null" }
                text += ","
                text += r.data
                text += "]"
            }
            text += "]"
            try await db.raw(
                """
                INSERT INTO inventory_entries (region, instance_id, type_name, idx, name, version, data)
                SELECT \(bind: region), value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value -> 5 FROM json_each(\(bind: text))
                """
            ).run()
        }
    }

    static func noteCustomSchema(region: String, upload: InventoryUpload, db: any SQLDatabase) async throws {
        let existing = try await db.raw(
            "SELECT attributes FROM inventory_schemas WHERE region = \(bind: region) AND type_name = \(bind: upload.typeName)"
        ).first()
        var attributes = Set(
            try existing.map { try Columns.decode([String].self, from: $0.string("attributes"), column: "attributes") } ?? [])
        for entry in upload.content { attributes.formUnion(entry.keys) }
        try await db.raw(
            """
            INSERT INTO inventory_schemas (region, type_name, version, attributes, disabled)
            VALUES (\(bind: region), \(bind: upload.typeName), \(bind: upload.schemaVersion), \(bind: Columns.json(attributes.sorted())), 0)
            ON CONFLICT (region, type_name) DO UPDATE SET version = excluded.version, attributes = excluded.attributes
            """
        ).run()
    }

    // MARK: reading

    /// Regions that hold any inventory.
    public func inventoryRegions() async throws -> [String] {
        try await read { db in try await db.raw("SELECT DISTINCT region FROM inventory_items").all().map { try $0.string("region") } }
    }

    public func inventoryItems(region: String, instanceId: String? = nil, typeName: String? = nil, instanceIds: [String]? = nil)
        async throws
        -> [InventoryItemRecord]
    {
        if let instanceIds, instanceIds.isEmpty { return [] }
        return try await read { db in
            var query = SQLQueryString("SELECT * FROM inventory_items WHERE region = \(bind: region)")
            if let instanceId { query.appendInterpolation(" AND instance_id = \(bind: instanceId)" as SQLQueryString) }
            if let typeName { query.appendInterpolation(" AND type_name = \(bind: typeName)" as SQLQueryString) }
            if let instanceIds {
                query.appendLiteral(" AND instance_id IN (")
                for (n, id) in instanceIds.enumerated() {
                    if n > 0 { query.appendLiteral(", ") }
                    query.appendInterpolation(bind: id)
                }
                query.appendLiteral(")")
            }
            query.appendLiteral(" ORDER BY instance_id, type_name")
            return try await db.raw(query).all().map { row in
                InventoryItemRecord(
                    instanceId: try row.string("instance_id"), typeName: try row.string("type_name"),
                    schemaVersion: try row.string("schema_version"), captureTime: try row.string("capture_time"),
                    contentHash: try row.string("content_hash"), entryCount: try row.int("entry_count"),
                    updatedAt: try row.double("updated_at"))
            }
        }
    }

    /// Every instance that holds any inventory.
    public func inventoryInstanceIds(region: String) async throws -> [String] {
        try await read { db in
            try await db.raw("SELECT DISTINCT instance_id FROM inventory_items WHERE region = \(bind: region)").all().map {
                try $0.string("instance_id")
            }
        }
    }

    /// The instances that hold a type (only their ids: fleet queries read this for every node).
    public func inventoryHolders(region: String, typeName: String) async throws -> [String] {
        try await read { db in
            try await db.raw(
                "SELECT instance_id FROM inventory_items WHERE region = \(bind: region) AND type_name = \(bind: typeName)"
            ).all().map { try $0.string("instance_id") }
        }
    }

    /// One attribute of every instance's single-entry type (PlatformName of AWS:InstanceInformation), read by the
    /// database's own JSON functions rather than by decoding every entry here.
    public func inventoryAttribute(region: String, typeName: String, attribute: String, instanceIds: [String]? = nil) async throws
        -> [String: String]
    {
        var query: SQLQueryString = """
            SELECT instance_id, \(attributeExpression(attribute)) AS v FROM inventory_entries WHERE region = \(bind: region)
                AND type_name = \(bind: typeName) AND idx = 0
            """
        if let instanceIds {
            if instanceIds.isEmpty { return [:] }
            query.appendLiteral(" AND instance_id IN (")
            for (n, id) in instanceIds.enumerated() {
                if n > 0 { query.appendLiteral(", ") }
                query.appendInterpolation(bind: id)
            }
            query.appendLiteral(")")
        }
        let built = query
        return try await read { db in
            let rows = try await db.raw(built).all()
            var out: [String: String] = [:]
            for row in rows { out[try row.string("instance_id")] = try row.optionalString("v") ?? "" }
            return out
        }
    }

    /// A JSON attribute of an entry, by the database's own JSON functions (Name and Version are columns).
    func attributeExpression(_ attribute: String) -> SQLQueryString {
        switch attribute {
        case "Name": return "name"
        case "Version": return "version"
        default: return engine == .sqlite ? "data ->> \(bind: "$." + attribute)" : "CAST(data AS json) ->> \(bind: attribute)"
        }
    }

    /// How many instances have each combination of the attributes' values, counted by the database.
    public func inventoryCounts(region: String, typeName: String, attributes: [String]) async throws -> [(values: [String], count: Int)] {
        var query = SQLQueryString("SELECT ")
        for (i, a) in attributes.enumerated() {
            query.appendInterpolation("\(attributeExpression(a)) AS a\(unsafeRaw: String(i)), " as SQLQueryString)
        }
        query.appendInterpolation(
            "COUNT(DISTINCT instance_id) AS n FROM inventory_entries WHERE region = \(bind: region) AND type_name = \(bind: typeName) GROUP BY "
                as SQLQueryString)
        query.appendLiteral(attributes.indices.map { "a\($0)" }.joined(separator: ", "))
        let built = query
        return try await read { db in
            try await db.raw(built).all().map { row in
                (try attributes.indices.map { try row.optionalString("a\($0)") ?? "" }, try row.int("n"))
            }
        }
    }

    /// The distinct versions of the named entries and how many there are: version filters compare each distinct
    /// version once instead of once per node.
    public func versionCounts(region: String, typeName: String, names: [String]) async throws -> [(version: String, count: Int)] {
        var query: SQLQueryString = """
            SELECT version AS v, COUNT(*) AS n FROM inventory_entries
            WHERE region = \(bind: region) AND type_name = \(bind: typeName) AND name IN (
            """
        Self.appendList(names, to: &query)
        query.appendLiteral(") GROUP BY version")
        let built = query
        return try await read { db in
            try await db.raw(built).all().map { row in (try row.optionalString("v") ?? "", try row.int("n")) }
        }
    }

    /// The nodes whose named entries have one of these versions; with `platforms`, also each node's platform name
    /// (for versions that compare differently in dpkg and rpm order).
    public func versionHolders(region: String, typeName: String, names: [String], versions: [String], platforms: Bool) async throws
        -> [(instanceId: String, version: String, platform: String)]
    {
        guard !versions.isEmpty else { return [] }
        let platform: SQLQueryString =
            !platforms ? "''" : engine == .sqlite ? "p.data ->> '$.PlatformName'" : "CAST(p.data AS json) ->> 'PlatformName'"
        var query: SQLQueryString = "SELECT e.instance_id AS i, e.version AS v, \(platform) AS pn FROM inventory_entries e "
        if platforms {
            query.appendLiteral(
                """
                LEFT JOIN inventory_entries p ON p.region = e.region AND p.type_name = 'AWS:InstanceInformation'
                    AND p.instance_id = e.instance_id AND p.idx = 0 
                """)
        }
        query.appendInterpolation("WHERE e.region = \(bind: region) AND e.type_name = \(bind: typeName) AND e.name IN (" as SQLQueryString)
        Self.appendList(names, to: &query)
        query.appendLiteral(") AND e.version IN (")
        Self.appendList(versions, to: &query)
        query.appendLiteral(")")
        let built = query
        return try await read { db in
            try await db.raw(built).all().map { row in
                (try row.string("i"), try row.optionalString("v") ?? "", try row.optionalString("pn") ?? "")
            }
        }
    }

    static func appendList(_ values: [String], to query: inout SQLQueryString) {
        for (n, v) in values.enumerated() {
            if n > 0 { query.appendLiteral(", ") }
            query.appendInterpolation(bind: v)
        }
    }

    /// The entries of one instance's type, in upload order.
    public func inventoryEntries(region: String, instanceId: String, typeName: String) async throws -> [[String: String]] {
        try await read { db in
            try await db.raw(
                """
                SELECT data FROM inventory_entries WHERE region = \(bind: region) AND instance_id = \(bind: instanceId)
                    AND type_name = \(bind: typeName) ORDER BY idx
                """
            ).all().map { InventoryUpload.decode(try $0.string("data")) }
        }
    }

    /// Entries of a type across the fleet; only those with this Name when `name` is given (an index lookup).
    /// With `attributes: false` only instance, Name and Version are read.
    public func fleetEntries(
        region: String, typeName: String, name: String? = nil, namePrefix: String? = nil, instanceIds: [String]? = nil, attributes: Bool
    ) async throws -> [InventoryEntryRow] {
        try await read { db in
            var query = SQLQueryString(
                attributes
                    ? "SELECT instance_id, idx, name, version, data FROM inventory_entries"
                    : "SELECT instance_id, idx, name, version FROM inventory_entries")
            query.appendInterpolation(" WHERE region = \(bind: region) AND type_name = \(bind: typeName)" as SQLQueryString)
            if let name { query.appendInterpolation(" AND name = \(bind: name)" as SQLQueryString) }
            if let namePrefix {
                // A range on the index rather than LIKE, which has different case rules on the two engines.
                query.appendInterpolation(
                    " AND name >= \(bind: namePrefix) AND name < \(bind: namePrefix + "\u{10FFFF}")" as SQLQueryString)
            }
            if let instanceIds {
                if instanceIds.isEmpty { return [] }
                query.appendLiteral(" AND instance_id IN (")
                for (n, id) in instanceIds.enumerated() {
                    if n > 0 { query.appendLiteral(", ") }
                    query.appendInterpolation(bind: id)
                }
                query.appendLiteral(")")
            }
            // No ORDER BY: it would tempt the planner to walk the whole table in key order instead of using the name
            // index; rows are put in (instance, entry) order here.
            var rows: [(Int, InventoryEntryRow)] = []
            for row in try await db.raw(query).all() {
                rows.append(
                    (
                        try row.int("idx"),
                        InventoryEntryRow(
                            instanceId: try row.string("instance_id"), name: try row.optionalString("name"),
                            version: try row.optionalString("version"),
                            attributes: attributes ? InventoryUpload.decode(try row.string("data")) : [:])
                    ))
            }
            rows.sort { $0.1.instanceId != $1.1.instanceId ? $0.1.instanceId < $1.1.instanceId : $0.0 < $1.0 }
            return rows.map(\.1)
        }
    }

    /// Removes a type from every instance; returns the number of instances per schema version that had it.
    public func deleteInventoryType(region: String, typeName: String) async throws -> [(version: String, count: Int)] {
        try await write { db in
            let rows = try await db.raw(
                """
                SELECT schema_version, COUNT(*) AS n FROM inventory_items WHERE region = \(bind: region) AND type_name = \(bind: typeName)
                GROUP BY schema_version ORDER BY schema_version
                """
            ).all()
            let counts = try rows.map { (version: try $0.string("schema_version"), count: try $0.int("n")) }
            try await db.raw("DELETE FROM inventory_entries WHERE region = \(bind: region) AND type_name = \(bind: typeName)").run()
            try await db.raw("DELETE FROM inventory_items WHERE region = \(bind: region) AND type_name = \(bind: typeName)").run()
            return counts
        }
    }

    /// Forgets everything an instance reported (when it is deregistered).
    public func deleteInventory(region: String, instanceId: String) async throws {
        try await write { db in
            try await db.raw("DELETE FROM inventory_entries WHERE region = \(bind: region) AND instance_id = \(bind: instanceId)").run()
            try await db.raw("DELETE FROM inventory_items WHERE region = \(bind: region) AND instance_id = \(bind: instanceId)").run()
        }
    }

    // MARK: schemas

    public func inventorySchemas(region: String) async throws -> [InventorySchemaRecord] {
        try await read { db in
            try await db.raw("SELECT * FROM inventory_schemas WHERE region = \(bind: region) ORDER BY type_name").all().map { row in
                InventorySchemaRecord(
                    typeName: try row.string("type_name"), version: try row.string("version"),
                    attributes: try Columns.decode([String].self, from: row.string("attributes"), column: "attributes"),
                    disabled: try row.bool("disabled"))
            }
        }
    }

    /// DeleteInventory's schema option: `DisableSchema` keeps the schema but refuses new data; `DeleteSchema` forgets it.
    public func changeInventorySchema(region: String, typeName: String, delete: Bool) async throws {
        try await write { db in
            if delete {
                try await db.raw("DELETE FROM inventory_schemas WHERE region = \(bind: region) AND type_name = \(bind: typeName)").run()
            } else {
                try await db.raw(
                    "UPDATE inventory_schemas SET disabled = 1 WHERE region = \(bind: region) AND type_name = \(bind: typeName)"
                ).run()
            }
        }
    }

    // MARK: deletions

    public func recordInventoryDeletion(region: String, deletionId: String, typeName: String, started: Double, summary: JSONValue)
        async throws
    {
        try await write { db in
            try await db.raw(
                """
                INSERT INTO inventory_deletions (deletion_id, region, type_name, started, status, summary)
                VALUES (\(bind: deletionId), \(bind: region), \(bind: typeName), \(bind: started), 'Complete', \(bind: JSONWriter.string(summary)))
                """
            ).run()
        }
    }

    public func inventoryDeletions(region: String) async throws -> [(
        deletionId: String, typeName: String, started: Double, summary: JSONValue
    )] {
        try await read { db in
            try await db.raw("SELECT * FROM inventory_deletions WHERE region = \(bind: region) ORDER BY started DESC").all().map { row in
                (
                    try row.string("deletion_id"), try row.string("type_name"), try row.double("started"),
                    (try? JSONReader.parse(try row.string("summary"))) ?? .null
                )
            }
        }
    }

    // MARK: saved queries

    public func saveInventoryQuery(region: String, _ q: SavedInventoryQuery) async throws {
        try await write { db in
            try await db.raw(
                """
                INSERT INTO inventory_queries (region, name, query, description, created)
                VALUES (\(bind: region), \(bind: q.name), \(bind: q.query), \(bind: q.description), \(bind: q.created))
                ON CONFLICT (region, name) DO UPDATE SET query = excluded.query, description = excluded.description
                """
            ).run()
        }
    }

    public func inventoryQueries(region: String) async throws -> [SavedInventoryQuery] {
        try await read { db in
            try await db.raw("SELECT * FROM inventory_queries WHERE region = \(bind: region) ORDER BY name").all().map { row in
                SavedInventoryQuery(
                    name: try row.string("name"), query: try row.string("query"), description: try row.string("description"),
                    created: try row.double("created"))
            }
        }
    }

    public func deleteInventoryQuery(region: String, name: String) async throws -> Bool {
        try await write { db in
            let found = try await db.raw("SELECT name FROM inventory_queries WHERE region = \(bind: region) AND name = \(bind: name)")
                .first()
            try await db.raw("DELETE FROM inventory_queries WHERE region = \(bind: region) AND name = \(bind: name)").run()
            return found != nil
        }
    }
}
