/// RPM packages, from `rpm -qa`.
enum RpmDatabase {
    static let tags = ["NAME", "EPOCH", "VERSION", "RELEASE", "ARCH", "VENDOR", "SUMMARY", "URL", "INSTALLTIME", "GROUP", "SOURCERPM"]
    /// Fields end in US (0x1F) and packages in RS (0x1E), so that no value can break the split.
    static let queryFormat = tags.map { "%{\($0)}\u{1F}" }.joined() + "\u{1E}"

    static func installed(_ rpm: String) async throws -> [InstalledPackage] {
        parse(try await Host.run(rpm, ["-qa", "--queryformat", queryFormat]))
    }

    /// Parses `rpm -qa --queryformat queryFormat` output; rpm writes "(none)" for a tag a package does not set.
    static func parse(_ text: String) -> [InstalledPackage] {
        var out: [InstalledPackage] = []
        for record in text.split(separator: "\u{1E}") {
            let values = record.split(separator: "\u{1F}", omittingEmptySubsequences: false)
            guard values.count >= tags.count, let name = InstalledPackage.given(values[0]) else { continue }
            let given = InstalledPackage.given
            out.append(
                InstalledPackage(
                    name: name, version: given(values[2]) ?? "", release: given(values[3]), epoch: given(values[1]),
                    architecture: given(values[4]), publisher: given(values[5]), summary: given(values[6]), url: given(values[7]),
                    applicationType: given(values[9]), packageId: given(values[10]),
                    installedTime: given(values[8]).flatMap { Int($0) }))
        }
        return out
    }
}
