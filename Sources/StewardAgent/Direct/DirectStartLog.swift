import Crypto
import StewardKit
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The durable note that a direct task is about to run, made with one `fdatasync` on the operator's critical path.
///
/// A file of fixed size, filled with zeros once, so that appending a record overwrites blocks the file already owns:
/// the flush writes data only, without the file-system journal commits that creating, renaming and syncing a file and
/// its folder cost. Each record is framed with the log's generation and a checksum; a record is followed by zeros, so a
/// scan stops at the end of what was written, and a torn last record fails its checksum.
///
/// Records: `started` (flushed before the task runs) and `delivered` (written when the control plane acknowledged the
/// task's record, not flushed). After a crash, a task that started and was neither delivered nor recorded in the
/// outbox is the one that was cut short. A `delivered` that did not reach the disk at worst sends such a task's record
/// twice, which the control plane ignores (it keeps one record per command id).
final class DirectStartLog: Sendable {
    static let size = 1 << 20
    static let magic: [UInt8] = Array("SDL1".utf8)
    static let headerSize = 4 + 8 + 1 + 4 + 8

    enum Kind: UInt8 {
        case started = 1
        case delivered = 2
    }

    let path: String
    private struct State {
        var fd: Int32
        var generation: UInt64
        var offset: Int
        /// Tasks that started and have not ended, written again whenever the log starts over.
        var running: [String: Data] = [:]
        /// Tasks started in this generation (only their delivery is worth a record).
        var logged: Set<String> = []
    }
    private let state: Mutex<State>
    /// Flushes the records of finished tasks (written without a flush), before the log forgets their start.
    private let flushOutbox: @Sendable () throws -> Void

    /// Opens the log, creating it (zero-filled and flushed, with its folder) when it does not exist.
    init(path: String, flushOutbox: @escaping @Sendable () throws -> Void = {}) throws {
        self.path = path
        self.flushOutbox = flushOutbox
        var fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 {
            fd = try Self.create(path)
        }
        var info = stat()
        if fstat(fd, &info) != 0 || Int(info.st_size) < Self.size {
            close(fd)
            fd = try Self.create(path)
        }
        state = Mutex(State(fd: fd, generation: 0, offset: 0))
    }

    deinit { state.withLock { _ = close($0.fd) } }

    /// The records in the log, in order: what the last process wrote before it stopped.
    func records() -> [(kind: Kind, payload: Data)] {
        state.withLock { s in
            var result: [(Kind, Data)] = []
            var offset = 0
            var generation: UInt64?
            while offset + Self.headerSize <= Self.size {
                var header = [UInt8](repeating: 0, count: Self.headerSize)
                guard pread(s.fd, &header, header.count, off_t(offset)) == header.count, Array(header[0..<4]) == Self.magic else { break }
                let gen = header[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                guard generation == nil || generation == gen, let kind = Kind(rawValue: header[12]) else { break }
                let length = header[13..<17].reduce(0) { $0 << 8 | Int($1) }
                guard length >= 0, offset + Self.headerSize + length <= Self.size else { break }
                var payload = [UInt8](repeating: 0, count: length)
                guard length == 0 || pread(s.fd, &payload, length, off_t(offset + Self.headerSize)) == length,
                    Array(header[17..<25]) == Self.checksum(kind: kind.rawValue, generation: gen, payload)
                else { break }
                generation = gen
                result.append((kind, Data(payload)))
                offset += Self.headerSize + length
            }
            return result
        }
    }

    /// Starts a new generation: what the log held is no longer needed (the caller made it durable elsewhere).
    func reset() throws {
        try state.withLock { s in try Self.startOver(&s) }
    }

    /// Notes, durably, that the task of `record` is about to run. False when the record is too large for the log
    /// (the caller keeps it another way).
    func started(_ commandId: String, _ payload: Data) throws -> Bool {
        try state.withLock { s in
            if s.generation == 0 { try Self.startOver(&s) }
            let length = Self.headerSize + payload.count
            guard length + 4 <= Self.size / 2 else { return false }
            if s.offset + length + 4 > Self.size {
                // Full: everything the finished tasks wrote goes to disk, then the log starts over with the running ones.
                try flushOutbox()
                try Self.startOver(&s)
            }
            let frame = Self.frame(.started, generation: s.generation, payload)
            try Self.write(frame, at: s.offset, fd: s.fd)
            guard fdatasync(s.fd) == 0 else { throw AgentError("cannot flush \(path): \(String(cString: strerror(errno)))") }
            s.offset += frame.count
            s.running[commandId] = payload
            s.logged.insert(commandId)
            return true
        }
    }

    /// The task's own record is now in the outbox: the log no longer needs to carry it into a new generation.
    func finished(_ commandId: String) {
        state.withLock { _ = $0.running.removeValue(forKey: commandId) }
    }

    /// The control plane has the task's record (not flushed: see the type's comment).
    func delivered(_ commandId: String) {
        state.withLock { s in
            guard s.logged.contains(commandId) else { return }
            let frame = Self.frame(.delivered, generation: s.generation, Data(commandId.utf8))
            guard s.offset + frame.count + 4 <= Self.size, (try? Self.write(frame, at: s.offset, fd: s.fd)) != nil else { return }
            s.offset += frame.count
            s.logged.remove(commandId)
        }
    }

    private static func startOver(_ s: inout State) throws {
        var rng = SystemRandomNumberGenerator()
        s.generation = UInt64.random(in: 1...UInt64.max, using: &rng)
        s.offset = 0
        s.logged = []
        try write([], at: 0, fd: s.fd)
        for (id, payload) in s.running {
            let frame = frame(.started, generation: s.generation, payload)
            guard s.offset + frame.count + 4 <= size else { break }
            try write(frame, at: s.offset, fd: s.fd)
            s.offset += frame.count
            s.logged.insert(id)
        }
        guard fdatasync(s.fd) == 0 else { throw AgentError("cannot flush the direct start log: \(String(cString: strerror(errno)))") }
    }

    /// Writes a frame followed by four zero bytes, the end mark.
    private static func write(_ frame: [UInt8], at offset: Int, fd: Int32) throws {
        let bytes = frame + [0, 0, 0, 0]
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, off_t(offset + done)) }
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                throw AgentError("cannot write the direct start log: \(String(cString: strerror(errno)))")
            }
        }
    }

    static func frame(_ kind: Kind, generation: UInt64, _ payload: Data) -> [UInt8] {
        var frame = magic
        for i in (0..<8).reversed() { frame.append(UInt8(generation >> (8 * UInt64(i)) & 0xFF)) }
        frame.append(kind.rawValue)
        let n = payload.count
        frame += [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        frame += checksum(kind: kind.rawValue, generation: generation, Array(payload))
        frame += payload
        return frame
    }

    static func checksum(kind: UInt8, generation: UInt64, _ payload: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [kind])
        withUnsafeBytes(of: generation.bigEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(data: payload)
        return Array(hasher.finalize().prefix(8))
    }

    /// A zero-filled file of ``size`` bytes whose blocks and name are on disk.
    private static func create(_ path: String) throws -> Int32 {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AgentError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let zeros = [UInt8](repeating: 0, count: 64 << 10)
        var offset = 0
        while offset < size {
            let n = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, off_t(offset)) }
            guard n > 0 else {
                close(fd)
                throw AgentError("cannot fill \(tmp): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        guard fsync(fd) == 0, rename(tmp, path) == 0 else {
            close(fd)
            throw AgentError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let folder = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let dir = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
        return fd
    }
}
