import Crypto
import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One inventory type as PutInventory carries it.
///
/// Encodes with the AWS member names (`TypeName`, `SchemaVersion`, `CaptureTime`, `Content`, `ContentHash`).
public struct InventoryItem: Sendable, Codable, Hashable {
    /// "AWS:Application", "Custom:RackInfo".
    public var typeName: String
    /// "1.0" for most types, "1.1" for AWS:Application; custom types carry their own.
    public var schemaVersion: String
    /// UTC to the second: "2026-11-29T16:00:00Z".
    public var captureTime: String
    /// Every attribute value is a string, as AWS sends them.
    public var content: [[String: String]]
    /// `ContentHash.of(content)`, so that an unchanged type can be sent as its hash alone.
    public var contentHash: String

    public init(typeName: String, schemaVersion: String, captureTime: String, content: [[String: String]]) {
        self.typeName = typeName
        self.schemaVersion = schemaVersion
        self.captureTime = captureTime
        self.content = content
        self.contentHash = ContentHash.of(content)
    }

    enum CodingKeys: String, CodingKey {
        case typeName = "TypeName"
        case schemaVersion = "SchemaVersion"
        case captureTime = "CaptureTime"
        case content = "Content"
        case contentHash = "ContentHash"
    }

    /// Reads an item as PutInventory carries it; an item sent as its hash alone has no content.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        typeName = try container.decode(String.self, forKey: .typeName)
        schemaVersion = try container.decode(String.self, forKey: .schemaVersion)
        captureTime = try container.decode(String.self, forKey: .captureTime)
        content = try container.decodeIfPresent([[String: String]].self, forKey: .content) ?? []
        contentHash = try container.decodeIfPresent(String.self, forKey: .contentHash) ?? ContentHash.of(content)
    }
}

/// The hash the agent sends with each type: base64 of the MD5 of the content as compact JSON with sorted keys.
///
/// Key order in the source does not matter; entry order does, so gatherers sort their entries.
public enum ContentHash {
    public static func of(_ content: [[String: String]]) -> String {
        let json = JSONValue.array(content.map { entry in .object(entry.mapValues { .string($0) }) })
        let digest = Insecure.MD5.hash(data: JSONWriter.bytes(json))
        return Data(digest).base64EncodedString()
    }
}
