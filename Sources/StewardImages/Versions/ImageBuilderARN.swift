import StewardKit

/// An Image Builder ARN: `arn:aws:imagebuilder:<region>:<account>:<type>/<name>[/<version>[/<build>]]`.
///
/// Versioned resources (components, image recipes, images) carry a version or a version filter; the configurations
/// and pipelines carry only a name. Names in ARNs are lower case, with runs of other characters turned into `-`.
public struct ImageBuilderARN: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case component
        case imageRecipe = "image-recipe"
        case containerRecipe = "container-recipe"
        case image
        case imagePipeline = "image-pipeline"
        case infrastructureConfiguration = "infrastructure-configuration"
        case distributionConfiguration = "distribution-configuration"

        /// Whether ARNs of this kind carry a version.
        public var versioned: Bool { self == .component || self == .imageRecipe || self == .containerRecipe || self == .image }
    }

    public var region: String
    public var account: String
    public var kind: Kind
    public var name: String
    /// The version part as written (`1.0.0`, `1.x.x`, `1.0.0/2`), nil for unversioned kinds or a bare name.
    public var version: VersionFilter?

    public init(region: String, account: String, kind: Kind, name: String, version: VersionFilter? = nil) {
        self.region = region
        self.account = account
        self.kind = kind
        self.name = name
        self.version = version
    }

    /// Parses an ARN; nil if it is not an Image Builder ARN of a known kind with a valid version.
    public init?(_ text: String) {
        let fields = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "arn", fields[1].hasPrefix("aws"), fields[2] == "imagebuilder", !fields[3].isEmpty,
            !fields[4].isEmpty
        else { return nil }
        let path = fields[5].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard path.count >= 2, let kind = Kind(rawValue: path[0]), !path[1].isEmpty else { return nil }
        self.init(region: String(fields[3]), account: String(fields[4]), kind: kind, name: path[1])
        if kind.versioned {
            guard path.count <= 4 else { return nil }
            if path.count >= 3 {
                guard let filter = VersionFilter(path[2...].joined(separator: "/")) else { return nil }
                version = filter
            }
        } else {
            guard path.count == 2 else { return nil }
        }
    }

    /// Parses an ARN of one kind, or throws `InvalidParameterValueException` naming the member.
    public static func parse(_ text: String, kind: Kind, member: String) throws(AWSError) -> ImageBuilderARN {
        guard let arn = ImageBuilderARN(text), arn.kind == kind else {
            throw AWSError(
                "InvalidParameterValueException",
                "The value supplied for parameter '\(member)' is not a valid \(kind.rawValue) ARN: \(text).")
        }
        return arn
    }

    public var description: String {
        var text = "arn:aws:imagebuilder:\(region):\(account):\(kind.rawValue)/\(name)"
        if let version { text += "/\(version)" }
        return text
    }

    /// The name as it appears in ARNs: lower case; spaces and other characters become `-`.
    public static func arnName(_ name: String) -> String {
        var out = ""
        for c in name.lowercased() {
            if c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == ".") {
                out.append(c)
            } else if !out.hasSuffix("-") {
                out.append("-")
            }
        }
        return out
    }

    /// The ARN of a resource of `kind` named `name`, with an exact version or build version when given.
    public static func of(
        _ kind: Kind, region: String, account: String, name: String, version: SemanticVersion? = nil, build: Int? = nil
    ) -> ImageBuilderARN {
        var filter: VersionFilter?
        if let version { filter = VersionFilter(build.map { "\(version)/\($0)" } ?? version.description) }
        return ImageBuilderARN(region: region, account: account, kind: kind, name: arnName(name), version: filter)
    }
}
