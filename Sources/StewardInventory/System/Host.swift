import StewardRunner

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The little the gatherers need from the operating system: files, folders and programs.
enum Host {
    /// A file's whole text, read to its end: files under /proc and /sys report a size of zero.
    static func readText(_ path: String, limit: Int = 16 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while bytes.count < limit {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The names in a folder, without "." and "..", or nil when it cannot be read.
    static func listFolder(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    struct FileStatus {
        var size: Int64
        var modified: Int
        var accessed: Int
        var isFolder: Bool
        var isRegular: Bool
        var isLink: Bool
    }

    /// A file's status; `followLinks: false` describes a symbolic link itself.
    static func status(_ path: String, followLinks: Bool = true) -> FileStatus? {
        var st = stat()
        guard (followLinks ? stat(path, &st) : lstat(path, &st)) == 0 else { return nil }
        let kind = st.st_mode & S_IFMT
        return FileStatus(
            size: Int64(st.st_size), modified: Int(st.st_mtim.tv_sec), accessed: Int(st.st_atim.tv_sec),
            isFolder: kind == S_IFDIR, isRegular: kind == S_IFREG, isLink: kind == S_IFLNK)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Where a program is, looked up in the usual system folders rather than the agent's PATH.
    static func program(_ name: String) -> String? {
        for folder in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            let path = "\(folder)/\(name)"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    struct CommandError: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs a program to its end and returns what it printed; a failure, a timeout or a cut-off output throws.
    static func run(_ path: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"]
        // The package managers' own database locations, when the agent was started with them (chroots, image builds).
        for key in ["DPKG_ADMINDIR", "RPM_DBPATH"] {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        let outcome = try await ChildProcess.run(
            executable: path, arguments: arguments, environment: environment,
            workingDirectory: "/", timeout: timeout, outputLimit: 64 << 20)
        if outcome.timedOut { throw CommandError(description: "\(name) did not finish within \(timeout)") }
        if outcome.stdoutTruncated { throw CommandError(description: "\(name) printed more than 64 MiB") }
        guard outcome.exitCode == 0 else {
            let message = String(decoding: outcome.stderr, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            throw CommandError(description: "\(name) exited with \(outcome.exitCode)\(message.isEmpty ? "" : ": \(message)")")
        }
        return String(decoding: outcome.stdout, as: UTF8.self)
    }

    /// Seconds since 1970 as AWS writes times: "2016-07-30T18:15:37Z".
    static func iso8601(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let year = String(parts.tm_year + 1900)
        return
            "\(year)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
