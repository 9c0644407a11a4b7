import Foundation
import StewardKit

/// The `chroot` provider: an instance is a copy of the image's root file system in a folder of the build host, and
/// it "runs" in fresh PID, mount, UTS and IPC namespaces (`unshare`) with `chroot`, host networking, and its own
/// /proc, /sys and a small /dev. Needs root on the build host.
public struct ChrootProvider: BuildProvider {
    public var name: String { "chroot" }
    /// The `steward-runner` executable of the host; it is carried into each instance with its libraries.
    public let runnerBinary: String

    public init(runnerBinary: String) {
        self.runnerBinary = runnerBinary
    }

    /// A chroot instance talks to no control plane, so the region makes no difference to it.
    public func start(
        from source: InstanceSource, purpose: InstancePurpose, workFolder: String, region: String, log: @escaping BuildLogSink
    ) async throws -> any BuildInstance {
        let id = "chroot-\(purpose.rawValue)-\(UUID().uuidString.prefix(8).lowercased())"
        let folder = "\(workFolder)/\(id)"
        let root = "\(folder)/root"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let started = Date()
        switch source.layout {
        case .folder: try await ImageFormats.copyTree(source.path, to: root)
        case .rawExt4: try await ImageFormats.extractExt4(source.path, into: root)
        }
        for mountPoint in ["proc", "sys", "dev", "tmp", "etc"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(mountPoint)", withIntermediateDirectories: true)
        }
        chmod("\(root)/tmp", 0o1777)
        guard FileManager.default.isExecutableFile(atPath: "\(root)/bin/sh") else {
            throw BuildFailure("the image has no /bin/sh: the runner needs a POSIX shell in the instance")
        }
        let prefix = "/\(VolumeReduction.buildFolder)/runner"
        let bundle = try await RuntimeBundle.make(programs: [runnerBinary], in: root + prefix, prefix: prefix)
        await log(
            "instance \(id) started from \(source.path) (\(source.layout.rawValue)) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; root \(root)"
        )
        return ChrootInstance(instanceId: id, folder: folder, runner: [bundle.path(of: (runnerBinary as NSString).lastPathComponent)])
    }
}

/// A build or test instance of the ``ChrootProvider``.
public final class ChrootInstance: BuildInstance {
    public let instanceId: String
    /// The host folder holding `root/` (the tree) and the instance's logs.
    public let folder: String
    /// The command line, inside the tree, that starts `steward-runner`.
    let runner: [String]

    var root: String { "\(folder)/root" }
    static let buildFolder = "/\(VolumeReduction.buildFolder)"

    init(instanceId: String, folder: String, runner: [String]) {
        self.instanceId = instanceId
        self.folder = folder
        self.runner = runner
    }

    public func run(_ request: ComponentRunRequest, log: @escaping BuildLogSink) async throws -> ComponentRunOutcome {
        let deadline = ContinuousClock.now + .seconds(request.timeoutSeconds)
        let runId = UUID().uuidString.prefix(8).lowercased()
        let inside = "\(Self.buildFolder)/runs/\(runId)"
        let logs = "\(inside)/logs"
        try FileManager.default.createDirectory(atPath: "\(root)\(logs)", withIntermediateDirectories: true)
        var reboots = 0
        // One runner run per component, so that each gets its own parameters, in recipe order.
        for (index, component) in request.components.enumerated() {
            let doc = "\(inside)/\(index)-\(ImageBuilderARN.arnName(component.name)).yaml"
            try await HostCommand.run(["cp", component.documentPath, "\(root)\(doc)"])
            let hook = "\(inside)/boot-\(index).sh"
            var args =
                runner + [
                    "run", "-d", doc, "-p", request.phases.joined(separator: ","), "-s", "\(inside)/state-\(index)", "-l", logs,
                    "-i", "\(runId)-\(index)", "--reboot-command", "true", "--startup-hook", "script:\(hook)",
                    "--max-reboots", "\(request.maxReboots)",
                ]
            if !component.parameters.isEmpty {
                args += ["--parameters-json", JSONWriter.string(.object(component.parameters.mapValues { .string($0) }))]
            }
            await log("component \(component.name) \(component.version): phases \(request.phases.joined(separator: ", "))")
            var exit = try await boot(args, deadline: deadline, log: log)
            while exit == 194 {
                reboots += 1
                // The runner was PID 1 of the instance's namespace: its exit ended every process in it.
                await log(
                    "reboot \(reboots): the instance's PID namespace is gone; starting it again and running the start-up hook \(hook)")
                guard FileManager.default.fileExists(atPath: "\(root)\(hook)") else {
                    return outcome(false, reboots, logs, "the runner asked for a reboot but installed no start-up hook at \(hook)")
                }
                exit = try await boot(["/bin/sh", hook], deadline: deadline, log: log)
            }
            if exit != 0 {
                let reason = failureMessage(logs) ?? "the runner exited with \(exit)"
                return outcome(false, reboots, logs, "component \(component.name) failed: \(reason)")
            }
        }
        return outcome(true, reboots, logs, nil)
    }

    func outcome(_ ok: Bool, _ reboots: Int, _ logs: String, _ reason: String?) -> ComponentRunOutcome {
        ComponentRunOutcome(succeeded: ok, reboots: reboots, logFolder: "\(root)\(logs)", reason: reason)
    }

    /// The failure message of the newest `detailedoutput.json` in the run's logs.
    func failureMessage(_ logs: String) -> String? {
        let fm = FileManager.default
        let folders = ((try? fm.contentsOfDirectory(atPath: "\(root)\(logs)")) ?? []).filter { $0.hasPrefix("TOE_") }.sorted()
        for f in folders.reversed() {
            guard let data = fm.contents(atPath: "\(root)\(logs)/\(f)/detailedoutput.json"),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { continue }
            if let message = json["failureMessage"] as? String, !message.isEmpty { return message }
        }
        return nil
    }

    /// "Boots" the instance: new namespaces, its file systems mounted, then `command` as its PID 1 under chroot.
    /// Answers the exit status; the namespace and every process in it end with that process.
    func boot(_ command: [String], deadline: ContinuousClock.Instant, log: @escaping BuildLogSink) async throws -> Int32 {
        let r = HostCommand.quote(root)
        let devices = ["null", "zero", "full", "random", "urandom", "tty"]
        let setup = """
            set -e
            mount -t proc proc \(r)/proc
            mount -t sysfs -o ro sysfs \(r)/sys 2>/dev/null || true
            mount -t tmpfs -o mode=755,size=16m dev \(r)/dev
            for d in \(devices.joined(separator: " ")); do touch \(r)/dev/$d; mount --bind /dev/$d \(r)/dev/$d; done
            mkdir -p \(r)/dev/pts \(r)/dev/shm
            ln -s /proc/self/fd \(r)/dev/fd; ln -s /proc/self/fd/0 \(r)/dev/stdin
            ln -s /proc/self/fd/1 \(r)/dev/stdout; ln -s /proc/self/fd/2 \(r)/dev/stderr
            if [ -f \(r)/etc/resolv.conf ] && [ ! -L \(r)/etc/resolv.conf ]; then mount --bind /etc/resolv.conf \(r)/etc/resolv.conf; fi
            hostname \(instanceId)
            exec chroot \(r) "$@"
            """
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { throw BuildFailure("the component run timed out") }
        let result = try await HostCommand.capture(
            [
                "unshare", "--fork", "--kill-child", "--pid", "--mount", "--uts", "--ipc", "--propagation", "private", "/bin/sh", "-c",
                setup, "boot",
            ]
                + command,
            timeout: remaining,
            environment: [
                "PATH": HostCommand.path, "HOME": "/root", "TERM": "dumb",
                "STEWARD_RUNNER_COMMAND": runner.map(HostCommand.quote).joined(separator: " "),
            ])
        for line in (result.stdout + result.stderr).split(separator: "\n", omittingEmptySubsequences: false).dropLast(
            (result.stdout + result.stderr).hasSuffix("\n") ? 1 : 0)
        {
            await log("  | \(line)")
        }
        return result.exitCode
    }

    public func stop() async throws -> InstanceSource {
        // Nothing runs between component runs: each boot's namespace ended with its PID 1.
        InstanceSource(path: root, layout: .folder)
    }

    public func terminate() async {
        // Mounts lived only in the instance's private mount namespace, so a plain removal is safe. It runs in a task
        // of its own: a cancelled build still cleans up.
        let folder = self.folder
        await Task { _ = try? await HostCommand.run(["rm", "-rf", "--one-file-system", folder]) }.value
    }
}
