#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// AWS:File: the files each filter names, with their size and times.
///
/// Names are matched with fnmatch against the file name. Symbolic links to folders are not followed, so a walk
/// cannot loop. FileVersion, ProductVersion and the other Windows attributes are left out: Linux files carry none.
struct FileGatherer: Gatherer {
    var filters: [FileFilter]
    /// The most files one gathering reports; the SSM agent stops at 500, which is little for a server.
    var fileLimit = 10_000
    /// The SSM agent's default for a filter without DirScanLimit.
    static let defaultDirScanLimit = 5_000

    var name: String { "AWS:File" }

    func gather(captureTime: String) async throws -> Gathering {
        var problems: [String] = []
        var seen = Set<String>()
        var content: [[String: String]] = []
        filterLoop: for filter in filters {
            var walk = Walk(filter: filter, limit: fileLimit - content.count)
            walk.run()
            problems += walk.problems
            for file in walk.found {
                let path = file.folder.hasSuffix("/") ? file.folder + file.name : "\(file.folder)/\(file.name)"
                guard seen.insert(path).inserted else { continue }
                content.append([
                    "Name": file.name, "Size": String(file.status.size), "InstalledDir": file.folder,
                    "ModificationTime": Host.iso8601(file.status.modified), "LastAccessTime": Host.iso8601(file.status.accessed),
                ])
            }
            if walk.reachedFileLimit {
                problems.append("stopped at \(fileLimit) files; the files after those are not reported")
                break filterLoop
            }
        }
        return Gathering(
            items: [InventoryItem(typeName: name, schemaVersion: "1.0", captureTime: captureTime, content: content)], problems: problems)
    }

    /// One filter's walk over its folder.
    struct Walk {
        let filter: FileFilter
        let limit: Int
        var found: [(folder: String, name: String, status: Host.FileStatus)] = []
        var problems: [String] = []
        var reachedFileLimit = false
        var foldersRead = 0

        init(filter: FileFilter, limit: Int) {
            var filter = filter
            while filter.path.count > 1, filter.path.hasSuffix("/") { filter.path.removeLast() }
            self.filter = filter
            self.limit = limit
        }

        mutating func run() {
            guard let root = Host.status(filter.path), root.isFolder else {
                problems.append("\(filter.path) is not a folder")
                return
            }
            let folderLimit = filter.dirScanLimit ?? FileGatherer.defaultDirScanLimit
            var pending = [filter.path]
            while let folder = pending.popLast() {
                if foldersRead >= folderLimit {
                    problems.append("\(filter.path): stopped after reading \(folderLimit) folders (DirScanLimit)")
                    return
                }
                foldersRead += 1
                guard let names = Host.listFolder(folder) else {
                    problems.append("cannot read \(folder): \(String(cString: strerror(errno)))")
                    continue
                }
                var subfolders: [String] = []
                for name in names {
                    let path = folder.hasSuffix("/") ? folder + name : "\(folder)/\(name)"
                    guard let own = Host.status(path, followLinks: false) else { continue }
                    if own.isFolder {
                        if filter.recursive { subfolders.append(path) }
                        continue
                    }
                    guard matches(name), let status = own.isLink ? Host.status(path) : own, !status.isFolder else { continue }
                    if found.count >= limit {
                        reachedFileLimit = true
                        return
                    }
                    found.append((folder, name, status))
                }
                // Depth first, in name order: the stack pops the first subfolder next.
                pending += subfolders.reversed()
            }
        }

        func matches(_ name: String) -> Bool {
            filter.patterns.contains { fnmatch($0, name, 0) == 0 }
        }
    }
}
