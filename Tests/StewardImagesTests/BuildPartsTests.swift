import Foundation
import StewardKit
import Testing

@testable import StewardImages

@Suite("Image build parts: schedules, package lists, scan reports, volume reduction")
struct BuildPartsTests {
    static func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test("dpkg's status file gives the installed packages, sorted, without removed ones")
    func dpkgStatus() {
        let text = """
            Package: zlib1g
            Status: install ok installed
            Architecture: amd64
            Version: 1:1.2.13
            Description: compression
             more text: with a colon

            Package: gone
            Status: deinstall ok config-files
            Version: 1.0

            Package: apt
            Status: install ok installed
            Architecture: amd64
            Version: 2.6.1
            """
        #expect(
            DpkgStatus.parse(text) == [
                .init(name: "apt", version: "2.6.1", architecture: "amd64"),
                .init(name: "zlib1g", version: "1:1.2.13", architecture: "amd64"),
            ])
    }

    @Test("clamscan's FOUND lines become findings with paths inside the image")
    func scanFindings() {
        let out = "/w/root/root/eicar.com: Eicar-Test-Signature FOUND\n/w/root/a b: c.txt: Other.Sig FOUND\nnoise\n"
        #expect(
            MalwareScan.parse(out, root: "/w/root") == [
                .init(path: "/root/eicar.com", signature: "Eicar-Test-Signature"), .init(path: "/a b: c.txt", signature: "Other.Sig"),
            ])
    }

    @Test("volume reduction empties caches, logs and tmp, empties the machine id, and never follows links out of the tree")
    func reduction() async throws {
        let fm = FileManager.default
        let top = NSTemporaryDirectory() + "reduce-\(UUID().uuidString)"
        let root = "\(top)/root"
        let outside = "\(top)/outside"
        defer { try? fm.removeItem(atPath: top) }
        for d in ["var/log/apt", "var/lib/apt/lists", "etc", "var", outside.replacing("\(root)/", with: "")] {
            try fm.createDirectory(atPath: d.hasPrefix("/") ? d : "\(root)/\(d)", withIntermediateDirectories: true)
        }
        try Data(repeating: 1, count: 50_000).write(to: URL(fileURLWithPath: "\(root)/var/log/apt/history.log"))
        try Data(repeating: 2, count: 50_000).write(to: URL(fileURLWithPath: "\(root)/var/lib/apt/lists/deb_Packages"))
        try Data("abc\n".utf8).write(to: URL(fileURLWithPath: "\(root)/etc/machine-id"))
        try Data("keep".utf8).write(to: URL(fileURLWithPath: "\(outside)/precious"))
        // An absolute link as images hold them: /tmp -> /outside would be the host's folder if followed.
        try fm.createSymbolicLink(atPath: "\(root)/tmp", withDestinationPath: outside)
        let figures = try await VolumeReduction.reduce(root) { _ in }
        #expect(figures.bytesAfter < figures.bytesBefore)
        #expect(fm.fileExists(atPath: "\(root)/var/log/apt"))
        #expect(!fm.fileExists(atPath: "\(root)/var/log/apt/history.log"))
        #expect(!fm.fileExists(atPath: "\(root)/var/lib/apt/lists/deb_Packages"))
        #expect(fm.contents(atPath: "\(root)/etc/machine-id")?.isEmpty == true)
        #expect(fm.fileExists(atPath: "\(outside)/precious"))
    }
}
