import Logging
import StewardKit
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The interactive sessions of one agent, driven by ``SessionMessage``s whatever carries them.
///
/// A transport hands in what the operator's side sent (``open(_:)``, ``receive(_:)``) and forwards ``messages``,
/// in order, to the operator's side. The agent channel is one transport; a direct connection can be another.
public final class SessionHost: Sendable {
    /// At most this many shells at once.
    public static let limit = 64

    public let messages: AsyncStream<SessionMessage>
    private let outbound: AsyncStream<SessionMessage>.Continuation
    private let terminals = Mutex<[String: PseudoTerminal]>([:])
    /// Session ids ever opened here: an open request is honoured once.
    private let seen = Mutex<Set<String>>([])
    private let logger: Logger

    public init(logger: Logger) {
        (messages, outbound) = AsyncStream<SessionMessage>.makeStream(bufferingPolicy: .unbounded)
        self.logger = logger
    }

    public var count: Int { terminals.withLock { $0.count } }

    /// Starts the shell (or command) of an open request; answers `opened`, or `exit` with the reason it could not.
    /// Returns whether the shell started.
    @discardableResult
    public func open(_ request: SessionOpenRequest, now: Double = Date().timeIntervalSince1970) -> Bool {
        let id = request.sessionId
        guard seen.withLock({ $0.insert(id).inserted }) else {
            return refuse(id, "this session was opened before")
        }
        guard request.notAfter > now else {
            return refuse(id, "the open request expired before it arrived")
        }
        guard count < Self.limit else {
            return refuse(id, "the node already runs \(Self.limit) sessions")
        }
        let program = Self.program(term: request.term, command: request.command)
        let offset = Mutex(0)
        do {
            let terminal = try PseudoTerminal(
                program, cols: request.cols, rows: request.rows,
                onOutput: { [outbound] bytes in
                    let start = offset.withLock { o in
                        defer { o += bytes.count }
                        return o
                    }
                    outbound.yield(.output(id, bytes, offset: start))
                },
                onExit: { [weak self] code in self?.ended(id, code: code) })
            terminals.withLock { $0[id] = terminal }
            logger.notice(
                "session started", metadata: ["session": "\(id)", "owner": "\(request.owner)", "pid": "\(terminal.pid)"])
            send(SessionMessage(.opened, sessionId: id))
            return true
        } catch {
            logger.warning("a session could not start", metadata: ["session": "\(id)", "error": "\(error)"])
            return refuse(id, "\(error)")
        }
    }

    private func refuse(_ id: String, _ reason: String) -> Bool {
        send(SessionMessage(.exit, sessionId: id, exitCode: -1, reason: reason))
        return false
    }

    /// Input, resize, signal, ack or close for a running session; anything for an unknown session is answered with
    /// its end, so the other side does not wait for a shell that is gone.
    public func receive(_ message: SessionMessage) {
        guard let terminal = terminals.withLock({ $0[message.sessionId] }) else {
            if message.kind == .close || message.kind == .input {
                send(SessionMessage(.exit, sessionId: message.sessionId, exitCode: -1, reason: "no such session on this node"))
            }
            return
        }
        switch message.kind {
        case .input: terminal.write(message.bytes)
        case .resize: terminal.resize(cols: message.cols ?? 80, rows: message.rows ?? 24)
        case .ack: terminal.consumed(upTo: message.offset ?? 0)
        case .signal:
            if let number = message.signal.flatMap({ SessionMessage.signals[$0.uppercased()] }) { terminal.signal(number) }
        case .close: terminal.terminate()
        case .open, .opened, .output, .exit: break
        }
    }

    /// Ends every session (the agent is stopping, or its transport is gone for good).
    public func terminateAll() {
        for terminal in terminals.withLock({ Array($0.values) }) { terminal.terminate() }
    }

    private func ended(_ id: String, code: Int32) {
        terminals.withLock { _ = $0.removeValue(forKey: id) }
        logger.notice("session ended", metadata: ["session": "\(id)", "exit": "\(code)"])
        send(SessionMessage(.exit, sessionId: id, exitCode: Int(code)))
    }

    private func send(_ message: SessionMessage) { outbound.yield(message) }

    /// A login shell for the agent's user (`$SHELL`, else bash, else sh), or `sh -c command`.
    static func program(term: String, command: String?) -> PseudoTerminal.Program {
        let env = ProcessInfo.processInfo.environment
        let account = getpwuid(getuid())
        let home = account.flatMap { $0.pointee.pw_dir.map { String(cString: $0) } } ?? env["HOME"] ?? "/"
        let user = account.flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? env["USER"] ?? "root"
        let candidates = [env["SHELL"], "/bin/bash", "/bin/sh"].compactMap { $0 }
        let shell = candidates.first { access($0, X_OK) == 0 } ?? "/bin/sh"
        var environment = [
            "TERM": term.isEmpty ? "xterm-256color" : term, "HOME": home, "USER": user, "LOGNAME": user, "SHELL": shell,
            "PATH": env["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        for key in ["LANG", "LC_ALL", "TZ"] { if let value = env[key] { environment[key] = value } }
        let directory = access(home, X_OK) == 0 ? home : "/"
        let name = shell.split(separator: "/").last.map(String.init) ?? "sh"
        if let command, !command.isEmpty {
            return .init(path: shell, arguments: [name, "-c", command], environment: environment, workingDirectory: directory)
        }
        return .init(path: shell, arguments: ["-" + name], environment: environment, workingDirectory: directory)
    }
}
