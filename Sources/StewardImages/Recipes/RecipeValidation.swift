import StewardKit

/// Checks the parts of an image recipe that do not need the store: the parent image, the working directory,
/// block device mappings, and each component's parameters against the parameters its document declares.
public enum RecipeValidation {
    /// One entry of a recipe's `components`, as sent.
    public struct ComponentUse: Sendable {
        public var arn: ImageBuilderARN
        public var parameters: [(name: String, value: [String])]

        public init(arn: ImageBuilderARN, parameters: [(name: String, value: [String])]) {
            self.arn = arn
            self.parameters = parameters
        }
    }

    static func invalid(_ message: String) -> AWSError { AWSError("InvalidParameterValueException", message) }

    /// A parent image: an Image Builder image ARN (wildcards allowed), `ssm:<parameter>`, or a name Steward's providers
    /// know (a base image imported on this site, such as `debian-12`, or an AMI-style id).
    public static func parentImage(_ text: String) throws(AWSError) -> String {
        guard (1...1024).contains(text.count) else { throw invalid("parentImage must be 1 to 1024 characters.") }
        if text.hasPrefix("arn:") {
            guard let arn = ImageBuilderARN(text), arn.kind == .image else {
                throw invalid("parentImage \(text) is not a valid image ARN.")
            }
        }
        guard !text.contains(where: { $0.isWhitespace }) else { throw invalid("parentImage may not contain white space.") }
        return text
    }

    public static func workingDirectory(_ text: String?) throws(AWSError) -> String? {
        guard let text else { return nil }
        guard (1...1024).contains(text.count), text.hasPrefix("/") else {
            throw invalid("workingDirectory must be an absolute path of 1 to 1024 characters.")
        }
        return text
    }

    /// Block device mappings are kept as given after a check of their shape: each names a device.
    public static func blockDeviceMappings(_ mappings: [JSONValue]) throws(AWSError) -> [JSONValue] {
        for mapping in mappings {
            guard case .object(let fields) = mapping else { throw invalid("Each block device mapping must be a structure.") }
            if let device = fields["deviceName"], !(device.stringValue.map { (1...1024).contains($0.count) } ?? false) {
                throw invalid("deviceName must be 1 to 1024 characters.")
            }
            if let size = fields["ebs"]?["volumeSize"], !(size.numberValue.map { $0 >= 1 && $0 <= 16384 } ?? false) {
                throw invalid("ebs.volumeSize must be from 1 to 16384 (GiB).")
            }
        }
        return mappings
    }

    /// The component list: 1 to 20 entries, parameters named at most once each.
    public static func components(_ uses: [ComponentUse]) throws(AWSError) {
        guard (1...20).contains(uses.count) else { throw invalid("A recipe needs 1 to 20 components.") }
        for use in uses {
            var seen: Set<String> = []
            for p in use.parameters where !seen.insert(p.name).inserted {
                throw invalid("Parameter \(p.name) is given twice for component \(use.arn).")
            }
        }
    }

    /// Checks the parameters given for one component against those its document declares: every name must be
    /// declared, each value is a list of one string (AWSTOE parameters are strings), and a declared parameter without
    /// a default must be given.
    public static func parameters(
        _ given: [(name: String, value: [String])], declared: [ComponentDefinition.Parameter], component: String
    ) throws(AWSError) {
        let names = Set(declared.map(\.name))
        for p in given {
            guard names.contains(p.name) else {
                let known = declared.isEmpty ? "it declares none" : "it declares " + declared.map(\.name).joined(separator: ", ")
                throw invalid("Component \(component) has no parameter \(p.name); \(known).")
            }
            guard p.value.count == 1 else { throw invalid("Parameter \(p.name) of component \(component) takes exactly one value.") }
        }
        for d in declared where d.defaultValue == nil && !given.contains(where: { $0.name == d.name }) {
            throw invalid("Component \(component) needs a value for parameter \(d.name), which has no default.")
        }
    }
}
