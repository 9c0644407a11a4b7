import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The AWSTOE file-system modules. Their inputs are a list of maps; each item is done in order and the first
/// failure ends the step. Outputs of items that have one are joined with line breaks.
enum FileActions {
    static let all: [String: any StepAction] = [
        "CreateFile": Each(CreateFile.perform), "AppendFile": Each(AppendFile.perform), "CreateFolder": Each(CreateFolder.perform),
        "CreateSymlink": Each(CreateSymlink.perform),
        "CopyFile": Each { item, _ throws(FileFailure) in try transferFiles(item, move: false) },
        "MoveFile": Each { item, _ throws(FileFailure) in try transferFiles(item, move: true) },
        "CopyFolder": Each { item, _ throws(FileFailure) in try transferFolder(item, move: false) },
        "MoveFolder": Each { item, _ throws(FileFailure) in try transferFolder(item, move: true) }, "DeleteFile": Each(DeleteFile.perform),
        "DeleteFolder": Each(DeleteFolder.perform), "ReadFile": Each(ReadFile.perform), "ListFiles": Each(ListFiles.perform),
        "SetFilePermissions": Each(SetPermissions.perform), "SetFolderPermissions": Each(SetPermissions.perform),
        "SetFileOwner": Each(SetOwner.perform), "SetFolderOwner": Each(SetOwner.perform),
    ]
}

struct FileFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A file module: each item of its inputs list done in order; the first failure ends the step.
struct Each: StepAction {
    let perform: @Sendable (JSONValue, ActionContext) throws(FileFailure) -> [String: String]

    init(_ perform: @escaping @Sendable (JSONValue, ActionContext) throws(FileFailure) -> [String: String]) {
        self.perform = perform
    }

    func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        let items: [JSONValue]
        switch inputs {
        case .array(let list): items = list
        case .object: items = [inputs]
        default: return .failed("\(context.stepName): inputs must be a list of maps")
        }
        var outputs: [String: [String]] = [:]
        for (i, item) in items.enumerated() {
            do {
                for (key, value) in try perform(item, context) { outputs[key, default: []].append(value) }
            } catch {
                return .failed("inputs[\(i)]: \(error.description)")
            }
        }
        return ActionResult(outputs: outputs.mapValues { .string($0.joined(separator: "\n")) })
    }
}

// MARK: helpers

extension JSONValue {
    func required(_ key: String) throws(FileFailure) -> String {
        guard let v = self[key], !v.isNull, !v.textValue.isEmpty else { throw FileFailure("\(key) is required") }
        return v.textValue
    }

    func flag(_ key: String, default value: Bool) -> Bool {
        switch self[key] {
        case .bool(let b)?: b
        case .string(let s)?: s.lowercased() == "true"
        default: value
        }
    }
}

enum Paths {
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func mode(_ text: String) throws(FileFailure) -> mode_t {
        guard !text.isEmpty, let m = mode_t(text, radix: 8), m <= 0o7777 else {
            throw FileFailure("permissions \(text) is not an octal mode")
        }
        return m
    }

    static func makeParents(of path: String) throws(FileFailure) {
        let parent = PathParts(path: path).parent
        do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw FileFailure("cannot create \(parent): \(error)")
        }
    }

    /// Sources named by a path whose last part may hold wildcards.
    static func expand(_ pattern: String) throws(FileFailure) -> [String] {
        let parent = PathParts(path: pattern).parent
        if parent.contains("*") || parent.contains("?") { throw FileFailure("wildcards are allowed only after the last '/' in \(pattern)") }
        let last = PathParts(path: pattern).last
        guard last.contains("*") || last.contains("?") else { return [pattern] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        return names.filter { fnmatch(last, $0, 0) == 0 }.sorted().map { "\(parent == "/" ? "" : parent)/\($0)" }
    }

    static func owner(_ item: JSONValue) throws(FileFailure) -> (uid_t, gid_t)? {
        let owner = item["owner"]?.textValue ?? ""
        let group = item["group"]?.textValue ?? ""
        if owner.isEmpty && group.isEmpty { return nil }
        var uid = uid_t.max
        var gid = gid_t.max
        if !owner.isEmpty {
            if let n = uid_t(owner) {
                uid = n
            } else if let pw = getpwnam(owner) {
                uid = pw.pointee.pw_uid
            } else {
                throw FileFailure("no such user: \(owner)")
            }
        }
        if !group.isEmpty {
            if let n = gid_t(group) {
                gid = n
            } else if let gr = getgrnam(group) {
                gid = gr.pointee.gr_gid
            } else {
                throw FileFailure("no such group: \(group)")
            }
        }
        return (uid, gid)
    }

    static func chown(_ path: String, _ ids: (uid_t, gid_t)) throws(FileFailure) {
        guard lchown(path, ids.0, ids.1) == 0 else { throw FileFailure("cannot change the owner of \(path): \(errorText())") }
    }

    static func chmod(_ path: String, _ mode: mode_t) throws(FileFailure) {
        guard Glibc.chmod(path, mode) == 0 else { throw FileFailure("cannot change the permissions of \(path): \(errorText())") }
    }

    /// Every path below a folder, relative to it, without following links to folders.
    static func walk(_ root: String) -> [String] {
        var out: [String] = []
        var pending = [""]
        while let rel = pending.popLast() {
            let dir = rel.isEmpty ? root : "\(root)/\(rel)"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                let sub = rel.isEmpty ? name : "\(rel)/\(name)"
                out.append(sub)
                var info = stat()
                if lstat("\(root)/\(sub)", &info) == 0, info.st_mode & S_IFMT == S_IFDIR { pending.append(sub) }
            }
        }
        return out
    }

    static func errorText() -> String { String(cString: strerror(errno)) }

    /// AWSTOE's encoding names; utf-16 and utf-32 are little-endian unless they say otherwise.
    static func encoding(_ name: String) throws(FileFailure) -> String.Encoding {
        switch name.lowercased() {
        case "", "utf8", "utf-8": return .utf8
        case "utf16", "utf-16", "utf-16le", "utf16le": return .utf16LittleEndian
        case "utf-16be", "utf16be": return .utf16BigEndian
        case "utf32", "utf-32", "utf-32le", "utf32le": return .utf32LittleEndian
        case "utf-32be", "utf32be": return .utf32BigEndian
        case "ascii": return .ascii
        default: throw FileFailure("the encoding \(name) is not supported")
        }
    }

    static func encode(_ text: String, _ name: String) throws(FileFailure) -> Data {
        guard let data = text.data(using: try encoding(name)) else { throw FileFailure("the content cannot be written as \(name)") }
        return data
    }

    static func decode(_ data: Data, _ name: String) throws(FileFailure) -> String {
        guard let text = String(data: data, encoding: try encoding(name)) else { throw FileFailure("the file is not \(name) text") }
        return text
    }

    static func write(_ data: Data, to path: String) throws(FileFailure) {
        do { try data.write(to: URL(fileURLWithPath: path)) } catch { throw FileFailure("cannot write \(path): \(error)") }
    }

    static func copy(_ source: String, to destination: String, overwrite: Bool) throws(FileFailure) {
        if exists(destination) {
            guard overwrite else { throw FileFailure("\(destination) exists and overwrite is false") }
            do { try FileManager.default.removeItem(atPath: destination) } catch {
                throw FileFailure("cannot replace \(destination): \(error)")
            }
        }
        do { try FileManager.default.copyItem(atPath: source, toPath: destination) } catch {
            throw FileFailure("cannot copy \(source) to \(destination): \(error)")
        }
    }

    static func move(_ source: String, to destination: String, overwrite: Bool) throws(FileFailure) {
        if exists(destination) {
            guard overwrite else { throw FileFailure("\(destination) exists and overwrite is false") }
            do { try FileManager.default.removeItem(atPath: destination) } catch {
                throw FileFailure("cannot replace \(destination): \(error)")
            }
        }
        if rename(source, destination) == 0 { return }
        try copy(source, to: destination, overwrite: false)
        do { try FileManager.default.removeItem(atPath: source) } catch {
            throw FileFailure("cannot remove \(source) after copying it: \(error)")
        }
    }

    /// Where a file goes: into the folder when the destination ends with `/` or is a folder.
    static func target(_ source: String, _ destination: String) throws(FileFailure) -> String {
        if destination.hasSuffix("/") || FileSystem.kind(destination) == .folder {
            let folder = destination.hasSuffix("/") ? String(destination.dropLast()) : destination
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw FileFailure("cannot create \(folder): \(error)")
            }
            return "\(folder)/\(PathParts(path: source).last)"
        }
        try makeParents(of: destination)
        return destination
    }
}

/// Path arithmetic without NSString.
struct PathParts {
    let path: String
    var parent: String {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let p = String(trimmed[..<slash])
        return p.isEmpty ? "/" : p
    }
    var last: String {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }
}

// MARK: the modules

struct CreateFile {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        if Paths.exists(path), !item.flag("overwrite", default: true) { throw FileFailure("\(path) exists and overwrite is false") }
        try Paths.makeParents(of: path)
        try Paths.write(try Paths.encode(item["content"]?.textValue ?? "", item["encoding"]?.textValue ?? ""), to: path)
        if let p = item["permissions"]?.textValue, !p.isEmpty { try Paths.chmod(path, try Paths.mode(p)) }
        if let ids = try Paths.owner(item) { try Paths.chown(path, ids) }
        return [:]
    }
}

struct AppendFile {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        guard FileSystem.kind(path) == .file else { throw FileFailure("\(path) is not a file") }
        let data = try Paths.encode(item["content"]?.textValue ?? "", item["encoding"]?.textValue ?? "")
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw FileFailure("cannot open \(path): \(Paths.errorText())") }
        defer { close(fd) }
        let ok = data.withUnsafeBytes { buf in buf.count == 0 || Glibc.write(fd, buf.baseAddress!, buf.count) == buf.count }
        guard ok else { throw FileFailure("cannot append to \(path): \(Paths.errorText())") }
        return [:]
    }
}

struct CreateFolder {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        if Paths.exists(path) {
            guard FileSystem.kind(path) == .folder else { throw FileFailure("\(path) exists and is not a folder") }
            guard item.flag("overwrite", default: true) else { throw FileFailure("\(path) exists and overwrite is false") }
        } else {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw FileFailure("cannot create \(path): \(error)")
            }
        }
        if let p = item["permissions"]?.textValue, !p.isEmpty { try Paths.chmod(path, try Paths.mode(p)) }
        if let ids = try Paths.owner(item) { try Paths.chown(path, ids) }
        return [:]
    }
}

struct CreateSymlink {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        let target = try item.required("target")
        if Paths.exists(path) {
            guard item.flag("force", default: false) else { throw FileFailure("\(path) exists and force is false") }
            unlink(path)
        }
        guard symlink(target, path) == 0 else { throw FileFailure("cannot link \(path) to \(target): \(Paths.errorText())") }
        return [:]
    }
}

/// CopyFile and MoveFile: the sources (a wildcard after the last '/'), into a folder or onto a file.
func transferFiles(_ item: JSONValue, move: Bool) throws(FileFailure) -> [String: String] {
    let sources = try Paths.expand(try item.required("source"))
    let destination = try item.required("destination")
    let files = sources.filter { FileSystem.kind($0) == .file }
    guard !files.isEmpty else { throw FileFailure("no file matches \(item["source"]!.textValue)") }
    let overwrite = item.flag("overwrite", default: true)
    for source in files {
        let target = try Paths.target(source, files.count > 1 ? destination + "/" : destination)
        if move {
            try Paths.move(source, to: target, overwrite: overwrite)
        } else {
            try Paths.copy(source, to: target, overwrite: overwrite)
        }
    }
    return [:]
}

/// CopyFolder and MoveFolder.
func transferFolder(_ item: JSONValue, move: Bool) throws(FileFailure) -> [String: String] {
    let source = try item.required("source")
    guard FileSystem.kind(source) == .folder else { throw FileFailure("\(source) is not a folder") }
    let destination = try Paths.target(source, try item.required("destination"))
    let overwrite = item.flag("overwrite", default: true)
    if move {
        try Paths.move(source, to: destination, overwrite: overwrite)
    } else {
        try Paths.copy(source, to: destination, overwrite: overwrite)
    }
    return [:]
}

struct DeleteFile {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let pattern = try item.required("path")
        let files = try Paths.expand(pattern).filter { Paths.exists($0) && FileSystem.kind($0) != .folder }
        if files.isEmpty, !(pattern.contains("*") || pattern.contains("?")) { throw FileFailure("\(pattern) does not exist") }
        for file in files where unlink(file) != 0 { throw FileFailure("cannot delete \(file): \(Paths.errorText())") }
        return [:]
    }
}

struct DeleteFolder {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        guard FileSystem.kind(path) == .folder else { throw FileFailure("\(path) is not a folder") }
        if item.flag("force", default: false) {
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw FileFailure("cannot delete \(path): \(error)")
            }
        } else if rmdir(path) != 0 {
            throw FileFailure("cannot delete \(path): \(Paths.errorText()) (force: true deletes a folder that is not empty)")
        }
        return [:]
    }
}

struct ReadFile {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        guard FileSystem.kind(path) == .file, let data = FileManager.default.contents(atPath: path) else {
            throw FileFailure("\(path) is not a readable file")
        }
        let text = try Paths.decode(data, item["encoding"]?.textValue ?? "")
        if item.flag("printFileContent", default: false) { context.console.write(text.hasSuffix("\n") ? text : text + "\n") }
        return ["content": text]
    }
}

struct ListFiles {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        guard FileSystem.kind(path) == .folder else { throw FileFailure("\(path) is not a folder") }
        let pattern = item["fileNamePattern"]?.textValue ?? ""
        let names: [String]
        if item.flag("recursive", default: false) {
            names = (Paths.walk(path)).filter { FileSystem.kind("\(path)/\($0)") == .file }
        } else {
            names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter {
                FileSystem.kind("\(path)/\($0)") == .file
            }
        }
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        let files = names.filter { pattern.isEmpty || fnmatch(pattern, PathParts(path: $0).last, 0) == 0 }.sorted().map { "\(base)/\($0)" }
        return ["files": files.joined(separator: ",")]
    }
}

struct SetPermissions {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        let mode = try Paths.mode(try item.required("permissions"))
        guard Paths.exists(path) else { throw FileFailure("\(path) does not exist") }
        try Paths.chmod(path, mode)
        if FileSystem.kind(path) == .folder, item.flag("recursive", default: true) {
            for sub in Paths.walk(path) { try Paths.chmod("\(path)/\(sub)", mode) }
        }
        return [:]
    }
}

struct SetOwner {
    static func perform(_ item: JSONValue, context: ActionContext) throws(FileFailure) -> [String: String] {
        let path = try item.required("path")
        _ = try item.required("owner")
        guard Paths.exists(path), let ids = try Paths.owner(item) else { throw FileFailure("\(path) does not exist") }
        try Paths.chown(path, ids)
        if FileSystem.kind(path) == .folder, item.flag("recursive", default: true) {
            for sub in Paths.walk(path) { try Paths.chown("\(path)/\(sub)", ids) }
        }
        return [:]
    }
}
