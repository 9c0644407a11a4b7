import SQLKit
import StewardKit

extension Store {
    public enum DocumentWriteOutcome: Sendable {
        case stored(DocumentHead, DocumentVersion)
        case alreadyExists
        case notFound
        case duplicateContent
        case duplicateVersionName
        case versionLimit
        case notLatest
    }

    public static let maxDocumentVersions = 1000

    public func createDocument(_ version: DocumentVersion, owner: String) async throws -> DocumentWriteOutcome {
        try await write { db in
            if try await Store.head(region: version.region, name: version.name, db: db) != nil { return .alreadyExists }
            let head = DocumentHead(
                region: version.region, name: version.name, owner: owner, defaultVersion: 1, latestVersion: 1,
                createdDate: version.createdDate)
            try await db.raw(
                """
                INSERT INTO document_heads (region, name, owner, default_version, latest_version, created_date)
                VALUES (\(bind: head.region), \(bind: head.name), \(bind: head.owner), 1, 1, \(bind: head.createdDate))
                """
            ).run()
            var v = version
            v.version = 1
            try await Store.insertVersion(v, db: db)
            return .stored(head, v)
        }
    }

    /// Adds a version; `expectedLatest` is the version the caller says it updates (nil for `$LATEST`).
    public func addDocumentVersion(_ version: DocumentVersion, expectedLatest: Int?) async throws -> DocumentWriteOutcome {
        try await write { db in
            guard var head = try await Store.head(region: version.region, name: version.name, db: db) else { return .notFound }
            if let expectedLatest, expectedLatest != head.latestVersion { return .notLatest }
            guard head.latestVersion < Store.maxDocumentVersions else { return .versionLimit }
            let latest = try await Store.version(region: version.region, name: version.name, version: head.latestVersion, db: db)
            if latest?.hash == version.hash { return .duplicateContent }
            if let name = version.versionName {
                let clash = try await db.raw(
                    "SELECT version FROM documents WHERE region = \(bind: version.region) AND name = \(bind: version.name) AND version_name = \(bind: name)"
                ).first()
                if clash != nil { return .duplicateVersionName }
            }
            var v = version
            v.version = head.latestVersion + 1
            head.latestVersion = v.version
            try await Store.insertVersion(v, db: db)
            try await db.raw(
                "UPDATE document_heads SET latest_version = \(bind: v.version) WHERE region = \(bind: v.region) AND name = \(bind: v.name)"
            ).run()
            return .stored(head, v)
        }
    }

    public func setDefaultDocumentVersion(region: String, name: String, version: Int) async throws -> DocumentHead? {
        try await write { db in
            guard var head = try await Store.head(region: region, name: name, db: db),
                try await Store.version(region: region, name: name, version: version, db: db) != nil
            else { return nil }
            try await db.raw(
                "UPDATE document_heads SET default_version = \(bind: version) WHERE region = \(bind: region) AND name = \(bind: name)"
            ).run()
            head.defaultVersion = version
            return head
        }
    }

    public func documentHead(region: String, name: String) async throws -> DocumentHead? {
        try await read { db in try await Store.head(region: region, name: name, db: db) }
    }

    public func documentHeads(region: String) async throws -> [DocumentHead] {
        try await read { db in
            try await db.raw("SELECT * FROM document_heads WHERE region = \(bind: region) ORDER BY name").all().map(Store.head)
        }
    }

    public func documentVersion(region: String, name: String, version: Int) async throws -> DocumentVersion? {
        try await read { db in try await Store.version(region: region, name: name, version: version, db: db) }
    }

    public func documentVersion(region: String, name: String, versionName: String) async throws -> DocumentVersion? {
        try await read { db in
            try await db.raw(
                "SELECT * FROM documents WHERE region = \(bind: region) AND name = \(bind: name) AND version_name = \(bind: versionName)"
            ).first().map(Store.version)
        }
    }

    public func documentVersions(region: String, name: String) async throws -> [DocumentVersion] {
        try await read { db in
            try await db.raw("SELECT * FROM documents WHERE region = \(bind: region) AND name = \(bind: name) ORDER BY version")
                .all().map(Store.version)
        }
    }

    /// Deletes one version, or the whole document when `version` is nil. Returns false if it was not there.
    public func deleteDocument(region: String, name: String, version: Int?) async throws -> Bool {
        try await write { db in
            guard try await Store.head(region: region, name: name, db: db) != nil else { return false }
            if let version {
                try await db.raw(
                    "DELETE FROM documents WHERE region = \(bind: region) AND name = \(bind: name) AND version = \(bind: version)"
                ).run()
            } else {
                try await db.raw("DELETE FROM documents WHERE region = \(bind: region) AND name = \(bind: name)").run()
                try await db.raw("DELETE FROM document_heads WHERE region = \(bind: region) AND name = \(bind: name)").run()
                try await db.raw(
                    "DELETE FROM tags WHERE region = \(bind: region) AND resource_type = 'Document' AND resource_id = \(bind: name)"
                ).run()
            }
            return true
        }
    }

    static func insertVersion(_ v: DocumentVersion, db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO documents (region, name, version, content, format, document_type, schema_version, hash, created_date,
                version_name, target_type, display_name)
            VALUES (\(bind: v.region), \(bind: v.name), \(bind: v.version), \(bind: v.content), \(bind: v.format.rawValue),
                \(bind: v.documentType), \(bind: v.schemaVersion), \(bind: v.hash), \(bind: v.createdDate), \(bind: v.versionName),
                \(bind: v.targetType), \(bind: v.displayName))
            """
        ).run()
    }

    static func head(region: String, name: String, db: any SQLDatabase) async throws -> DocumentHead? {
        try await db.raw("SELECT * FROM document_heads WHERE region = \(bind: region) AND name = \(bind: name)").first().map(Store.head)
    }

    static func version(region: String, name: String, version: Int, db: any SQLDatabase) async throws -> DocumentVersion? {
        try await db.raw(
            "SELECT * FROM documents WHERE region = \(bind: region) AND name = \(bind: name) AND version = \(bind: version)"
        ).first().map(Store.version)
    }

    static func head(_ row: any SQLRow) throws -> DocumentHead {
        DocumentHead(
            region: try row.string("region"), name: try row.string("name"), owner: try row.string("owner"),
            defaultVersion: try row.int("default_version"), latestVersion: try row.int("latest_version"),
            createdDate: try row.double("created_date"))
    }

    static func version(_ row: any SQLRow) throws -> DocumentVersion {
        DocumentVersion(
            region: try row.string("region"), name: try row.string("name"), version: try row.int("version"),
            content: try row.string("content"), format: DocumentFormat(rawValue: try row.string("format")) ?? .json,
            documentType: try row.string("document_type"), schemaVersion: try row.string("schema_version"),
            hash: try row.string("hash"), createdDate: try row.double("created_date"),
            versionName: try row.optionalString("version_name"), targetType: try row.optionalString("target_type"),
            displayName: try row.optionalString("display_name"))
    }
}
