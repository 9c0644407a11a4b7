import Foundation
import StewardKit

/// The packages installed in a tree, from dpkg's status file (`/var/lib/dpkg/status`), for the image manifest.
public enum DpkgStatus {
    public struct Package: Sendable, Equatable {
        public var name: String
        public var version: String
        public var architecture: String
    }

    public static func packages(root: String) -> [Package] {
        guard let data = FileManager.default.contents(atPath: "\(root)/var/lib/dpkg/status") else { return [] }
        return parse(String(decoding: data, as: UTF8.self))
    }

    /// Stanzas whose `Status` ends in `installed`, sorted by name.
    public static func parse(_ text: String) -> [Package] {
        var out: [Package] = []
        for stanza in text.split(separator: "\n\n", omittingEmptySubsequences: true) {
            var fields: [String: String] = [:]
            for line in stanza.split(separator: "\n") where !line.hasPrefix(" ") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            guard let name = fields["Package"], fields["Status"]?.hasSuffix(" installed") == true else { continue }
            out.append(Package(name: name, version: fields["Version"] ?? "", architecture: fields["Architecture"] ?? ""))
        }
        return out.sorted { $0.name < $1.name }
    }
}
