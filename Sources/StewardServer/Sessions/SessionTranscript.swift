import Foundation
import StewardKit

/// A session's output as an asciicast v2 file (``Asciicast``), written as it happens.
final class SessionTranscript {
    let path: String
    private var cast: Asciicast
    private var handle: FileHandle?

    /// Creates the file (mode 0600) with its header.
    init(path: String, start: Double, cols: Int, rows: Int, term: String, title: String) throws {
        self.path = path
        cast = Asciicast(start: start)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw AWSError.internalError("cannot create the session transcript \(path)") }
        self.handle = handle
        write(cast.header(cols: cols, rows: rows, term: term, title: title))
    }

    func output(_ bytes: [UInt8], at time: Double) {
        if let line = cast.output(bytes, at: time) { write(line) }
    }

    func resize(cols: Int, rows: Int, at time: Double) {
        write(cast.resize(cols: cols, rows: rows, at: time))
    }

    func close(at time: Double) {
        if let line = cast.finish(at: time) { write(line) }
        try? handle?.synchronize()
        try? handle?.close()
        handle = nil
    }

    private func write(_ line: String) {
        try? handle?.write(contentsOf: Data(line.utf8))
    }
}
