import StewardDocuments
import StewardKit

/// What Image Builder keeps of a component document: the validated AWSTOE document, its declared parameters and
/// whether it is a build or a test component.
public struct ComponentDefinition: Sendable {
    public struct Parameter: Sendable, Hashable {
        public var name: String
        /// Only `string` exists in AWSTOE schema 1.0.
        public var type: String
        public var defaultValue: String?
        public var description: String?

        public init(name: String, type: String = "string", defaultValue: String?, description: String?) {
            self.name = name
            self.type = type
            self.defaultValue = defaultValue
            self.description = description
        }

        public var json: JSONValue {
            .compact([
                "name": .string(name), "type": .string(type), "defaultValue": defaultValue.map { JSONValue([$0]) } ?? .null,
                "description": JSONValue(description),
            ])
        }
    }

    /// AWS's ceiling for inline component data.
    public static let maxDataBytes = 16_000_000

    public var document: ComponentDocument
    public var parameters: [Parameter]
    /// `BUILD`, or `TEST` when the document has only a `test` phase (it then runs in the test stage).
    public var type: String

    /// Parses and validates the YAML (or JSON) text of a component, as `awstoe validate` would.
    public init(data: String) throws(AWSError) {
        guard data.utf8.count <= Self.maxDataBytes else {
            throw AWSError("InvalidParameterValueException", "The component data is larger than \(Self.maxDataBytes) bytes.")
        }
        let json: JSONValue
        do { json = try DocumentFormat.yaml.parse(data) } catch {
            throw AWSError("InvalidParameterValueException", "The component data is not valid YAML: \(error.message)")
        }
        do { document = try ComponentDocument(json) } catch {
            throw AWSError("InvalidParameterValueException", "The component document is not valid: \(error.description)")
        }
        parameters = document.parameters.map {
            Parameter(name: $0.name, type: "string", defaultValue: $0.value, description: $0.description)
        }
        type = document.phases.allSatisfy { $0.name == "test" } ? "TEST" : "BUILD"
    }

    /// Platforms Image Builder names; only Linux builds run here, the others are accepted and stored.
    public static let platforms = ["Linux", "Windows", "macOS"]

    public static func platform(_ text: String) throws(AWSError) -> String {
        guard let match = platforms.first(where: { $0.lowercased() == text.lowercased() }) else {
            throw AWSError("InvalidParameterValueException", "The platform \(text) is not valid; use Linux, Windows or macOS.")
        }
        return match
    }
}
