import Foundation

/// Volume reduction of a captured tree before it becomes an image: what a fresh machine does not need (package
/// caches and lists, logs, temporary files, the build's own runner) goes, and the machine id is emptied so every
/// machine started from the image makes its own. What Image Builder's Linux clean-up and virt-sysprep remove.
public enum VolumeReduction {
    /// Paths inside the tree whose contents are removed (the folders themselves stay).
    public static let emptiedFolders = [
        "var/cache/apt/archives", "var/lib/apt/lists", "var/cache/debconf", "var/log", "tmp", "var/tmp", "var/lib/dhcp",
        "var/cache/man", "var/lib/cloud",
    ]
    /// Files removed outright.
    public static let removedFiles = [
        "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin", "var/lib/dbus/machine-id", "etc/ssh/ssh_host_*",
        "root/.bash_history", "var/lib/systemd/random-seed", "etc/hostname",
    ]
    /// The folder the build put its runner and journal in; never part of an image.
    public static let buildFolder = ".steward-build"

    public struct Figures: Sendable {
        public var bytesBefore: Int
        public var bytesAfter: Int
        public var removedEntries: Int
    }

    /// Cleans the tree in place and answers its size before and after.
    public static func reduce(_ root: String, log: BuildLogSink) async throws -> Figures {
        let fm = FileManager.default
        // The build's own runner was never part of the image: it goes before the image is measured.
        try? fm.removeItem(atPath: "\(root)/\(buildFolder)")
        let before = try await HostCommand.treeBytes(root)
        var removed = 0
        func remove(_ path: String) {
            if (try? fm.removeItem(atPath: path)) != nil { removed += 1 }
        }
        for folder in emptiedFolders {
            let full = "\(root)/\(folder)"
            guard inside(full, root), let entries = try? fm.contentsOfDirectory(atPath: full) else { continue }
            for entry in entries where !(folder == "var/cache/apt/archives" && entry == "partial") && entry != "lock" {
                // Logs keep their folders (services expect /var/log/apt, ...) but lose every file.
                if folder == "var/log", isFolder("\(full)/\(entry)") {
                    removed += try await HostCommand.run(["find", "\(full)/\(entry)", "-type", "f", "-print", "-delete"])
                        .split(separator: "\n").count
                } else {
                    remove("\(full)/\(entry)")
                }
            }
        }
        for pattern in removedFiles {
            let parent = (pattern as NSString).deletingLastPathComponent
            let name = (pattern as NSString).lastPathComponent
            guard inside("\(root)/\(parent)", root), let entries = try? fm.contentsOfDirectory(atPath: "\(root)/\(parent)") else {
                continue
            }
            for entry in entries where matches(entry, name) { remove("\(root)/\(parent)/\(entry)") }
        }
        // An empty machine-id (not a missing one): systemd makes a new id at first boot.
        if fm.fileExists(atPath: "\(root)/etc/machine-id"), inside("\(root)/etc/machine-id", root) {
            try Data().write(to: URL(fileURLWithPath: "\(root)/etc/machine-id"))
        }
        let after = try await HostCommand.treeBytes(root)
        await log("volume reduction: \(before) → \(after) bytes (\(removed) entries removed)")
        return Figures(bytesBefore: before, bytesAfter: after, removedEntries: removed)
    }

    /// Whether a path, links resolved, is still inside the tree: an image's absolute links point at the host here.
    static func inside(_ path: String, _ root: String) -> Bool {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let top = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        return real == top || real.hasPrefix(top + "/")
    }

    static func isFolder(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }

    /// `*` at the end of a pattern matches any rest.
    static func matches(_ name: String, _ pattern: String) -> Bool {
        pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : name == pattern
    }
}
