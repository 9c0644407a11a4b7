#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Makes the standalone runner start again at boot after it asked for a reboot, and undoes that on resume:
/// a systemd unit where systemd runs, else an `@reboot` crontab entry, else a line in `/etc/rc.local`;
/// or a script at a given path (for other init systems, and for tests that play the boot themselves).
public struct StartupHook: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, Hashable {
        case systemd, crontab
        case rcLocal = "rc-local"
        case script, none
    }

    public var kind: Kind
    /// The unit file, `/etc/rc.local`, or the script; the crontab needs none.
    public var location: String?
    /// The marker that finds our line again.
    public var marker: String

    /// Parses `auto`, `systemd`, `crontab`, `rc-local`, `none` or `script:PATH`.
    public static func choose(_ spec: String, id: String) throws -> StartupHook {
        let marker = "steward-resume-\(id.filter { $0.isLetter || $0.isNumber || $0 == "-" })"
        if spec.hasPrefix("script:") {
            let path = String(spec.dropFirst("script:".count))
            guard path.hasPrefix("/") else { throw RunnerError("--startup-hook script:PATH needs an absolute path") }
            return StartupHook(kind: .script, location: path, marker: marker)
        }
        switch spec {
        case "auto":
            if FileSystem.kind("/run/systemd/system") == .folder { return try choose("systemd", id: id) }
            if FileSystem.findBinary("crontab", path: "/usr/bin:/bin:/usr/sbin:/sbin") != nil { return try choose("crontab", id: id) }
            return try choose("rc-local", id: id)
        case "systemd": return StartupHook(kind: .systemd, location: "/etc/systemd/system/\(marker).service", marker: marker)
        case "crontab": return StartupHook(kind: .crontab, location: nil, marker: marker)
        case "rc-local": return StartupHook(kind: .rcLocal, location: "/etc/rc.local", marker: marker)
        case "none": return StartupHook(kind: .none, location: nil, marker: marker)
        default: throw RunnerError("--startup-hook is auto, systemd, crontab, rc-local, none or script:PATH, not \(spec)")
        }
    }

    /// Installs the hook so that `command` runs once at the next boot.
    public func install(command: String) throws {
        switch kind {
        case .none:
            return
        case .script:
            try DurableFile.write(Data("#!/bin/sh\n# \(marker)\nexec \(command)\n".utf8), to: location!, mode: 0o755)
        case .systemd:
            let unit = """
                [Unit]
                Description=Resume the Steward run interrupted by a reboot (\(marker))
                After=network-online.target
                Wants=network-online.target

                [Service]
                Type=oneshot
                ExecStart=\(command)

                [Install]
                WantedBy=multi-user.target

                """
            try DurableFile.write(Data(unit.utf8), to: location!, mode: 0o644)
            let wants = wantsFolder
            try FileManager.default.createDirectory(atPath: wants, withIntermediateDirectories: true)
            unlink("\(wants)/\(marker).service")
            guard symlink(location!, "\(wants)/\(marker).service") == 0 else {
                throw RunnerError("cannot enable \(marker).service: \(String(cString: strerror(errno)))")
            }
            _ = try? Self.shell("systemctl daemon-reload >/dev/null 2>&1 || true")
        case .crontab:
            let current = (try? Self.shell("crontab -l 2>/dev/null")) ?? ""
            let kept = current.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains(marker) }
            let lines = (kept.last?.isEmpty == true ? kept.dropLast() : kept[...]) + ["@reboot \(command) # \(marker)"]
            try Self.shell("crontab -", input: lines.joined(separator: "\n") + "\n")
        case .rcLocal:
            let path = location!
            var text = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "#!/bin/sh -e\n\nexit 0\n"
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.contains(marker) }
            let line = "\(command) & # \(marker)"
            if let exit = lines.lastIndex(where: { $0.trimmingSpaces.hasPrefix("exit") }) {
                lines.insert(line, at: exit)
            } else {
                lines.append(line)
            }
            text = lines.joined(separator: "\n")
            try DurableFile.write(Data(text.utf8), to: path, mode: 0o755)
        }
    }

    /// Where `systemctl enable` would link the unit: beside it, in `multi-user.target.wants`.
    var wantsFolder: String { "\(DurableFile.parent(of: location ?? "/etc/systemd/system/x"))/multi-user.target.wants" }

    /// Removes the hook; called when the runner starts again.
    public func remove() {
        switch kind {
        case .none:
            return
        case .script:
            unlink(location!)
        case .systemd:
            unlink("\(wantsFolder)/\(marker).service")
            unlink(location!)
            _ = try? Self.shell("systemctl daemon-reload >/dev/null 2>&1 || true")
        case .crontab:
            guard let current = try? Self.shell("crontab -l 2>/dev/null"), current.contains(marker) else { return }
            let kept = current.split(separator: "\n").filter { !$0.contains(marker) }
            if kept.isEmpty {
                _ = try? Self.shell("crontab -r")
            } else {
                _ = try? Self.shell("crontab -", input: kept.joined(separator: "\n") + "\n")
            }
        case .rcLocal:
            guard let data = FileManager.default.contents(atPath: location!) else { return }
            let text = String(decoding: data, as: UTF8.self)
            guard text.contains(marker) else { return }
            let kept = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains(marker) }
            try? DurableFile.write(Data(kept.joined(separator: "\n").utf8), to: location!, mode: 0o755)
        }
    }

    /// Runs a short shell command and returns its output; throws when it fails.
    @discardableResult
    static func shell(_ command: String, input: String? = nil) throws -> String {
        var script = command
        var inputFile: String?
        if let input {
            let path = "/tmp/steward-hook-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try DurableFile.write(Data(input.utf8), to: path, mode: 0o600, sync: false)
            inputFile = path
            script = "\(command) < '\(path)'"
        }
        defer { if let inputFile { unlink(inputFile) } }
        let outcome = try ChildProcess.runBlocking(
            executable: "/bin/sh", arguments: ["-c", script], environment: ProcessInfo.processInfo.environment, workingDirectory: "/",
            timeout: .seconds(30), outputLimit: 1 << 20, control: .init())
        guard outcome.exitCode == 0 else {
            throw RunnerError("`\(command)` failed: \(String(decoding: outcome.stderr, as: UTF8.self).trimmingSpaces)")
        }
        return String(decoding: outcome.stdout, as: UTF8.self)
    }
}
