/// Alpine packages, from apk's database file (no program needed).
///
/// apk records no install time (its `t:` is the build time), so InstalledTime is left out.
enum ApkDatabase {
    static let path = "/lib/apk/db/installed"

    /// Parses the database: one package per paragraph, one `X:value` field per line.
    static func parse(_ text: String) -> [InstalledPackage] {
        var out: [InstalledPackage] = []
        var fields: [Character: String] = [:]
        func finish() {
            defer { fields = [:] }
            guard let name = fields["P"], !name.isEmpty else { return }
            let version = fields["V"] ?? ""
            out.append(
                InstalledPackage(
                    name: name, version: version, architecture: fields["A"], publisher: fields["m"], summary: fields["T"],
                    url: fields["U"], packageId: version.isEmpty ? nil : "\(name)-\(version).apk"))
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                finish()
                continue
            }
            guard line.count >= 2, line.dropFirst().first == ":", let key = line.first, fields[key] == nil else { continue }
            fields[key] = String(line.dropFirst(2))
        }
        finish()
        return out
    }
}
