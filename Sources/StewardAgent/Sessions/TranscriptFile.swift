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

/// A direct session's transcript on the node (asciicast v2, mode 0600), kept until the control plane has it.
///
/// Recording stops at ``limit`` bytes with a marker, so one noisy session cannot fill the node's disk or outgrow
/// the frame that carries it to the control plane.
final class TranscriptFile: Sendable {
    static let limit = 4 << 20

    let path: String
    private struct State {
        var cast: Asciicast
        var fd: Int32
        var written = 0
        var full = false
    }
    private let state: Mutex<State>

    init(path: String, start: Double, cols: Int, rows: Int, term: String, title: String) throws {
        self.path = path
        let folder = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AgentError("cannot create the transcript \(path): \(String(cString: strerror(errno)))") }
        var initial = State(cast: Asciicast(start: start), fd: fd)
        Self.append(initial.cast.header(cols: cols, rows: rows, term: term, title: title), at: start, to: &initial)
        state = Mutex(initial)
    }

    deinit { state.withLock { if $0.fd >= 0 { Glibc.close($0.fd) } } }

    func output(_ bytes: [UInt8], at time: Double) {
        state.withLock { s in
            if let line = s.cast.output(bytes, at: time) { Self.append(line, at: time, to: &s) }
        }
    }

    func resize(cols: Int, rows: Int, at time: Double) {
        state.withLock { s in Self.append(s.cast.resize(cols: cols, rows: rows, at: time), at: time, to: &s) }
    }

    /// Writes what is pending and flushes the file: the transcript is on disk before the session's record says it ended.
    func close(at time: Double) {
        state.withLock { s in
            guard s.fd >= 0 else { return }
            if let line = s.cast.finish(at: time) { Self.append(line, at: time, to: &s) }
            fsync(s.fd)
            Glibc.close(s.fd)
            s.fd = -1
        }
    }

    private static func append(_ line: String, at time: Double, to s: inout State) {
        guard s.fd >= 0, !s.full else { return }
        var bytes = Array(line.utf8)
        if s.written + bytes.count > limit {
            s.full = true
            bytes = Array(s.cast.marker("transcript limit of \(limit) bytes reached; the rest was not recorded", at: time).utf8)
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(s.fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
        s.written += bytes.count
    }
}
