import StewardKit

/// An Image Builder semantic version, `major.minor.patch`, each part 0 through 2^30 − 1.
///
/// Users choose these three numbers; the service adds a build number (``BuildVersion``).
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let maxPart = (1 << 30) - 1

    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `x.y.z` (decimal digits only, no wildcards); nil if the text is not one.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard let n = Self.number(part) else { return nil }
            numbers.append(n)
        }
        self.init(numbers[0], numbers[1], numbers[2])
    }

    /// Parses a version a user sets (`semanticVersion` of a component or recipe), or throws the service's error.
    public static func parse(_ text: String) throws(AWSError) -> SemanticVersion {
        guard let version = SemanticVersion(text) else {
            throw AWSError(
                "InvalidVersionNumberException",
                "The semantic version \(text) is not valid: use <major>.<minor>.<patch>, each a number from 0 to \(maxPart).")
        }
        return version
    }

    static func number(_ part: some StringProtocol) -> Int? {
        guard !part.isEmpty, part.count <= 10, part.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(part), n <= maxPart else {
            return nil
        }
        return n
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }
}

/// A version with the build number the service assigns: `x.y.z/build`.
public struct BuildVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var version: SemanticVersion
    public var build: Int

    public init(_ version: SemanticVersion, build: Int) {
        self.version = version
        self.build = build
    }

    /// Parses `x.y.z/n` with n ≥ 1.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let version = SemanticVersion(parts[0]), let build = SemanticVersion.number(parts[1]), build >= 1 else {
            return nil
        }
        self.init(version, build: build)
    }

    public var description: String { "\(version)/\(build)" }

    public static func < (a: BuildVersion, b: BuildVersion) -> Bool {
        (a.version, a.build) < (b.version, b.build)
    }
}

/// A version selection as Image Builder accepts it in ARNs and filters: `1.2.3`, `1.2.x`, `1.x.x`, `x.x.x`, or a
/// build version `1.2.3/4`. Every part after the first `x` must be `x` too (`x.2.x` and `1.x.8` are refused).
public struct VersionFilter: Sendable, Hashable, CustomStringConvertible {
    /// The fixed leading parts (0 to 3 numbers).
    public var fixed: [Int]
    /// A build number, only with all three parts fixed.
    public var build: Int?

    public init?(_ text: some StringProtocol) {
        let slash = text.split(separator: "/", omittingEmptySubsequences: false)
        guard slash.count <= 2 else { return nil }
        let parts = slash[0].split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var fixed: [Int] = []
        var wild = false
        for part in parts {
            if part == "x" || part == "X" {
                wild = true
            } else {
                guard !wild, let n = SemanticVersion.number(part) else { return nil }
                fixed.append(n)
            }
        }
        self.fixed = fixed
        if slash.count == 2 {
            guard fixed.count == 3, let build = SemanticVersion.number(slash[1]), build >= 1 else { return nil }
            self.build = build
        }
    }

    /// The filter a text names, or the service's error.
    public static func parse(_ text: String) throws(AWSError) -> VersionFilter {
        guard let filter = VersionFilter(text) else {
            throw AWSError(
                "InvalidVersionNumberException",
                "The version \(text) is not valid: use x.y.z, x.y.z/build, or wildcards such as 1.2.x, 1.x.x and x.x.x "
                    + "(every part after the first x must be x).")
        }
        return filter
    }

    /// True when the filter names one version exactly (no wildcard).
    public var isExact: Bool { fixed.count == 3 }

    public func matches(_ version: SemanticVersion) -> Bool {
        let parts = [version.major, version.minor, version.patch]
        return zip(fixed, parts).allSatisfy { $0 == $1 }
    }

    public func matches(_ version: BuildVersion) -> Bool {
        matches(version.version) && (build == nil || build == version.build)
    }

    /// The newest of `versions` that the filter selects (the highest version, then the highest build).
    public func newest(of versions: [BuildVersion]) -> BuildVersion? {
        versions.filter(matches).max()
    }

    public var description: String {
        let parts = (0..<3).map { $0 < fixed.count ? String(fixed[$0]) : "x" }.joined(separator: ".")
        return build.map { "\(parts)/\($0)" } ?? parts
    }
}
