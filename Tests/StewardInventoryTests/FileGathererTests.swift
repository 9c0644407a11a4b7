import Foundation
import Testing

@testable import StewardInventory

@Suite("AWS:File")
struct FileGathererTests {
    func tree() throws -> String {
        let root = try temporaryFolder("files")
        let fm = FileManager.default
        for folder in ["conf.d", "conf.d/deep", "logs"] {
            try fm.createDirectory(atPath: "\(root)/\(folder)", withIntermediateDirectories: true)
        }
        for (path, text) in [
            "app.conf": "a=1\n", "hosts": "h", "notes.txt": "n", "conf.d/x.conf": "xx", "conf.d/deep/y.conf": "yyy", "logs/z.log": "",
        ] {
            try text.write(toFile: "\(root)/\(path)", atomically: true, encoding: .utf8)
        }
        try fm.createSymbolicLink(atPath: "\(root)/conf.d/loop", withDestinationPath: root)
        try fm.createSymbolicLink(atPath: "\(root)/link.conf", withDestinationPath: "\(root)/app.conf")
        return root
    }

    @Test("files matching any pattern, with size, times and folder; not recursive by default")
    func flat() async throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let found = try await FileGatherer(filters: [FileFilter(path: root, patterns: ["*.conf", "hosts"])]).gather(captureTime: "t")
        let item = try #require(found.items.first)
        #expect(item.typeName == "AWS:File" && item.schemaVersion == "1.0" && found.problems.isEmpty)
        #expect(item.content.map { $0["Name"]! } == ["app.conf", "hosts", "link.conf"])
        let app = item.content[0]
        #expect(app["Size"] == "4" && app["InstalledDir"] == root)
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(root)/app.conf")
        let modified = Int((attributes[.modificationDate] as! Date).timeIntervalSince1970)
        #expect(app["ModificationTime"] == Host.iso8601(modified))
        #expect(app["LastAccessTime"]?.hasSuffix("Z") == true)
        #expect(Set(app.keys) == ["Name", "Size", "InstalledDir", "ModificationTime", "LastAccessTime"])
    }

    @Test("recursive walks every folder once, not following links to folders")
    func recursive() async throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let found = try await FileGatherer(filters: [FileFilter(path: root, patterns: ["*.conf"], recursive: true)]).gather(
            captureTime: "t")
        let paths = found.items[0].content.map { "\($0["InstalledDir"]!)/\($0["Name"]!)" }
        #expect(paths == ["\(root)/app.conf", "\(root)/link.conf", "\(root)/conf.d/x.conf", "\(root)/conf.d/deep/y.conf"])
    }

    @Test("DirScanLimit and the file cap stop the walk and say so; a missing path is reported")
    func limits() async throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let scan = try await FileGatherer(filters: [FileFilter(path: root, patterns: ["*"], recursive: true, dirScanLimit: 2)]).gather(
            captureTime: "t")
        #expect(scan.problems.count == 1 && scan.problems[0].contains("DirScanLimit"))
        #expect(scan.items[0].content.map { $0["Name"]! } == ["app.conf", "hosts", "link.conf", "notes.txt", "x.conf"])

        var capped = FileGatherer(filters: [
            FileFilter(path: root, patterns: ["*"], recursive: true), FileFilter(path: "/etc", patterns: ["*"]),
        ])
        capped.fileLimit = 3
        let found = try await capped.gather(captureTime: "t")
        #expect(found.items[0].content.count == 3)
        #expect(found.problems == ["stopped at 3 files; the files after those are not reported"])

        let missing = try await FileGatherer(filters: [FileFilter(path: "\(root)/nope", patterns: ["*"])]).gather(captureTime: "t")
        #expect(missing.items[0].content.isEmpty && missing.problems.count == 1)
    }

    @Test("two filters naming the same file report it once")
    func duplicates() async throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let filters = [FileFilter(path: root, patterns: ["*.conf"]), FileFilter(path: root + "/", patterns: ["app.*"])]
        let found = try await FileGatherer(filters: filters).gather(captureTime: "t")
        #expect(found.items[0].content.map { $0["Name"]! } == ["app.conf", "link.conf"])
    }
}
