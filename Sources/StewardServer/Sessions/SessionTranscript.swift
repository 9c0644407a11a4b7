import Foundation
import StewardKit

/// A session's output as an asciicast v2 file: a header line, then one `[seconds, "o", text]` line per chunk of output
/// and `[seconds, "r", "COLSxROWS"]` per resize. Input is not recorded (passwords typed at a prompt are not echoed,
/// and so never stored).
final class SessionTranscript {
    let path: String
    private let start: Double
    private var handle: FileHandle?
    /// The start of a UTF-8 sequence that the next chunk completes.
    private var carry: [UInt8] = []

    /// Creates the file (mode 0600) with its header.
    init(path: String, start: Double, cols: Int, rows: Int, term: String, title: String) throws {
        self.path = path
        self.start = start
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw AWSError.internalError("cannot create the session transcript \(path)") }
        self.handle = handle
        let header: JSONValue = [
            "version": 2, "width": JSONValue(cols), "height": JSONValue(rows), "timestamp": JSONValue(Int(start)),
            "title": .string(title), "env": ["TERM": .string(term)],
        ]
        line(header)
    }

    func output(_ bytes: [UInt8], at time: Double) {
        let all = carry + bytes
        let cut = Self.completePrefix(all)
        carry = Array(all[cut...])
        guard cut > 0 else { return }
        line([.number(elapsed(time)), "o", .string(String(decoding: all[..<cut], as: UTF8.self))])
    }

    func resize(cols: Int, rows: Int, at time: Double) {
        line([.number(elapsed(time)), "r", .string("\(cols)x\(rows)")])
    }

    func close(at time: Double) {
        if !carry.isEmpty { line([.number(elapsed(time)), "o", .string(String(decoding: carry, as: UTF8.self))]) }
        carry = []
        try? handle?.synchronize()
        try? handle?.close()
        handle = nil
    }

    private func elapsed(_ time: Double) -> Double { (max(0, time - start) * 1_000_000).rounded() / 1_000_000 }

    private func line(_ value: JSONValue) {
        try? handle?.write(contentsOf: Data((JSONWriter.string(value) + "\n").utf8))
    }

    /// The length of the longest prefix that does not end inside a UTF-8 sequence.
    static func completePrefix(_ bytes: [UInt8]) -> Int {
        var i = bytes.count
        guard !bytes.isEmpty else { return 0 }
        // Look back at most three bytes for the lead byte of an unfinished sequence.
        for back in 1...min(3, bytes.count) {
            let b = bytes[bytes.count - back]
            if b & 0xC0 == 0x80 { continue }  // a continuation byte
            let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            if length > back { i = bytes.count - back }
            break
        }
        return i
    }
}
