import Foundation
import StewardAgent
import StewardKit

/// `steward session --direct`: the local terminal in raw mode, moved over a direct connection to a shell the node
/// opens after checking the grant itself.
struct DirectSessionClient {
    let client: DirectClient
    let command: String?

    func run() async throws -> DirectClient.SessionOutcome {
        let size = TerminalMode.size(of: 1) ?? TerminalMode.size(of: 0) ?? (80, 24)
        let term = ProcessInfo.processInfo.environment["TERM"].flatMap { $0.isEmpty ? nil : $0 } ?? "xterm-256color"
        let (events, send) = AsyncStream<SessionMessage>.makeStream(bufferingPolicy: .unbounded)
        let mode = TerminalMode(fd: 0)
        defer { mode?.restore() }
        let signals = SignalWatch(mode: mode)
        defer { signals.stop() }
        let resizeStream = signals.resizes
        let keys = Task {
            for await chunk in StandardInput.chunks() { send.yield(.input("", chunk)) }
            // Input ended (it was not a terminal): the remote terminal's end-of-file character follows it.
            send.yield(.input("", [4]))
        }
        let resizes = Task {
            for await (cols, rows) in resizeStream { send.yield(SessionMessage(.resize, sessionId: "", cols: cols, rows: rows)) }
        }
        defer {
            keys.cancel()
            resizes.cancel()
            send.finish()
        }
        return try await client.session(
            DirectClient.Terminal(term: term, cols: size.cols, rows: size.rows, command: command), events: events,
            output: { StandardOutput.write($0) })
    }
}
