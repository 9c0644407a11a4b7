import Crypto
import Foundation
import Logging
import StewardImages
import Synchronization

/// Build instances as real virtual machines: QEMU boots the image (software emulation), the Steward agent inside
/// registers with this server over QEMU's user-mode network, and components run through `steward-runner` as Run
/// Commands sent by this server's own dispatcher. A reboot asked for by a component (exit 194, `Reboot`) reboots the
/// virtual machine for real; the agent starts again at boot and the run resumes.
public final class QemuProvider: BuildProvider {
    public let name = "qemu"
    let controlPlane: ControlPlane
    /// `<data folder>/qemu`: the kernel and initramfs, and the agent bundle, made once.
    let folder: String
    /// Where `steward-agent` and `steward-runner` are on this host.
    let binaries: String
    let memoryMiB: Int
    let logger: Logger
    private let port = Mutex(0)
    private let preparation = Preparation()

    init(controlPlane: ControlPlane, dataFolder: String, binaries: String? = nil, memoryMiB: Int = 1024, logger: Logger) {
        self.controlPlane = controlPlane
        // Absolute, because QEMU runs in the instance's folder.
        self.folder = URL(fileURLWithPath: "\(dataFolder)/qemu").standardizedFileURL.path
        self.binaries = binaries ?? ProcessInfo.processInfo.environment["STEWARD_BIN_DIR"] ?? Self.ownFolder()
        self.memoryMiB = memoryMiB
        self.logger = logger
    }

    /// The port the server listens on, which guests reach as 10.0.2.2 (QEMU maps it to the host's loopback).
    func serverListening(port: Int) { self.port.withLock { $0 = port } }

    /// Kills every QEMU process of this server (at shutdown).
    func shutdown() { QemuProcesses.shared.killAll() }

    public func start(
        from source: InstanceSource, purpose: InstancePurpose, workFolder: String, region: String, log: @escaping BuildLogSink
    ) async throws -> any BuildInstance {
        var controlPlane = self.controlPlane
        controlPlane.region = region
        let serverPort = port.withLock { $0 }
        guard serverPort > 0 else { throw QemuError("the server is not listening yet") }
        let began = Date()
        let (assets, agentDisk) = try await preparation.ready(folder: folder, binaries: binaries)
        let id = "qemu-\(UUID().uuidString.lowercased().prefix(12))"
        let dir = URL(fileURLWithPath: "\(workFolder)/\(id)").standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        await log("\(id): making the disks of a \(purpose.rawValue) instance from \(source.path)")
        let root = "\(dir)/root.img"
        try await RootDisk.make(from: source, image: root)
        let activation = try await controlPlane.createActivation(buildInstance: id, lifetime: 3600)
        let tools = "\(dir)/tools.img"
        try await ToolsDisk.make(
            folder: "\(dir)/tools", image: tools, assets: assets,
            activation: .init(server: "http://10.0.2.2:\(serverPort)", id: activation.id, code: activation.code), hostname: id,
            maxReboots: 10)
        try? FileManager.default.removeItem(atPath: "\(dir)/tools")

        let machine = QemuMachine(folder: dir)
        Task { for await line in machine.lines { await log("\(id): \(line)") } }
        let disksReady = Date()
        let accel = QemuMachine.accelerator
        await log("\(id): QEMU with \(accel.name) (\(accel.why)), \(memoryMiB) MiB")
        try await machine.start(
            arguments: QemuMachine.arguments(assets: assets, root: root, tools: tools, agent: agentDisk, memoryMiB: memoryMiB))
        let instance = QemuInstance(
            instanceId: id, folder: dir, root: root, tools: tools, machine: machine, controlPlane: controlPlane, activationId: activation.id
        )
        do {
            let managed = try await instance.waitOnline(timeout: 300)
            let booted = oneDecimal(Date().timeIntervalSince(disksReady))
            await log(
                "\(id): agent \(managed) online \(booted) s after QEMU started (disks made in \(oneDecimal(disksReady.timeIntervalSince(began))) s)"
            )
            return instance
        } catch {
            await instance.terminate()
            throw error
        }
    }

    /// The folder of the running executable (where `steward-agent` and `steward-runner` are installed next to it).
    static func ownFolder() -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (me as NSString).deletingLastPathComponent
    }

    /// The kernel, the initramfs and the agent disk, made once per data folder (the agent disk again when the
    /// binaries change).
    actor Preparation {
        private var assets: QemuAssets?
        private var bundles: [String: String] = [:]

        func ready(folder: String, binaries: String) async throws -> (QemuAssets, String) {
            if assets == nil { assets = try await QemuAssets.prepare(in: "\(folder)/kernel") }
            let programs = ["steward-agent", "steward-runner"].map { "\(binaries)/\($0)" }
            var stamp = ""
            for program in programs {
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: program) else {
                    throw QemuError("\(program) is missing; the guest needs the agent and the runner")
                }
                let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                stamp += "\(attributes[.size] ?? 0)-\(Int(modified))-"
            }
            let digest = SHA256.hash(data: Data(stamp.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
            let bundle = "\(folder)/agent-\(digest)"
            if bundles[stamp] == nil {
                if !FileManager.default.fileExists(atPath: "\(bundle).img") {
                    _ = try await RuntimeBundle.make(programs: programs, in: bundle, prefix: "\(GuestScripts.tools)/agent")
                    try await AgentDisk.make(bundle: bundle, image: "\(bundle).img.partial")
                    try FileManager.default.moveItem(atPath: "\(bundle).img.partial", toPath: "\(bundle).img")
                    try? FileManager.default.removeItem(atPath: bundle)
                }
                bundles[stamp] = "\(bundle).img"
            }
            return (assets!, bundles[stamp]!)
        }
    }
}

/// Seconds with one decimal, for log lines.
func oneDecimal(_ value: Double) -> String { String(format: "%.1f", value) }
