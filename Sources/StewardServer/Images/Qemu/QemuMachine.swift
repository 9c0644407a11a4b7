import Foundation
import StewardRunner
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One `qemu-system-x86_64` process: software emulation (TCG; this host's KVM is a nested scheme that is far slower
/// and crashes), the PVH kernel and initramfs of ``QemuAssets``, the root disk and the tools disk on virtio, user-mode
/// networking. The serial console goes to `console.log`; its `steward-guest:` lines also come out of `lines`, in order.
/// A guest reboot resets the machine, which boots the same kernel again (no `-no-reboot`).
final class QemuMachine: Sendable {
    let folder: String
    var consolePath: String { "\(folder)/console.log" }
    private let state = Mutex(State())
    private let exit = Mutex<Ended?>(nil)

    /// How QEMU ended.
    struct Ended: Sendable {
        var status: Int32
        var stderr: String
    }

    struct State {
        var pid: Int32 = 0
        var boots = 0
        var pending = [UInt8]()
        /// A console line saying the guest cannot go on.
        var failure: String?
        var console: FileHandle?
    }

    init(folder: String) {
        self.folder = folder
        (lines, linesOut) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1000))
    }

    /// Guest boots seen so far (the tools disk's init prints one line per boot).
    var boots: Int { state.withLock { $0.boots } }
    /// Why the guest cannot go on, from its console, if it said so.
    var failure: String? { state.withLock { $0.failure } }
    var isRunning: Bool { exit.withLock { $0 == nil } && state.withLock { $0.pid != 0 } }
    var outcome: Ended? { exit.withLock { $0 } }

    /// Lines of interest from the console (`steward-guest:`, `steward-initrd:`, kernel panics); ends when QEMU does.
    let lines: AsyncStream<String>
    private let linesOut: AsyncStream<String>.Continuation

    /// The accelerator: `STEWARD_QEMU_ACCEL` when set; else KVM when `/dev/kvm` can be opened and the CPU has hardware
    /// virtualization (vmx or svm) and no software-nested scheme (`kvm_pvm`) provides it; else TCG. A KVM without the
    /// CPU flags is a nested emulation that runs guests far slower than TCG and dies on some instructions.
    static let accelerator: (name: String, cpu: [String], why: String) = {
        if let given = ProcessInfo.processInfo.environment["STEWARD_QEMU_ACCEL"], !given.isEmpty {
            return (given, [], "STEWARD_QEMU_ACCEL")
        }
        let flags =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? []
        let hardware = flags.contains("vmx") || flags.contains("svm")
        let device = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        if device >= 0 { close(device) }
        let nested = FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm")
        if device >= 0 && hardware && !nested { return ("kvm", ["-cpu", "host"], "/dev/kvm with hardware virtualization") }
        let why =
            device < 0
            ? "no usable /dev/kvm" : nested ? "KVM here is the kvm_pvm nested scheme" : "the CPU has no vmx or svm"
        return ("tcg", [], why)
    }()

    static func arguments(assets: QemuAssets, root: String, tools: String, agent: String, memoryMiB: Int) -> [String] {
        ["-accel", accelerator.name] + accelerator.cpu + [
            "-m", "\(memoryMiB)", "-nodefaults", "-display",
            "none", "-serial", "stdio", "-monitor", "none",
            "-kernel", assets.kernel, "-initrd", assets.initramfs, "-append", "console=ttyS0 panic=-1 quiet",
            "-drive", "file=\(root),format=raw,if=virtio", "-drive", "file=\(tools),format=raw,if=virtio",
            "-drive", "file=\(agent),format=raw,if=virtio,readonly=on",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0", "-device", "virtio-rng-pci",
        ]
    }

    /// Starts QEMU; returns once the process exists. The process is tracked until it ends (``QemuProcesses``).
    func start(arguments: [String]) async throws {
        _ = FileManager.default.createFile(atPath: consolePath, contents: nil)
        let console = FileHandle(forWritingAtPath: consolePath)
        state.withLock { $0.console = console }
        let started = AsyncStream<Int32>.makeStream()
        var executable = HostTool.find("qemu-system-x86_64") ?? "/usr/bin/qemu-system-x86_64"
        var arguments = arguments
        if let setpriv = HostTool.find("setpriv") {
            // QEMU dies with the thread that waits for it, so not even a server killed outright leaves one behind.
            arguments = ["--pdeathsig", "KILL", "--", executable] + arguments
            executable = setpriv
        }
        Task {
            let ended: Ended
            do {
                let outcome = try await ChildProcess.run(
                    executable: executable, arguments: arguments, environment: ProcessInfo.processInfo.environment,
                    workingDirectory: self.folder, timeout: nil, outputLimit: 64 << 10,
                    onStart: { pid in
                        QemuProcesses.shared.add(pid)
                        started.continuation.yield(pid)
                        started.continuation.finish()
                    },
                    onOutput: { [weak self] bytes, isStandardError in
                        if !isStandardError { self?.console(bytes) }
                    })
                ended = Ended(status: outcome.exitCode, stderr: String(decoding: outcome.stderr, as: UTF8.self))
            } catch {
                ended = Ended(status: -1, stderr: "\(error)")
                started.continuation.finish()
            }
            let pid = self.state.withLock { s in
                try? s.console?.close()
                s.console = nil
                return s.pid
            }
            QemuProcesses.shared.remove(pid)
            self.exit.withLock { $0 = ended }
            self.linesOut.finish()
        }
        var pid: Int32 = 0
        for await p in started.stream { pid = p }
        guard pid > 0 else { throw QemuError("QEMU did not start: \(stderrText)") }
        state.withLock { $0.pid = pid }
    }

    /// QEMU's own error output, for messages.
    var stderrText: String {
        exit.withLock { $0.map { $0.stderr.trimmingCharacters(in: .whitespacesAndNewlines) } } ?? ""
    }

    /// Waits until QEMU has ended, at most `seconds`; true if it has.
    func waitExit(seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if outcome != nil { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return outcome != nil
    }

    /// Ends QEMU at once (SIGKILL) and waits until it is reaped.
    func kill() async {
        let pid = state.withLock { $0.pid }
        guard pid > 0, outcome == nil else { return }
        Glibc.kill(pid, SIGKILL)
        _ = await waitExit(seconds: 10)
    }

    private func console(_ bytes: [UInt8]) {
        var found: [String] = []
        state.withLock { s in
            s.console?.write(Data(bytes))
            s.pending += bytes
            while let newline = s.pending.firstIndex(of: 10) {
                let line = String(decoding: s.pending[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                s.pending.removeSubrange(...newline)
                if line.contains("steward-guest: boot ") { s.boots += 1 }
                if line.contains("steward-guest: registration failed") || line.contains("steward-initrd: cannot") {
                    s.failure = line
                }
                if line.contains("steward-guest:") || line.contains("steward-initrd:") || line.contains("Kernel panic") {
                    found.append(line)
                }
            }
            if s.pending.count > 8192 { s.pending.removeAll() }
        }
        for line in found { linesOut.yield(line) }
    }
}

/// Every QEMU process this server started and that still runs, so none outlives the server.
final class QemuProcesses: Sendable {
    static let shared = QemuProcesses()
    private let pids = Mutex<Set<Int32>>([])

    func add(_ pid: Int32) { _ = pids.withLock { $0.insert(pid) } }
    func remove(_ pid: Int32) { _ = pids.withLock { $0.remove(pid) } }
    var count: Int { pids.withLock { $0.count } }

    /// Kills them all (at server shutdown); each one's watcher reaps it.
    func killAll() {
        for pid in pids.withLock({ $0 }) { Glibc.kill(pid, SIGKILL) }
    }
}
