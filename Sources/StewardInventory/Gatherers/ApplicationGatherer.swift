#if canImport(Glibc)
    import Glibc
#endif

/// AWS:Application and AWS:AWSComponent, from every package database on the node (dpkg, rpm, apk).
///
/// One entry per package the database lists: dpkg's entries are exactly what `dpkg-query -W` shows, so a
/// package installed for two architectures appears twice, with its Architecture telling them apart.
struct ApplicationGatherer: Gatherer {
    var applications: Bool
    var awsComponents: Bool
    var name: String { "AWS:Application" }

    func gather(captureTime: String) async throws -> Gathering {
        var packages: [InstalledPackage] = []
        var problems: [String] = []
        var sources = 0
        if let dpkgQuery = Host.program("dpkg-query") {
            sources += 1
            let admin = getenv("DPKG_ADMINDIR").map { String(cString: $0) } ?? "/var/lib/dpkg"
            do { packages += try await DpkgDatabase.installed(dpkgQuery, infoFolder: "\(admin)/info") } catch {
                problems.append("dpkg-query: \(error)")
            }
        }
        if let rpm = Host.program("rpm") {
            sources += 1
            do { packages += try await RpmDatabase.installed(rpm) } catch { problems.append("rpm: \(error)") }
        }
        if let apk = Host.readText(ApkDatabase.path) {
            sources += 1
            packages += ApkDatabase.parse(apk)
        }
        guard sources > 0 else { throw Host.CommandError(description: "no package database found (dpkg, rpm or apk)") }
        guard problems.count < sources else { throw Host.CommandError(description: problems.joined(separator: "; ")) }

        packages.sort { ($0.name, $0.architecture ?? "", $0.version) < ($1.name, $1.architecture ?? "", $1.version) }
        var items: [InventoryItem] = []
        if applications {
            items.append(
                InventoryItem(typeName: "AWS:Application", schemaVersion: "1.1", captureTime: captureTime, content: packages.map(\.entry)))
        }
        if awsComponents {
            let components = packages.filter(\.isAWSComponent).map(\.entry)
            items.append(InventoryItem(typeName: "AWS:AWSComponent", schemaVersion: "1.0", captureTime: captureTime, content: components))
        }
        return Gathering(items: items, problems: problems)
    }
}

/// One package as a package database describes it; nil where the database does not say.
struct InstalledPackage: Sendable, Hashable {
    var name: String
    var version: String
    var release: String?
    var epoch: String?
    var architecture: String?
    var publisher: String?
    var summary: String?
    var url: String?
    var applicationType: String?
    var packageId: String?
    var installedTime: Int?

    /// The AWS:Application attributes, leaving out what is unknown.
    var entry: [String: String] {
        var out = ["Name": name, "Version": version]
        let optional: [(String, String?)] = [
            ("Release", release), ("Epoch", epoch), ("Architecture", architecture.map(Self.awsArchitecture)),
            ("Publisher", publisher), ("Summary", summary), ("URL", url), ("ApplicationType", applicationType),
            ("PackageId", packageId), ("InstalledTime", installedTime.map(Host.iso8601)),
        ]
        for case (let key, let value?) in optional where !value.isEmpty { out[key] = value }
        return out
    }

    /// The SSM agent reports amd64 as x86_64 and 386 as i386, so that Debian and RPM nodes agree.
    static func awsArchitecture(_ arch: String) -> String {
        switch arch.lowercased() {
        case "amd64": "x86_64"
        case "386": "i386"
        default: arch
        }
    }

    /// The packages the SSM agent files under AWS:AWSComponent as well, with our own agent beside AWS's.
    var isAWSComponent: Bool {
        let lower = name.trimmingCharacters(in: " \t").lowercased()
        return ["amazon-ssm-agent", "aws-cfn-bootstrap", "steward-agent"].contains(lower)
            || lower.contains("aws-apitools-") || lower.contains("aws-amitools-")
    }

    /// A database's text for "not set" becomes nil.
    static func given(_ text: Substring) -> String? {
        let value = String(text).trimmingCharacters(in: " \t\n")
        return value.isEmpty || value == "(none)" ? nil : value
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var chars = Substring(self)
        while let c = chars.first, set.contains(c) { chars.removeFirst() }
        while let c = chars.last, set.contains(c) { chars.removeLast() }
        return String(chars)
    }
}
