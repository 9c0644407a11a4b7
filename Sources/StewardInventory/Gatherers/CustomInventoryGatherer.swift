import StewardKit

/// Custom:* types, one per *.json file in the custom inventory folder, in the SSM agent's format:
/// `{"SchemaVersion": "1.0", "TypeName": "Custom:X", "Content": {...} or [{...}, ...]}`.
///
/// Numbers and booleans become their JSON text and null an empty string (the SSM agent takes strings only).
/// A file that breaks a rule is reported and skipped, and the others are still gathered; so is a file whose type
/// an earlier file (in name order) already gave, and every file past the 20th.
struct CustomInventoryGatherer: Gatherer {
    var folder: String
    var name: String { "Custom" }

    static let typeLimit = 20
    static let attributeLimit = 50
    static let attributeNameLimit = 64
    static let valueLimit = 4096
    static let typeNameLimit = 100

    func gather(captureTime: String) async throws -> Gathering {
        // No folder means nobody wrote custom inventory: nothing to report.
        guard let names = Host.listFolder(folder) else { return Gathering(items: []) }
        var items: [InventoryItem] = []
        var problems: [String] = []
        for file in names where file.hasSuffix(".json") {
            let path = "\(folder)/\(file)"
            guard let text = Host.readText(path, limit: 4 << 20) else {
                problems.append("\(path): cannot be read")
                continue
            }
            do {
                let item = try Self.item(from: text, captureTime: captureTime)
                if items.contains(where: { $0.typeName == item.typeName }) {
                    problems.append("\(path): \(item.typeName) is already given by another file; skipped")
                } else if items.count >= Self.typeLimit {
                    problems.append("\(path): more than \(Self.typeLimit) custom types; skipped")
                } else {
                    items.append(item)
                }
            } catch {
                problems.append("\(path): \(error)")
            }
        }
        return Gathering(items: items, problems: problems)
    }

    struct FileError: Error, CustomStringConvertible {
        let description: String
    }

    /// One custom inventory file's item, or why the file cannot be sent.
    static func item(from text: String, captureTime: String) throws -> InventoryItem {
        let document: JSONValue
        do { document = try JSONReader.parse(text) } catch { throw FileError(description: "not JSON: \(error)") }
        guard let fields = document.objectValue else { throw FileError(description: "must be a map with TypeName and Content") }

        guard let typeName = fields["TypeName"]?.stringValue, !typeName.isEmpty else { throw FileError(description: "TypeName is missing") }
        guard typeName.hasPrefix("Custom:"), typeName.count > "Custom:".count else {
            throw FileError(description: "TypeName \(typeName) must start with Custom:")
        }
        guard typeName.utf8.count <= typeNameLimit else {
            throw FileError(description: "TypeName is longer than \(typeNameLimit) characters")
        }

        let schemaVersion: String
        switch fields["SchemaVersion"] {
        case nil, .null?: schemaVersion = "1.0"
        case .string(let text)? where isSchemaVersion(text): schemaVersion = text
        default: throw FileError(description: "SchemaVersion must look like 1.0")
        }

        let entries: [JSONValue]
        switch fields["Content"] {
        case .object?: entries = [fields["Content"]!]
        case .array(let list)?: entries = list
        default: throw FileError(description: "Content must be a map or a list of maps")
        }
        var content: [[String: String]] = []
        for (index, value) in entries.enumerated() {
            guard let attributes = value.objectValue else { throw FileError(description: "Content[\(index)] is not a map") }
            content.append(try entry(attributes, index: index))
        }
        return InventoryItem(typeName: typeName, schemaVersion: schemaVersion, captureTime: captureTime, content: content)
    }

    static func entry(_ attributes: [String: JSONValue], index: Int) throws -> [String: String] {
        guard attributes.count <= attributeLimit else {
            throw FileError(description: "Content[\(index)] has \(attributes.count) attributes; at most \(attributeLimit) are allowed")
        }
        var out: [String: String] = [:]
        for (name, value) in attributes {
            guard !name.isEmpty, name.utf8.count <= attributeNameLimit else {
                throw FileError(description: "Content[\(index)]: attribute names must have 1 to \(attributeNameLimit) characters")
            }
            let text: String
            switch value {
            case .string(let s): text = s
            case .number, .bool: text = JSONWriter.string(value)
            case .null: text = ""
            case .array, .object: throw FileError(description: "Content[\(index)].\(name) is a \(value.kindName); values must be strings")
            }
            guard text.utf8.count <= valueLimit else {
                throw FileError(description: "Content[\(index)].\(name) is longer than \(valueLimit) characters")
            }
            out[name] = text
        }
        return out
    }

    /// 1 to 6 digits, a dot, 1 to 6 digits: what PutInventory accepts.
    static func isSchemaVersion(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { (1...6).contains($0.count) && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }
}
