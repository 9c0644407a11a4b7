import Foundation
import StewardRunner

/// Runs the host programs that make and read disk images (mke2fs, dpkg-deb, cpio, qemu-img, ...).
enum HostTool {
    /// Runs a shell script with `/bin/sh -c`; fails with the script's error output when it exits non-zero.
    @discardableResult
    static func sh(_ script: String, timeout: Duration = .seconds(300), what: String) async throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = (environment["PATH"] ?? "") + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
        environment["LC_ALL"] = "C"
        let outcome = try await ChildProcess.run(
            executable: "/bin/sh", arguments: ["-c", "set -e\n" + script], environment: environment, workingDirectory: "/",
            timeout: timeout)
        guard outcome.exitCode == 0, !outcome.timedOut else {
            let detail = String(decoding: outcome.stderr, as: UTF8.self).split(separator: "\n").suffix(3).joined(separator: " / ")
            throw QemuError("\(what) failed\(outcome.timedOut ? " (timed out)" : "") with status \(outcome.exitCode): \(detail)")
        }
        return String(decoding: outcome.stdout, as: UTF8.self)
    }

    /// The first of `names` found on the search path (with the sbin folders, where the e2fsprogs live).
    static func find(_ names: String...) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for name in names {
            for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return "\(dir)/\(name)"
            }
        }
        return nil
    }
}

/// Quotes a word for `/bin/sh`.
func shellQuoted(_ word: String) -> String {
    "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Why a QEMU build instance could not start, run or stop, in one line.
struct QemuError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
