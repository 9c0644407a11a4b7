import Foundation
import StewardImages
import Synchronization

/// A running QEMU build instance and the managed instance its agent registered as.
final class QemuInstance: BuildInstance {
    let instanceId: String
    let folder: String
    let root: String
    let tools: String
    let machine: QemuMachine
    let controlPlane: ControlPlane
    let activationId: String
    private let managed = Mutex<String?>(nil)
    private let runs = Mutex(0)

    init(
        instanceId: String, folder: String, root: String, tools: String, machine: QemuMachine, controlPlane: ControlPlane,
        activationId: String
    ) {
        self.instanceId = instanceId
        self.folder = folder
        self.root = root
        self.tools = tools
        self.machine = machine
        self.controlPlane = controlPlane
        self.activationId = activationId
    }

    /// Waits until the guest's agent has registered and its channel is up; returns its managed instance id.
    func waitOnline(timeout: Double) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !machine.isRunning { throw QemuError("\(instanceId): QEMU ended before the agent came online: \(failureHint)") }
            if let failure = machine.failure { throw QemuError("\(instanceId): \(failure)") }
            if let found = try await controlPlane.managedInstance(activationId: activationId), found.ping == "Online" {
                managed.withLock { $0 = found.id }
                return found.id
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw QemuError("\(instanceId): the agent did not come online within \(Int(timeout)) s (console: \(machine.consolePath))")
    }

    /// QEMU's error output or the console's last lines: why a machine ended.
    var failureHint: String {
        let qemu = machine.stderrText
        if !qemu.isEmpty { return qemu }
        let console = (try? String(contentsOfFile: machine.consolePath, encoding: .utf8)) ?? ""
        return console.split(separator: "\n").suffix(3).joined(separator: " / ")
    }

    func run(_ request: ComponentRunRequest, log: @escaping BuildLogSink) async throws -> ComponentRunOutcome {
        guard let managedId = managed.withLock({ $0 }), machine.isRunning else { throw QemuError("\(instanceId) is not running") }
        let number = runs.withLock { count in
            count += 1
            return count
        }
        let runId = "run-\(number)"
        var documents: [(file: String, base64: String, parameters: [String: String])] = []
        for (i, component) in request.components.enumerated() {
            guard let data = FileManager.default.contents(atPath: component.documentPath) else {
                throw QemuError("cannot read the document of \(component.name) at \(component.documentPath)")
            }
            let safe = String(component.name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
            documents.append(("\(i + 1 < 10 ? "0" : "")\(i + 1)-\(safe).yaml", data.base64EncodedString(), component.parameters))
        }
        let lines = GuestScripts.componentRun(runId: runId, components: documents, phases: request.phases, maxReboots: request.maxReboots)
        let bootsBefore = machine.boots
        let began = Date()
        await log(
            "\(instanceId): running phases \(request.phases.joined(separator: ",")) of \(request.components.map(\.name).joined(separator: ", "))"
        )
        let commandId = try await controlPlane.runShellScript(
            lines, on: managedId, executionTimeout: max(request.timeoutSeconds, 30), comment: "\(instanceId) \(runId)")
        let result = try await wait(commandId, on: managedId, timeout: Double(request.timeoutSeconds) + 30)
        let reboots = machine.boots - bootsBefore
        for line in result.stdout.split(separator: "\n", omittingEmptySubsequences: false).suffix(200) where !line.isEmpty {
            await log("\(instanceId): \(line)")
        }
        await log(
            "\(instanceId): \(result.status) after \(oneDecimal(Date().timeIntervalSince(began))) s and \(reboots) reboot(s)")
        let logFolder = await fetchLogs(runId: runId, managedId: managedId, log: log)
        guard result.status == "Success" else {
            let reason =
                result.status == "TimedOut"
                ? "the run took longer than \(request.timeoutSeconds) s"
                : "the run ended \(result.details) (exit \(result.code))"
            return ComponentRunOutcome(succeeded: false, reboots: reboots, logFolder: logFolder, reason: reason)
        }
        return ComponentRunOutcome(succeeded: true, reboots: reboots, logFolder: logFolder, reason: nil)
    }

    /// Polls the invocation until it ends; a machine that stops, or a run past its time, ends it as failed.
    func wait(_ commandId: String, on managedId: String, timeout: Double) async throws -> (
        status: String, details: String, code: Int, stdout: String
    ) {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let current = try await controlPlane.invocation(commandId, on: managedId)
            if !["Pending", "InProgress", "Delayed", ""].contains(current.status) { return current }
            if !machine.isRunning { return ("Failed", "because the virtual machine stopped: \(failureHint)", -1, current.stdout) }
            if Date() > deadline {
                _ = try? await controlPlane.call("CancelCommand", ["CommandId": .string(commandId)])
                return ("TimedOut", "TimedOut", -1, current.stdout)
            }
            try await Task.sleep(for: .milliseconds(300))
        }
    }

    /// Copies the run's `TOE_*` folders out of the guest into `<instance folder>/logs/<run>`.
    func fetchLogs(runId: String, managedId: String, log: BuildLogSink) async -> String? {
        do {
            let commandId = try await controlPlane.runShellScript(
                GuestScripts.fetchLogs(runId: runId), on: managedId, executionTimeout: 60, comment: "\(instanceId) logs of \(runId)")
            let result = try await wait(commandId, on: managedId, timeout: 90)
            guard result.status == "Success", let archive = Data(base64Encoded: result.stdout, options: .ignoreUnknownCharacters) else {
                throw QemuError("the logs command ended \(result.status)")
            }
            let target = "\(folder)/logs/\(runId)"
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            try archive.write(to: URL(fileURLWithPath: "\(target).tar.gz"))
            try await HostTool.sh(
                "tar -xzf \(shellQuoted("\(target).tar.gz")) -C \(shellQuoted(target)) && rm -f \(shellQuoted("\(target).tar.gz"))",
                what: "unpacking the run's logs")
            return target
        } catch {
            await log("\(instanceId): the runner's logs could not be copied out: \(error)")
            return nil
        }
    }

    func stop() async throws -> InstanceSource {
        if machine.isRunning {
            let began = Date()
            if let managedId = managed.withLock({ $0 }) {
                _ = try? await controlPlane.runShellScript(
                    GuestScripts.haltCommand, on: managedId, executionTimeout: 60, comment: "\(instanceId) halt")
            }
            if !(await machine.waitExit(seconds: 60)) {
                await machine.kill()
                await RootDisk.repair(root)
            }
            halted.withLock { $0 = Date().timeIntervalSince(began) }
        }
        await forget()
        try? FileManager.default.removeItem(atPath: tools)
        return InstanceSource(path: root, layout: .rawExt4)
    }

    /// How long the power-off in `stop()` took, for figures.
    var haltSeconds: Double { halted.withLock { $0 } }
    private let halted = Mutex(0.0)

    func terminate() async {
        await machine.kill()
        await forget()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Removes the managed instance the build instance registered as (its activation expires on its own).
    private func forget() async {
        if let managedId = managed.withLock({
            let id = $0
            $0 = nil
            return id
        }) {
            await controlPlane.deregister(managedId)
        }
    }
}
