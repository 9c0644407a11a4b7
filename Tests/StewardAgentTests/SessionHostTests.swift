import Foundation
import Logging
import Testing

@testable import StewardAgent
@testable import StewardKit

/// The session host on its own, driven by messages as any transport would drive it.
@Suite("Interactive sessions on a pseudo-terminal")
struct SessionHostTests {
    /// Collects a host's messages for one session: output (acknowledged as read, like a transport would) and exit.
    actor Screen {
        var text = ""
        var exit: SessionMessage?
        var opened = false

        func take(_ message: SessionMessage) {
            switch message.kind {
            case .output: text += String(decoding: message.bytes, as: UTF8.self)
            case .exit: exit = message
            case .opened: opened = true
            default: break
            }
        }
    }

    func host() -> (SessionHost, Screen, Task<Void, Never>) {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let host = SessionHost(logger: logger)
        let screen = Screen()
        let reader = Task {
            for await message in host.messages {
                await screen.take(message)
                if message.kind == .output, let offset = message.offset {
                    host.receive(SessionMessage(.ack, sessionId: message.sessionId, offset: offset + message.bytes.count))
                }
            }
        }
        return (host, screen, reader)
    }

    func request(_ id: String, command: String? = nil, cols: Int = 80, rows: Int = 24, notAfter: Double? = nil) -> SessionOpenRequest {
        SessionOpenRequest(
            sessionId: id, instanceId: "mi-0123456789abcdef0", notAfter: notAfter ?? Date().timeIntervalSince1970 + 30,
            term: "xterm", cols: cols, rows: rows, owner: "test", command: command)
    }

    func wait(_ screen: Screen, timeout: Duration = .seconds(15), until: @Sendable (String, SessionMessage?) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if until(await screen.text, await screen.exit) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out; screen so far: \(await screen.text)")
    }

    @Test("typed input reaches the shell, output comes back, and the exit status is reported")
    func typeAndExit() async throws {
        let (host, screen, reader) = host()
        defer { reader.cancel() }
        host.open(request("s1", command: "read line; echo got-$line; exit 4"))
        host.receive(.input("s1", Array("abc\r".utf8)))
        try await wait(screen) { _, exit in exit != nil }
        #expect(await screen.opened)
        #expect(await screen.text.contains("got-abc"))
        #expect(await screen.exit?.exitCode == 4)
        #expect(host.count == 0)
    }

    @Test("the terminal has the requested size and follows a resize")
    func resize() async throws {
        let (host, screen, reader) = host()
        defer { reader.cancel() }
        host.open(request("s2", command: "stty size; read x; stty size", cols: 91, rows: 27))
        try await wait(screen) { text, _ in text.contains("27 91") }
        host.receive(SessionMessage(.resize, sessionId: "s2", cols: 132, rows: 43))
        host.receive(.input("s2", Array("\r".utf8)))
        try await wait(screen) { _, exit in exit != nil }
        #expect(await screen.text.contains("43 132"))
    }

    @Test("Ctrl-C typed into the terminal interrupts the foreground job, not the session")
    func interrupt() async throws {
        let (host, screen, reader) = host()
        defer { reader.cancel() }
        host.open(request("s3", command: "trap 'echo trapped-int; exit 9' INT; echo ready; while :; do sleep 0.05; done"))
        try await wait(screen) { text, _ in text.contains("ready") }
        host.receive(.input("s3", [3]))
        try await wait(screen) { _, exit in exit != nil }
        #expect(await screen.text.contains("trapped-int"))
        #expect(await screen.exit?.exitCode == 9)
    }

    @Test("closing a session kills its whole process group, background jobs included")
    func closeKillsGroup() async throws {
        let (host, screen, reader) = host()
        defer { reader.cancel() }
        let marker = "sleep 7\(Int.random(in: 100...999)).25"
        host.open(request("s4", command: "\(marker) & echo started; wait"))
        try await wait(screen) { text, _ in text.contains("started") }
        try await Task.sleep(for: .milliseconds(200))
        #expect(Self.processes(named: marker) > 0)
        host.receive(SessionMessage(.close, sessionId: "s4"))
        try await wait(screen) { _, exit in exit != nil }
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.processes(named: marker) == 0)
    }

    @Test("an open request is honoured once, and not after it expired")
    func replayAndExpiry() async throws {
        let (host, screen, reader) = host()
        defer { reader.cancel() }
        host.open(request("s5", command: "exit 0", notAfter: Date().timeIntervalSince1970 - 1))
        try await wait(screen) { _, exit in exit != nil }
        #expect(await screen.exit?.reason?.contains("expired") == true)
        host.open(request("s5", command: "exit 0"))
        try await Task.sleep(for: .milliseconds(200))
        #expect(host.count == 0)
    }

    @Test("a shell that prints without pause is held at the window until its output is acknowledged")
    func flowControl() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let host = SessionHost(logger: logger)
        let received = Counter()
        let reader = Task {
            for await message in host.messages where message.kind == .output {
                await received.add(message.bytes.count)
            }
        }
        defer { reader.cancel() }
        host.open(request("s6", command: "yes steward"))
        try await Task.sleep(for: .milliseconds(800))
        let held = await received.value
        #expect(held <= PseudoTerminal.window + 16 * 1024)
        #expect(held > 0)
        host.receive(SessionMessage(.ack, sessionId: "s6", offset: held))
        try await Task.sleep(for: .milliseconds(500))
        #expect(await received.value > held)
        host.receive(SessionMessage(.close, sessionId: "s6"))
    }

    actor Counter {
        var value = 0
        func add(_ n: Int) { value += n }
    }

    /// How many processes run with this exact command line.
    static func processes(named commandLine: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { entry in
            guard entry.allSatisfy(\.isNumber), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else {
                return false
            }
            return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") == commandLine
        }.count
    }
}
