/// The text formats a document's content may be written in (parsing lives in StewardDocuments).
public enum DocumentFormat: String, Sendable, Codable, CaseIterable {
    case json = "JSON"
    case yaml = "YAML"
    case text = "TEXT"
}
