import StewardRunner
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

/// A program on a pseudo-terminal of its own, in a session of its own (so the terminal is its controlling terminal,
/// Ctrl-C typed into it interrupts its foreground job, and closing it hangs the whole session up).
///
/// One thread per terminal moves the bytes: what the program writes goes to `onOutput` while fewer than `window`
/// bytes wait for ``consumed(upTo:)``; typed bytes are written as the terminal takes them. `onExit` is called once,
/// after the last output, with the exit status (128 + the signal number when a signal ended it).
public final class PseudoTerminal: Sendable {
    public struct Program: Sendable {
        /// The executable's path, and the arguments with the name the program sees first (`-bash` for a login shell).
        public var path: String
        public var arguments: [String]
        public var environment: [String: String]
        public var workingDirectory: String

        public init(path: String, arguments: [String], environment: [String: String], workingDirectory: String) {
            self.path = path
            self.arguments = arguments
            self.environment = environment
            self.workingDirectory = workingDirectory
        }
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Output bytes that may wait for the reader before the program is paused (its writes then block).
    public static let window = 256 * 1024

    public let pid: pid_t
    private let master: Int32
    /// Written to wake the thread when there is input, an acknowledgement or a request to end.
    private let wakeWrite: Int32
    private let wakeRead: Int32
    private let state = Mutex(State())

    private struct State {
        var pendingInput: [UInt8] = []
        var consumed = 0
        var terminateRequested = false
        var closed = false
    }

    /// Starts `program` on a new terminal of `cols` × `rows`.
    public init(
        _ program: Program, cols: Int, rows: Int, onOutput: @escaping @Sendable ([UInt8]) -> Void,
        onExit: @escaping @Sendable (Int32) -> Void
    ) throws {
        let master = terminalOpenMaster(O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw StartError(description: "cannot open a pseudo-terminal: \(Self.errnoText())") }
        var nameBuffer = [CChar](repeating: 0, count: 128)
        guard terminalGrant(master) == 0, terminalUnlock(master) == 0, terminalName(master, &nameBuffer, nameBuffer.count) == 0 else {
            close(master)
            throw StartError(description: "cannot prepare the pseudo-terminal: \(Self.errnoText())")
        }
        let slavePath = String(decoding: nameBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        Self.setSize(master, cols: cols, rows: rows)
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)

        var wake: [Int32] = [0, 0]
        guard pipe(&wake) == 0 else {
            close(master)
            throw StartError(description: "cannot create a pipe: \(Self.errnoText())")
        }
        for fd in wake {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }

        do {
            self.pid = try Self.spawn(program, terminal: slavePath)
        } catch {
            close(master)
            close(wake[0])
            close(wake[1])
            throw error
        }
        self.master = master
        self.wakeRead = wake[0]
        self.wakeWrite = wake[1]
        ChildProcess.startThread { [self] in pump(onOutput: onOutput, onExit: onExit) }
    }

    /// Queues typed bytes for the program.
    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let accepted = state.withLock { s -> Bool in
            guard !s.closed, s.pendingInput.count < 1 << 20 else { return false }
            s.pendingInput += bytes
            return true
        }
        if accepted { wake() }
    }

    /// The terminal's new size; the kernel tells the foreground job with SIGWINCH.
    public func resize(cols: Int, rows: Int) {
        whileOpen { Self.setSize(master, cols: cols, rows: rows) }
    }

    /// Sends a signal to the terminal's foreground process group (the job the operator sees).
    public func signal(_ number: Int32) {
        whileOpen {
            let group = tcgetpgrp(master)
            kill(group > 0 ? -group : -pid, number)
        }
    }

    /// The reader has taken the output up to `offset` (counted from the first byte); more may follow.
    public func consumed(upTo offset: Int) {
        state.withLock { $0.consumed = max($0.consumed, offset) }
        wake()
    }

    /// Ends the program and everything it started: the session is hung up, and killed two seconds later.
    public func terminate() {
        state.withLock { $0.terminateRequested = true }
        wake()
    }

    private func wake() {
        whileOpen {
            var byte: UInt8 = 1
            _ = Glibc.write(wakeWrite, &byte, 1)
        }
    }

    /// Runs `body` only while the descriptors are open; they are closed under the same lock, so a number the
    /// kernel has given to another file since is never touched.
    private func whileOpen(_ body: () -> Void) {
        state.withLock { s in
            if !s.closed { body() }
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    private static func setSize(_ fd: Int32, cols: Int, rows: Int) {
        var size = winsize(
            ws_row: UInt16(clamping: max(1, rows)), ws_col: UInt16(clamping: max(1, cols)), ws_xpixel: 0, ws_ypixel: 0)
        _ = withUnsafeMutablePointer(to: &size) { ioctl(fd, UInt(TIOCSWINSZ), $0) }
    }

    /// posix_spawn in a new session whose first terminal, opened as fd 0, becomes its controlling terminal.
    private static func spawn(_ program: Program, terminal: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, terminal, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        // None of the agent's descriptors (its channel above all) may reach the shell.
        _ = terminalSpawnCloseFrom(&actions, 3)
        _ = terminalSpawnChdir(&actions, program.workingDirectory)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGWINCH, SIGTSTP, SIGTTIN, SIGTTOU] { sigaddset(&defaults, sig) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setsigmask(&attr, &mask)
        let setsid: Int32 = 0x80  // POSIX_SPAWN_SETSID (glibc 2.26)
        posix_spawnattr_setflags(&attr, Int16(setsid | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = program.arguments.map { strdup($0) } + [nil]
        let envp = program.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program.path, &actions, &attr, argv, envp)
        guard rc == 0 else { throw StartError(description: "cannot start \(program.path): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// The thread's loop: output out (within the window), input in, until the program has exited and its output is read.
    private func pump(onOutput: @Sendable ([UInt8]) -> Void, onExit: @Sendable (Int32) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var produced = 0
        var masterOpen = true
        var exitStatus: Int32?
        var exitedAt: ContinuousClock.Instant?
        var hungUpAt: ContinuousClock.Instant?
        while true {
            if exitStatus == nil {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    exitStatus = Self.exitCode(status)
                    exitedAt = .now
                }
            }
            if let exitedAt {
                // The output the program wrote before it ended is delivered; a background job that keeps the
                // terminal open does not hold the session.
                if !masterOpen || ContinuousClock.now - exitedAt > .milliseconds(300) { break }
            }
            let (input, consumed, terminate) = state.withLock { ($0.pendingInput, $0.consumed, $0.terminateRequested) }
            if terminate && exitStatus == nil {
                if hungUpAt == nil {
                    hungUpAt = .now
                    let group = tcgetpgrp(master)
                    if group > 0 { kill(-group, SIGHUP) }
                    kill(-pid, SIGHUP)
                    kill(-pid, SIGCONT)
                } else if ContinuousClock.now - hungUpAt! > .seconds(2) {
                    kill(-pid, SIGKILL)
                }
            }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if masterOpen {
                var events: Int16 = 0
                if produced - consumed < Self.window { events |= Int16(POLLIN) }
                if !input.isEmpty { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: master, events: events, revents: 0))
            }
            let ready = poll(&fds, nfds_t(fds.count), exitStatus == nil ? 200 : 20)
            if ready <= 0 { continue }
            if fds[0].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drain, drain.count) > 0 {}
            }
            guard masterOpen, fds.count > 1 else { continue }
            let revents = fds[1].revents
            if revents & Int16(POLLOUT) != 0, !input.isEmpty {
                let n = input.withUnsafeBytes { Glibc.write(master, $0.baseAddress!, $0.count) }
                if n > 0 { state.withLock { $0.pendingInput.removeFirst(min(n, $0.pendingInput.count)) } }
            }
            if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                // A terminal hands out a few KiB per read: what is there now goes out as one chunk, up to the window.
                let room = min(buffer.count, Self.window - (produced - consumed))
                var filled = 0
                while filled < room {
                    let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress! + filled, room - filled) }
                    if n > 0 {
                        filled += n
                    } else {
                        if n == 0 || (errno != EAGAIN && errno != EINTR) {
                            // EIO: every holder of the terminal's other end has closed it.
                            masterOpen = false
                        }
                        break
                    }
                }
                if filled > 0 {
                    produced += filled
                    onOutput(Array(buffer[0..<filled]))
                }
            }
        }
        state.withLock {
            $0.closed = true
            $0.pendingInput = []
            // Whatever the shell left running in its session is hung up with the terminal.
            close(master)
            close(wakeRead)
            close(wakeWrite)
        }
        kill(-pid, SIGHUP)
        if exitStatus == nil {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitStatus = Self.exitCode(status)
        }
        onExit(exitStatus ?? 255)
    }

    static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func terminalSpawnCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func terminalSpawnChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32

// The pseudo-terminal calls that Glibc's module map leaves out (they need _XOPEN_SOURCE).
@_silgen_name("posix_openpt")
private func terminalOpenMaster(_ flags: Int32) -> Int32

@_silgen_name("grantpt")
private func terminalGrant(_ fd: Int32) -> Int32

@_silgen_name("unlockpt")
private func terminalUnlock(_ fd: Int32) -> Int32

@_silgen_name("ptsname_r")
private func terminalName(_ fd: Int32, _ buffer: UnsafeMutablePointer<CChar>, _ size: Int) -> Int32
