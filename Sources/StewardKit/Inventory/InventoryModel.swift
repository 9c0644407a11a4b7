/// One inventory type of one instance, as PutInventory carries it after validation.
public struct InventoryUpload: Sendable, Hashable {
    public var typeName: String
    public var schemaVersion: String
    public var captureTime: String
    public var contentHash: String
    public var content: [[String: String]]

    public init(typeName: String, schemaVersion: String, captureTime: String, contentHash: String, content: [[String: String]]) {
        self.typeName = typeName
        self.schemaVersion = schemaVersion
        self.captureTime = captureTime
        self.contentHash = contentHash
        self.content = content
    }
}

/// What the store knows about one (instance, type): the last upload's header.
public struct InventoryItemRecord: Sendable, Hashable {
    public var instanceId: String
    public var typeName: String
    public var schemaVersion: String
    public var captureTime: String
    public var contentHash: String
    public var entryCount: Int
    public var updatedAt: Double

    public init(
        instanceId: String, typeName: String, schemaVersion: String, captureTime: String, contentHash: String, entryCount: Int,
        updatedAt: Double
    ) {
        self.instanceId = instanceId
        self.typeName = typeName
        self.schemaVersion = schemaVersion
        self.captureTime = captureTime
        self.contentHash = contentHash
        self.entryCount = entryCount
        self.updatedAt = updatedAt
    }
}

/// A custom type's schema: the attributes seen so far, and whether DeleteInventory disabled it.
public struct InventorySchemaRecord: Sendable, Hashable {
    public var typeName: String
    public var version: String
    public var attributes: [String]
    public var disabled: Bool

    public init(typeName: String, version: String, attributes: [String], disabled: Bool) {
        self.typeName = typeName
        self.version = version
        self.attributes = attributes
        self.disabled = disabled
    }
}

/// A saved fleet query ("predefined action") that any operator can list and run.
public struct SavedInventoryQuery: Sendable, Hashable {
    public var name: String
    public var query: String
    public var description: String
    public var created: Double

    public init(name: String, query: String, description: String, created: Double) {
        self.name = name
        self.query = query
        self.description = description
        self.created = created
    }
}

/// One entry of one instance, as fleet queries read it.
public struct InventoryEntryRow: Sendable {
    public var instanceId: String
    public var name: String?
    public var version: String?
    /// All attributes; empty when the query asked for Name and Version only.
    public var attributes: [String: String]

    public init(instanceId: String, name: String?, version: String?, attributes: [String: String]) {
        self.instanceId = instanceId
        self.name = name
        self.version = version
        self.attributes = attributes
    }
}

extension InventoryUpload {
    /// The entry as stored: compact JSON with sorted keys.
    public static func encode(_ entry: [String: String]) -> String {
        var bytes: [UInt8] = []
        encode(entry, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the stored form (the same bytes as ``encode(_:)``) without building JSON values first: bulk ingest
    /// writes millions of these.
    public static func encode(_ entry: [String: String], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, key) in entry.keys.sorted().enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            JSONWriter.writeString(entry[key]!, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    public static func decode(_ text: String) -> [String: String] {
        guard case .object(let fields)? = try? JSONReader.parse(text) else { return [:] }
        return fields.mapValues(\.textValue)
    }
}
