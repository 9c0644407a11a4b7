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

/// How a child process ended.
public struct ProcessOutcome: Sendable {
    public var exitCode: Int32
    public var timedOut: Bool
    public var cancelled: Bool
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
}

/// Runs one child process in its own process group, capturing its output.
///
/// Timeouts and cancellation end the whole group (SIGTERM, then SIGKILL two seconds later),
/// so a script's own children do not outlive it.
public enum ChildProcess {
    public static func run(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String?,
        timeout: Duration?, outputLimit: Int = 1 << 20, onStart: (@Sendable (Int32) -> Void)? = nil,
        onOutput: (@Sendable (_ bytes: [UInt8], _ isStandardError: Bool) -> Void)? = nil
    ) async throws -> ProcessOutcome {
        let control = Control()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ProcessOutcome, any Error>) in
                // A thread of its own: the wait blocks, and must not hold one of the concurrency pool's few threads.
                startThread {
                    do {
                        let outcome = try runBlocking(
                            executable: executable, arguments: arguments, environment: environment,
                            workingDirectory: workingDirectory, timeout: timeout, outputLimit: outputLimit, control: control,
                            onStart: onStart, onOutput: onOutput)
                        continuation.resume(returning: outcome)
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        } onCancel: {
            control.cancel()
        }
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    final class Control: Sendable {
        private let cancelled = Atomic<Bool>(false)
        func cancel() { cancelled.store(true, ordering: .relaxed) }
        var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
    }

    final class ThreadBody {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts a detached POSIX thread with a small stack.
    public static func startThread(_ body: @escaping @Sendable () -> Void) {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, 256 * 1024)
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attr,
            { context in
                Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
        if rc != 0 {
            Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue().run()
        }
    }

    static func runBlocking(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String?,
        timeout: Duration?, outputLimit: Int, control: Control, onStart: (@Sendable (Int32) -> Void)? = nil,
        onOutput: (@Sendable (_ bytes: [UInt8], _ isStandardError: Bool) -> Void)? = nil
    ) throws -> ProcessOutcome {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw SpawnError(description: "pipe failed: \(errno)") }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Nothing else of the agent's (its sockets above all) may leak into the child, or a script that
        // outlives the agent keeps the agent's connection open.
        _ = spawnAddCloseFrom(&actions, 3)
        if let dir = workingDirectory, !dir.isEmpty { _ = spawnAddChdir(&actions, dir) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&defaults, sig) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let programArguments = [executable] + arguments
        let argv = programArguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw SpawnError(description: "could not start \(executable): \(String(cString: strerror(rc)))")
        }

        onStart?(pid)
        let start = ContinuousClock.now
        let deadline = timeout.map { start + $0 }
        var out = Capture(limit: outputLimit)
        var err = Capture(limit: outputLimit)
        var openFDs: [Int32] = [outPipe[0], errPipe[0]]
        var status: Int32 = 0
        var exited = false
        var exitTime: ContinuousClock.Instant?
        var termSent: ContinuousClock.Instant?
        var timedOut = false
        var cancelled = false
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var idleWaits: UInt32 = 0

        while true {
            if !exited {
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid {
                    exited = true
                    exitTime = .now
                }
            }
            if exited {
                // Drain what the process wrote; stop if a background child keeps the pipe open.
                if openFDs.isEmpty || ContinuousClock.now - exitTime! > .milliseconds(300) { break }
            }
            if !exited {
                let now = ContinuousClock.now
                if termSent == nil {
                    if control.isCancelled {
                        cancelled = true
                        killpg(pid, SIGTERM)
                        termSent = now
                    } else if let deadline, now >= deadline {
                        timedOut = true
                        killpg(pid, SIGTERM)
                        termSent = now
                    }
                } else if now - termSent! > .seconds(2) {
                    killpg(pid, SIGKILL)
                }
            }
            if openFDs.isEmpty {
                // Both pipes are closed, so the exit is moments away: look again soon, then less often.
                usleep(min(2_000, 50 << min(idleWaits, 6)))
                idleWaits += 1
                continue
            }
            var fds = openFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), exited ? 20 : 50)
            if ready <= 0 { continue }
            for p in fds where p.revents != 0 {
                let n = read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    onOutput?(Array(buffer[0..<n]), p.fd == errPipe[0])
                    if p.fd == outPipe[0] { out.append(buffer[0..<n]) } else { err.append(buffer[0..<n]) }
                } else if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                    openFDs.removeAll { $0 == p.fd }
                }
            }
        }
        close(outPipe[0])
        close(errPipe[0])
        if termSent != nil || timedOut || cancelled { killpg(pid, SIGKILL) }
        if !exited { waitpid(pid, &status, 0) }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessOutcome(
            exitCode: code, timedOut: timedOut, cancelled: cancelled, stdout: out.bytes, stderr: err.bytes,
            stdoutTruncated: out.truncated, stderrTruncated: err.truncated)
    }

    struct Capture {
        let limit: Int
        var bytes: [UInt8] = []
        var truncated = false
        init(limit: Int) { self.limit = limit }
        mutating func append(_ chunk: ArraySlice<UInt8>) {
            let room = limit - bytes.count
            if room <= 0 {
                truncated = true
                return
            }
            if chunk.count > room {
                bytes += chunk.prefix(room)
                truncated = true
            } else {
                bytes += chunk
            }
        }
    }
}

// glibc (2.29 and 2.34 on) has these, but its headers do not show them to Swift.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func spawnAddChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32
