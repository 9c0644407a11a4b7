import Foundation
import StewardTestSupport
import Testing

@testable import StewardKit
@testable import StewardRunner

@Suite("Running documents on this host")
struct RunnerTests {
    func folder() -> String {
        let dir = Scratch.folder("runner")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func plan(_ commands: [String], timeout: String = "3600", workingDirectory: String = "") -> RunPlan {
        RunPlan(
            schemaVersion: "2.2",
            steps: [
                PlanStep(
                    name: "run", action: "aws:runShellScript",
                    inputs: [
                        "runCommand": JSONValue(commands), "timeoutSeconds": .string(timeout),
                        "workingDirectory": .string(workingDirectory),
                    ])
            ])
    }

    func context(_ dir: String) -> DocumentRunner.Context {
        // A fresh run folder each time: a folder that holds a journal resumes that run.
        .init(commandId: "c-1", instanceId: "mi-0123456789abcdef0", region: "us-east-1", workFolder: "\(dir)/run-\(UUID().uuidString)")
    }

    @Test("stdout, stderr and the exit code are captured; SSM variables are set")
    func capture() async {
        let dir = folder()
        let r = await DocumentRunner().run(
            plan(["echo out $SSM_COMMAND_ID $AWS_SSM_INSTANCE_ID", "echo err >&2", "exit 3"]), context: context(dir))
        #expect(r.state == .failed)
        #expect(r.responseCode == 3)
        #expect(r.plugins[0].stdout == "out c-1 mi-0123456789abcdef0\n")
        #expect(r.plugins[0].stderr.hasPrefix("err\n"))
    }

    @Test("the working directory is honoured")
    func workingDirectory() async {
        let dir = folder()
        let r = await DocumentRunner().run(plan(["pwd"], workingDirectory: dir), context: context(dir))
        #expect(r.state == .success)
        #expect(r.plugins[0].stdout.trimmingCharacters(in: .newlines) == dir)
        let missing = await DocumentRunner().run(plan(["pwd"], workingDirectory: dir + "/nope"), context: context(dir))
        #expect(missing.state == .failed)
    }

    @Test("the execution timeout ends the whole process group")
    func timeout() async throws {
        let dir = folder()
        let pidFile = "\(dir)/child.pid"
        let start = ContinuousClock.now
        let r = await DocumentRunner().run(plan(["sleep 300 & echo $! > \(pidFile)", "wait"], timeout: "5"), context: context(dir))
        #expect(ContinuousClock.now - start < .seconds(20))
        #expect(r.state == .executionTimedOut)
        #expect(r.plugins[0].statusDetails == "ExecutionTimedOut")
        let pid = Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
        try await Task.sleep(for: .milliseconds(200))
        // Gone, or a zombie waiting for an init that may never reap it; either way no longer running.
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
        #expect(state == nil || state == "Z", "the background child must be gone, not \(state ?? "")")
    }

    @Test("cancelling the task cancels the run")
    func cancel() async {
        let dir = folder()
        let task = Task { await DocumentRunner().run(plan(["sleep 60"]), context: context(dir)) }
        try? await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let r = await task.value
        #expect(r.state == .cancelled)
    }

    @Test("onFailure exit stops later steps; preconditions skip steps for other platforms")
    func stepPolicies() async {
        let dir = folder()
        let p = RunPlan(
            schemaVersion: "2.2",
            steps: [
                PlanStep(
                    name: "win", action: "aws:runShellScript", inputs: ["runCommand": ["echo no"]],
                    precondition: ["StringEquals": ["platformType", "Windows"]]),
                PlanStep(name: "fail", action: "aws:runShellScript", inputs: ["runCommand": ["exit 1"], "onFailure": "exit"]),
                PlanStep(name: "after", action: "aws:runShellScript", inputs: ["runCommand": ["echo after"]]),
            ])
        let r = await DocumentRunner().run(p, context: context(dir))
        #expect(r.plugins.map(\.status) == ["Skipped", "Failed", "Skipped"])
        #expect(r.state == .failed)
    }

    @Test("an unsupported action fails with a message rather than crashing")
    func unsupported() async {
        let r = await DocumentRunner().run(
            RunPlan(schemaVersion: "2.2", steps: [PlanStep(name: "x", action: "aws:domainJoin", inputs: [:])]), context: context(folder()))
        #expect(r.state == .failed)
        #expect(r.plugins[0].stderr.contains("not supported"))
    }

    @Test("output beyond the limit is truncated and marked")
    func outputLimit() async {
        var ctx = context(folder())
        ctx.outputLimit = 1000
        let r = await DocumentRunner().run(plan(["head -c 5000 /dev/zero | tr '\\\\0' a"]), context: ctx)
        #expect(r.plugins[0].stdout.hasSuffix("--output truncated--"))
        #expect(r.plugins[0].stdout.count < 1100)
    }
}

extension DocumentRunner.Outcome {
    var result: InvocationResult {
        guard case .finished(let r) = self else {
            return InvocationResult(
                commandId: "", instanceId: "", state: .inProgress, responseCode: -1, startedAt: 0, finishedAt: 0, plugins: [])
        }
        return r
    }
    var state: InvocationState { result.state }
    var plugins: [PluginResult] { result.plugins }
    var responseCode: Int { result.responseCode }
}
