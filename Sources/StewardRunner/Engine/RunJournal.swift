import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The durable record of one run: `state.json` in the run's folder, replaced whole by fsync and rename on each change,
/// so a crash at any point leaves the previous or the next state, never a torn one.
public struct RunJournal: Sendable {
    /// The folder, or nil for a run kept in memory only (a nested document).
    public let folder: String?
    /// Whether each change is flushed to disk; a run that is never resumed (a direct task) keeps its journal unflushed.
    public let durable: Bool

    public init(folder: String?, durable: Bool = true) {
        self.folder = folder
        self.durable = durable
    }

    public var statePath: String? { folder.map { "\($0)/state.json" } }

    public func save(_ state: RunState) throws {
        guard let folder, let statePath else { return }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try DurableFile.write(try encoder.encode(state), to: statePath, mode: 0o600, sync: durable)
    }

    public func load() throws -> RunState? {
        guard let statePath, let data = FileManager.default.contents(atPath: statePath) else { return nil }
        do { return try JSONDecoder().decode(RunState.self, from: data) } catch {
            throw RunnerError("\(statePath) cannot be read: \(error)")
        }
    }
}

/// Writes a file so that a crash leaves either the old or the new content: temporary file, fsync, rename,
/// and fsync of the folder so the rename itself survives power loss.
public enum DurableFile {
    public static func write(_ data: Data, to path: String, mode: mode_t, sync: Bool = true) throws {
        let tmp = "\(path).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw RunnerError("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var ok = true
        data.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 {
                    if n < 0, errno == EINTR { continue }
                    ok = false
                    break
                }
                off += n
            }
        }
        if sync { ok = ok && fsync(fd) == 0 }
        close(fd)
        guard ok, rename(tmp, path) == 0 else { throw RunnerError("cannot write \(path): \(String(cString: strerror(errno)))") }
        if sync {
            let dir = open(parent(of: path), O_RDONLY | O_CLOEXEC)
            if dir >= 0 {
                fsync(dir)
                close(dir)
            }
        }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let p = String(path[..<slash])
        return p.isEmpty ? "/" : p
    }
}

public struct RunnerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
