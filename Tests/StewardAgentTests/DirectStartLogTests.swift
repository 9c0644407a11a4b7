import Crypto
import Foundation
import StewardTestSupport
import Testing

@testable import StewardAgent

#if canImport(Glibc)
    import Glibc
#endif

@Suite("The direct start log")
struct DirectStartLogTests {
    func payload(_ id: String, size: Int = 40) -> Data { Data((id + String(repeating: ".", count: max(0, size - id.count))).utf8) }

    @Test("records survive a reopen in order; a new process's reset forgets them")
    func reopen() throws {
        let path = Scratch.folder("startlog") + "/direct-started.log"
        do {
            let log = try DirectStartLog(path: path)
            #expect(log.records().isEmpty)
            #expect(try log.started("a", payload("a")))
            #expect(try log.started("b", payload("b")))
            log.delivered("a")
            log.delivered("never-started")
        }
        var info = stat()
        #expect(stat(path, &info) == 0 && Int(info.st_size) == DirectStartLog.size)
        let again = try DirectStartLog(path: path)
        let records = again.records()
        #expect(records.map(\.kind) == [.started, .started, .delivered])
        #expect(records.map { String(decoding: $0.payload, as: UTF8.self).prefix(1) } == ["a", "b", "a"])
        try again.reset()
        #expect(again.records().isEmpty)
        #expect(try again.started("c", payload("c")))
        #expect(try DirectStartLog(path: path).records().map(\.kind) == [.started])
    }

    @Test("a torn or stale frame ends the scan: nothing after it is believed")
    func torn() throws {
        let path = Scratch.folder("startlog") + "/direct-started.log"
        let log = try DirectStartLog(path: path)
        #expect(try log.started("a", payload("a")))
        #expect(try log.started("b", payload("b")))
        // Corrupt one byte of the second frame's payload, as a write cut short would.
        let frameSize = DirectStartLog.headerSize + 40
        let fd = open(path, O_WRONLY)
        var byte: UInt8 = 0x41
        #expect(pwrite(fd, &byte, 1, off_t(frameSize + DirectStartLog.headerSize + 5)) == 1)
        close(fd)
        #expect(try DirectStartLog(path: path).records().count == 1)

        // After a reset, frames of the old generation further on are not read as current.
        let fresh = try DirectStartLog(path: path)
        try fresh.reset()
        #expect(try fresh.started("c", payload("c", size: 10)))
        #expect(try DirectStartLog(path: path).records().map { String(decoding: $0.payload, as: UTF8.self).prefix(1) } == ["c"])
    }

    @Test("a full log starts over and carries the tasks still running; a record too large is left to the caller")
    func wraps() throws {
        let path = Scratch.folder("startlog") + "/direct-started.log"
        let log = try DirectStartLog(path: path)
        #expect(try log.started("running", payload("running")))
        let big = 60_000
        for i in 0..<40 {
            #expect(try log.started("t\(i)", payload("t\(i)", size: big)))
            log.finished("t\(i)")
        }
        let records = try DirectStartLog(path: path).records()
        #expect(records.count < 40)
        #expect(records.contains { $0.payload.starts(with: Data("running".utf8)) })
        #expect(
            records.last?.payload.starts(with: Data("t39".utf8)) == true,
            "\(records.map { String(decoding: $0.payload.prefix(8), as: UTF8.self) })")
        #expect(try log.started("huge", payload("huge", size: DirectStartLog.size)) == false)
    }
}
