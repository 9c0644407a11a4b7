import Crypto
import Foundation
import StewardKit
import StewardStore

/// PutInventory's rules, shared by the API and by agents uploading over their channel: AWS names and limits,
/// and the content-hash protocol (an unchanged type comes as its hash alone; a hash the server does not hold
/// is answered with ItemContentMismatchException, and the agent sends the content).
struct InventoryIntake: Sendable {
    let store: Store

    static let maxItems = 30
    static let maxEntries = 10_000
    static let maxAttributes = 50
    static let maxCustomTypes = 20
    /// Steward's size limits (AWS does not publish its own): per item and per call, in bytes of JSON.
    static let maxItemBytes = 4 << 20
    static let maxTotalBytes = 12 << 20
    static let contextKeys: Set<String> = ["ExecutionId", "ExecutionType", "ComplianceType", "RequestId"]

    struct Item: Sendable {
        var typeName: String
        var schemaVersion: String
        var captureTime: String
        var contentHash: String?
        var content: [[String: String]]?
    }

    /// Parses and checks the items of a PutInventory body.
    static func items(from body: RequestBody) throws(AWSError) -> [Item] {
        guard let list = try body.objectList("Items"), !list.isEmpty else {
            throw AWSError.validation("Items must hold between 1 and \(maxItems) items.")
        }
        guard list.count <= maxItems else { throw AWSError.validation("Items must hold between 1 and \(maxItems) items.") }
        var total = 0
        var seen = Set<String>()
        var out: [Item] = []
        for raw in list {
            let typeName = try raw.requiredString("TypeName")
            guard typeName.count <= 100, typeName.hasPrefix("AWS:") || typeName.hasPrefix("Custom:"), typeName.count > 4 else {
                throw AWSError(
                    "InvalidTypeNameException",
                    "The type name \(typeName) is not valid: it starts with AWS: or Custom: and is at most 100 characters.")
            }
            guard seen.insert(typeName).inserted else {
                throw AWSError("DuplicateDocumentContent", "The type \(typeName) appears twice in one request.")
            }
            let schemaVersion = try raw.requiredString("SchemaVersion")
            guard Self.matches(schemaVersion, #"^\d{1,6}\.\d{1,6}$"#) else {
                throw AWSError(
                    "UnsupportedInventorySchemaVersionException", "The schema version \(schemaVersion) of \(typeName) is not valid.")
            }
            let captureTime = try raw.requiredString("CaptureTime")
            guard
                Self.matches(
                    captureTime, #"^(20)[0-9][0-9]-(0[1-9]|1[012])-([12][0-9]|3[01]|0[1-9])T(2[0-3]|[0-1][0-9]):[0-5][0-9]:[0-5][0-9]Z$"#)
            else { throw AWSError.validation("CaptureTime \(captureTime) must look like 2026-11-29T16:00:00Z.") }
            let hash = try raw.string("ContentHash")
            if let hash, hash.count > 256 { throw AWSError.validation("ContentHash must be at most 256 characters.") }
            if let context = try raw.object("Context") {
                for key in context.fields.keys where !contextKeys.contains(key) {
                    throw AWSError("UnsupportedInventoryItemContextException", "The context key \(key) is not supported.")
                }
            }
            var content: [[String: String]]?
            if let value = raw.fields["Content"], !value.isNull {
                guard case .array(let entries) = value else { throw .serialization("Content must be a list of maps.") }
                guard entries.count <= maxEntries else {
                    throw AWSError("InvalidItemContentException", "\(typeName) holds \(entries.count) entries; the limit is \(maxEntries).")
                }
                var parsed: [[String: String]] = []
                parsed.reserveCapacity(entries.count)
                var bytes = 0
                for entry in entries {
                    guard case .object(let fields) = entry else { throw .serialization("Each Content entry must be a map of strings.") }
                    guard fields.count <= maxAttributes else {
                        throw AWSError(
                            "InvalidItemContentException",
                            "An entry of \(typeName) has \(fields.count) attributes; the limit is \(maxAttributes).")
                    }
                    var map: [String: String] = [:]
                    for (key, v) in fields {
                        guard case .string(let s) = v else { throw .serialization("The value of \(key) in \(typeName) must be a string.") }
                        guard (1...64).contains(key.count) else {
                            throw AWSError(
                                "InvalidItemContentException", "The attribute name \(key) of \(typeName) must be 1 to 64 characters.")
                        }
                        guard s.utf8.count <= 4096 else {
                            throw AWSError(
                                "InvalidItemContentException", "The value of \(key) in \(typeName) is longer than 4096 characters.")
                        }
                        bytes += key.utf8.count + s.utf8.count + 6
                        map[key] = s
                    }
                    parsed.append(map)
                }
                guard bytes <= maxItemBytes else {
                    throw AWSError(
                        "ItemSizeLimitExceededException", "The inventory item \(typeName) is larger than \(maxItemBytes >> 20) MB.")
                }
                total += bytes
                content = parsed
            }
            out.append(
                Item(typeName: typeName, schemaVersion: schemaVersion, captureTime: captureTime, contentHash: hash, content: content))
        }
        guard total <= maxTotalBytes else {
            throw AWSError("TotalSizeLimitExceededException", "The inventory data of this call is larger than \(maxTotalBytes >> 20) MB.")
        }
        return out
    }

    static func matches(_ text: String, _ pattern: String) -> Bool {
        (try? Regex(pattern).wholeMatch(in: text)) != nil
    }

    /// Stores the items for one instance. Unchanged items (hash only, matching what is stored) cost nothing.
    /// A hash-only item whose hash is not the stored one is ItemContentMismatchException; with `partial` the
    /// other items are stored and the mismatched types are returned instead, so the agent sends just those again.
    @discardableResult
    func put(region: String, instanceId: String, items: [Item], now: Double, partial: Bool = false) async throws -> [String] {
        guard let instance = try await store.instance(id: instanceId), instance.region == region else {
            throw AWSError("InvalidInstanceId", "The instance \(instanceId) is not a managed instance of this account and region.")
        }
        let stored = Dictionary(
            try await store.inventoryItems(region: region, instanceId: instanceId).map { ($0.typeName, $0) },
            uniquingKeysWith: { a, _ in a })
        let schemas = Dictionary(
            try await store.inventorySchemas(region: region).map { ($0.typeName, $0) }, uniquingKeysWith: { a, _ in a })
        var customTypes = Set(schemas.values.filter { !$0.disabled }.map(\.typeName))
        var uploads: [InventoryUpload] = []
        var mismatched: [String] = []
        for item in items {
            if item.typeName.hasPrefix("AWS:") {
                guard let schema = InventorySchemas.byName[item.typeName] else {
                    throw AWSError(
                        "InvalidTypeNameException", "\(item.typeName) is not an inventory type; custom types start with Custom:.")
                }
                guard InventorySchemas.accepts(item.typeName, version: item.schemaVersion) else {
                    throw AWSError(
                        "UnsupportedInventorySchemaVersionException",
                        "\(item.typeName) has schema version \(schema.version); \(item.schemaVersion) is not supported.")
                }
                let known = Set(schema.attributes.map(\.name))
                for entry in item.content ?? [] {
                    if let unknown = entry.keys.first(where: { !known.contains($0) }) {
                        throw AWSError("InvalidItemContentException", "\(unknown) is not an attribute of \(item.typeName).")
                    }
                }
            } else {
                if let schema = schemas[item.typeName], schema.disabled {
                    throw AWSError("InvalidTypeNameException", "The schema of \(item.typeName) was disabled by DeleteInventory.")
                }
                if !customTypes.contains(item.typeName) {
                    guard customTypes.count < Self.maxCustomTypes else {
                        throw AWSError(
                            "CustomSchemaCountLimitExceededException",
                            "This region already has \(Self.maxCustomTypes) custom inventory types; delete one with DeleteInventory first.")
                    }
                    customTypes.insert(item.typeName)
                }
            }
            guard let content = item.content else {
                // Hash only: the type has not changed since the last upload, if the hash is the one we hold.
                if let hash = item.contentHash {
                    guard let previous = stored[item.typeName], previous.contentHash == hash else {
                        if partial {
                            mismatched.append(item.typeName)
                            continue
                        }
                        throw AWSError(
                            "ItemContentMismatchException",
                            "The content of \(item.typeName) is not held for hash \(hash); send the content.")
                    }
                    continue
                }
                uploads.append(
                    InventoryUpload(
                        typeName: item.typeName, schemaVersion: item.schemaVersion, captureTime: item.captureTime, contentHash: "",
                        content: []))
                continue
            }
            let hash = item.contentHash ?? Self.hash(content)
            if let previous = stored[item.typeName], previous.contentHash == hash, item.contentHash != nil {
                continue
            }
            uploads.append(
                InventoryUpload(
                    typeName: item.typeName, schemaVersion: item.schemaVersion, captureTime: item.captureTime, contentHash: hash,
                    content: content))
        }
        if !uploads.isEmpty { try await store.putInventory(region: region, instanceId: instanceId, uploads: uploads, now: now) }
        return mismatched
    }

    /// A hash for content that came without one: base64 of MD5 of the compact JSON.
    static func hash(_ content: [[String: String]]) -> String {
        let text = JSONWriter.string(.array(content.map { .object($0.mapValues { .string($0) }) }))
        return Data(Insecure.MD5.hash(data: Data(text.utf8))).base64EncodedString()
    }
}
