/// The lines of an asciicast v2 transcript: a header, then `[seconds, "o", text]` per chunk of output and
/// `[seconds, "r", "COLSxROWS"]` per resize. Input is never recorded (passwords typed at a prompt are not echoed,
/// and so never stored). Pure: the caller writes the lines wherever it keeps them.
public struct Asciicast: Sendable {
    public let start: Double
    /// The start of a UTF-8 sequence that the next chunk completes.
    private var carry: [UInt8] = []

    public init(start: Double) { self.start = start }

    /// The header line.
    public func header(cols: Int, rows: Int, term: String, title: String) -> String {
        let header: JSONValue = [
            "version": 2, "width": JSONValue(cols), "height": JSONValue(rows), "timestamp": JSONValue(Int(start)),
            "title": .string(title), "env": ["TERM": .string(term)],
        ]
        return JSONWriter.string(header) + "\n"
    }

    /// The line for a chunk of output, nil while the chunk ends inside a UTF-8 sequence that the next one completes.
    public mutating func output(_ bytes: [UInt8], at time: Double) -> String? {
        let all = carry + bytes
        let cut = Self.completePrefix(all)
        carry = Array(all[cut...])
        guard cut > 0 else { return nil }
        return line([.number(elapsed(time)), "o", .string(String(decoding: all[..<cut], as: UTF8.self))])
    }

    public func resize(cols: Int, rows: Int, at time: Double) -> String {
        line([.number(elapsed(time)), "r", .string("\(cols)x\(rows)")])
    }

    /// A marker (asciicast `m` event), such as a note that recording stopped.
    public func marker(_ text: String, at time: Double) -> String {
        line([.number(elapsed(time)), "m", .string(text)])
    }

    /// What is left of an unfinished UTF-8 sequence, as a last line.
    public mutating func finish(at time: Double) -> String? {
        defer { carry = [] }
        guard !carry.isEmpty else { return nil }
        return line([.number(elapsed(time)), "o", .string(String(decoding: carry, as: UTF8.self))])
    }

    private func elapsed(_ time: Double) -> Double { (max(0, time - start) * 1_000_000).rounded() / 1_000_000 }

    private func line(_ value: JSONValue) -> String { JSONWriter.string(value) + "\n" }

    /// The length of the longest prefix that does not end inside a UTF-8 sequence.
    public static func completePrefix(_ bytes: [UInt8]) -> Int {
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
