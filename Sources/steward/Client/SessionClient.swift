import Foundation
import Logging
import NIOCore
import StewardKit
import Synchronization
import WSClient

#if canImport(Glibc)
    import Glibc
#endif

/// The operator's end of an interactive session: connects to the session's stream with its token, puts the local
/// terminal in raw mode, and moves keys, resizes and output until the remote shell ends.
struct SessionClient {
    struct Ended: Sendable {
        /// The remote shell's exit status, when it exited.
        var exitCode: Int?
        var reason: String?
    }

    let sessionId: String
    let streamURL: String
    let token: String

    /// Runs the session; the local terminal is restored however it ends.
    func run() async throws -> Ended {
        let size = TerminalMode.size(of: 1) ?? TerminalMode.size(of: 0) ?? (80, 24)
        let term = ProcessInfo.processInfo.environment["TERM"].flatMap { $0.isEmpty ? nil : $0 } ?? "xterm-256color"
        let hello = SessionStreamHello(token: token, term: term, cols: size.cols, rows: size.rows)
        let mode = TerminalMode(fd: 0)
        defer { mode?.restore() }
        let signals = SignalWatch(mode: mode)
        defer { signals.stop() }

        let sessionId = self.sessionId
        let resizeStream = signals.resizes
        let ended = Outcome()
        var logger = Logger(label: "steward.session")
        logger.logLevel = .critical
        let config = WebSocketClientConfiguration(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(20)))
        do {
            try await WebSocketClient.connect(url: streamURL, configuration: config, logger: logger) { inbound, outbound, _ in
                try await outbound.write(.text(String(decoding: try JSONEncoder().encode(hello), as: UTF8.self)))
                let keys = Task {
                    for await chunk in StandardInput.chunks() {
                        try await outbound.write(.binary(ByteBuffer(bytes: chunk)))
                    }
                    // Input ended (it was not a terminal): the remote terminal's end-of-file character follows it.
                    try await outbound.write(.binary(ByteBuffer(bytes: [4])))
                }
                let resizes = Task {
                    for await (cols, rows) in resizeStream {
                        let message = SessionMessage(.resize, sessionId: sessionId, cols: cols, rows: rows)
                        try await outbound.write(.text(String(decoding: try JSONEncoder().encode(message), as: UTF8.self)))
                    }
                }
                defer {
                    keys.cancel()
                    resizes.cancel()
                }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    switch message {
                    case .binary(let buffer):
                        StandardOutput.write(Array(buffer.readableBytesView))
                    case .text(let text):
                        guard let control = try? JSONDecoder().decode(SessionMessage.self, from: Data(text.utf8)), control.kind == .exit
                        else { continue }
                        ended.value.withLock { $0 = Ended(exitCode: control.exitCode, reason: control.reason) }
                        try? await outbound.close(.normalClosure, reason: nil)
                        return
                    }
                }
            }
        } catch {
            if let outcome = ended.value.withLock({ $0 }) { return outcome }
            throw CLIError("the session's stream failed: \(error)")
        }
        return ended.value.withLock { $0 } ?? Ended(exitCode: nil, reason: "the server closed the session's stream")
    }
}

/// How the session ended, set by the connection's handler.
final class Outcome: Sendable {
    let value = Mutex<SessionClient.Ended?>(nil)
}

/// SIGWINCH becomes a stream of terminal sizes; SIGTERM and SIGHUP restore the terminal before the process ends.
final class SignalWatch {
    let resizes: AsyncStream<(Int, Int)>
    private let sources: [any DispatchSourceSignal]

    init(mode: TerminalMode?) {
        let (stream, continuation) = AsyncStream<(Int, Int)>.makeStream(bufferingPolicy: .bufferingNewest(1))
        resizes = stream
        let queue = DispatchQueue(label: "steward.session.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGWINCH, SIGTERM, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if number == SIGWINCH {
                    if let size = TerminalMode.size(of: 1) ?? TerminalMode.size(of: 0) { continuation.yield(size) }
                } else {
                    mode?.restore()
                    exit(128 + number)
                }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func stop() {
        for source in sources { source.cancel() }
    }
}

/// Standard input in chunks as they arrive, read on a thread of its own (a blocking read must not hold one of the
/// concurrency pool's threads).
enum StandardInput {
    static func chunks() -> AsyncStream<[UInt8]> {
        AsyncStream { continuation in
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = read(0, &buffer, buffer.count)
                    if n > 0 {
                        continuation.yield(Array(buffer[0..<n]))
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
                continuation.finish()
            }
            thread.start()
        }
    }
}

enum StandardOutput {
    static func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(1, $0.baseAddress!, $0.count) }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
