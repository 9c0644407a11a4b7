/// Debian packages, from `dpkg-query`.
///
/// Version is dpkg's whole version ("1:2.38-4ubuntu2"), with no Epoch or Release: the SSM agent does not split
/// Debian versions, and an inventory query for a version then matches what `dpkg -l` shows.
enum DpkgDatabase {
    static let fields = ["Package", "Version", "Architecture", "Maintainer", "binary:Summary", "Homepage", "Section", "binary:Package"]
    /// Fields end in US (0x1F) and packages in RS (0x1E): neither occurs in a control file.
    static let format = fields.map { "${\($0)}\u{1F}" }.joined() + "\u{1E}"

    static func installed(_ dpkgQuery: String, infoFolder: String = "/var/lib/dpkg/info") async throws -> [InstalledPackage] {
        let text = try await Host.run(dpkgQuery, ["-W", "-f=\(format)"])
        return parse(text) { name, arch, binaryName in
            for file in ["\(binaryName).list", "\(name):\(arch).list", "\(name).list"] {
                if let status = Host.status("\(infoFolder)/\(file)") { return status.modified }
            }
            return nil
        }
    }

    /// Parses `dpkg-query -W -f=format` output; `installedTime(name, arch, binary:Package)` finds when each was installed.
    static func parse(_ text: String, installedTime: (String, String, String) -> Int? = { _, _, _ in nil }) -> [InstalledPackage] {
        var out: [InstalledPackage] = []
        for record in text.split(separator: "\u{1E}") {
            let values = record.split(separator: "\u{1F}", omittingEmptySubsequences: false)
            guard values.count >= fields.count else { continue }
            let name = String(values[0]).trimmingCharacters(in: "\n")
            guard !name.isEmpty else { continue }
            let version = String(values[1])
            let arch = String(values[2])
            let given = InstalledPackage.given
            out.append(
                InstalledPackage(
                    name: name, version: version, architecture: given(values[2]), publisher: given(values[3]), summary: given(values[4]),
                    url: given(values[5]), applicationType: given(values[6]),
                    packageId: version.isEmpty ? nil : "\(name)_\(version)_\(arch).deb",
                    installedTime: installedTime(name, arch, String(values[7]))))
        }
        return out
    }
}
