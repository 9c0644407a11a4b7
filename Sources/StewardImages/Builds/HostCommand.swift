import Foundation
import StewardRunner

/// Why a build stage failed, in a line an operator can act on.
public struct BuildFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a tool of the build host (mke2fs, tar, clamscan, ...) in its own process group; cancelling the task ends it.
public enum HostCommand {
    public static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public struct Result: Sendable {
        public var exitCode: Int32
        public var stdout: String
        public var stderr: String
        /// The standard output as it came, for tools that write binary.
        public var stdoutBytes: [UInt8]
    }

    /// Runs `argv` and answers its exit code and output, whatever the exit code.
    public static func capture(
        _ argv: [String], workingDirectory: String? = nil, timeout: Duration? = nil, environment: [String: String] = [:],
        onOutput: (@Sendable ([UInt8], Bool) -> Void)? = nil
    ) async throws -> Result {
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = path
        env["LC_ALL"] = "C"
        for (k, v) in environment { env[k] = v }
        let executable = argv[0].hasPrefix("/") ? argv[0] : FileSystem.findBinary(argv[0], path: path) ?? argv[0]
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BuildFailure("\(argv[0]) is not installed on the build host")
        }
        let outcome = try await ChildProcess.run(
            executable: executable, arguments: Array(argv.dropFirst()), environment: env, workingDirectory: workingDirectory,
            timeout: timeout, outputLimit: 4 << 20, onOutput: onOutput)
        if outcome.cancelled { throw CancellationError() }
        if outcome.timedOut { throw BuildFailure("`\(argv[0])` timed out") }
        return Result(
            exitCode: outcome.exitCode, stdout: String(decoding: outcome.stdout, as: UTF8.self),
            stderr: String(decoding: outcome.stderr, as: UTF8.self), stdoutBytes: outcome.stdout)
    }

    /// Runs `argv` and answers its standard output; a non-zero exit is a ``BuildFailure`` with the tool's last words.
    @discardableResult
    public static func run(_ argv: [String], workingDirectory: String? = nil, timeout: Duration? = nil) async throws -> String {
        let r = try await capture(argv, workingDirectory: workingDirectory, timeout: timeout)
        guard r.exitCode == 0 else {
            let last = r.stderr.split(separator: "\n").suffix(3).joined(separator: " / ")
            throw BuildFailure("`\(argv.prefix(3).joined(separator: " "))` failed (exit \(r.exitCode)): \(last)")
        }
        return r.stdout
    }

    /// Runs a shell pipeline with `/bin/sh -c`.
    @discardableResult
    public static func shell(_ script: String, timeout: Duration? = nil) async throws -> String {
        try await run(["/bin/sh", "-c", script], timeout: timeout)
    }

    /// Single-quotes a word for `/bin/sh`.
    public static func quote(_ s: String) -> String {
        s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-=:,+@".contains($0) }) ? s : "'" + s.replacing("'", with: "'\\''") + "'"
    }

    /// The bytes a tree holds (`du -sb`), hard links counted once.
    public static func treeBytes(_ folder: String) async throws -> Int {
        let out = try await run(["du", "-sb", folder])
        return Int(out.split(separator: "\t").first ?? "0") ?? 0
    }

    /// The bytes a file takes on disk (sparse files count only their data).
    public static func allocatedBytes(_ file: String) -> Int {
        var st = stat()
        guard stat(file, &st) == 0 else { return 0 }
        return Int(st.st_blocks) * 512
    }

    public static func fileSize(_ file: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.intValue ?? 0
    }
}
