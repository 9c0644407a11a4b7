import Foundation
import StewardKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The runner survives destructive events: SIGKILL at any point, and reboots it asks for itself.
@Suite("Resumable runs", .enabled(if: Binaries.available, "build steward and steward-agent first"))
struct ResumableRunTests {
    /// Five steps, each with a visible effect (a line in `effects`), each with a different policy. While a file
    /// `pause-N` exists, step N waits in its middle so the test can kill the runner there.
    static func fiveSteps(_ dir: String) -> String {
        func step(_ n: Int, _ extra: String, effect: String? = nil) -> String {
            """
                  - name: S\(n)
                    action: ExecuteBash
            \(extra)        inputs:
                      commands:
                        - 'touch "{{ Dir }}/started-\(n)"'
                        - 'if [ -f "{{ Dir }}/pause-\(n)" ]; then sleep 30; fi'
                        - 'echo "\(effect ?? String(n))" >> "{{ Dir }}/effects"'
                        - 'echo out-\(n)'

            """
        }
        return """
            name: five steps
            schemaVersion: 1.0
            parameters:
              - Dir:
                  type: string
            phases:
              - name: build
                steps:
            \(step(1, ""))\(step(2, "        maxAttempts: 3\n"))\(step(3, "        onFailure: Continue\n"))\(step(4, "        onFailure: Ignore\n"))\(step(5, "        maxAttempts: 2\n", effect: "5 {{ build.S1.outputs.stdout }}"))
            """
    }

    /// What each step's policy does to an interrupted step: retried, or failed and then abort / continue / ignore.
    enum Policy { case abort, retry, `continue`, ignore }
    static let policies: [Policy] = [.abort, .retry, .continue, .retry, .retry]
    static let policyOf: [Int: Policy] = [1: .abort, 2: .retry, 3: .continue, 4: .ignore, 5: .retry]

    func runner(_ arguments: [String], log: String) throws -> Child {
        try Child(Binaries.agent, arguments, log: log)
    }

    func effects(_ dir: String) -> [String] {
        ((try? String(contentsOfFile: "\(dir)/effects", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Starts a run, kills it at `point`, resumes it as the start-up hook would, and returns the effects and exit status.
    func killAndResume(_ point: (kind: String, step: Int), root: String) async throws -> (effects: [String], status: Int32, dir: String) {
        let dir = "\(root)/\(point.kind)-\(point.step)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.fiveSteps(dir).write(toFile: "\(dir)/doc.yaml", atomically: true, encoding: .utf8)
        let state = "\(dir)/state"
        let args = [
            "run", "--documents", "\(dir)/doc.yaml", "--parameters", "Dir=\(dir)", "--state-dir", state, "--log-directory", "\(dir)/logs",
            "--startup-hook", "none", "--quiet",
        ]
        let first: Child
        if point.kind == "mid" {
            _ = FileManager.default.createFile(atPath: "\(dir)/pause-\(point.step)", contents: nil)
            first = try runner(args, log: "\(dir)/first.log")
            try await waitFor("step \(point.step) to start", timeout: 30) {
                FileManager.default.fileExists(atPath: "\(dir)/started-\(point.step)") ? true : nil
            }
            first.signal(SIGKILL)
            _ = first.waitExit()
            try FileManager.default.removeItem(atPath: "\(dir)/pause-\(point.step)")
        } else {
            setenv("STEWARD_RUNNER_CRASH_AT", "\(point.kind):build.S\(point.step)", 1)
            defer { unsetenv("STEWARD_RUNNER_CRASH_AT") }
            first = try runner(args, log: "\(dir)/first.log")
            let status = first.waitExit()
            #expect(first.process.terminationReason == .uncaughtSignal && status == SIGKILL, "\(point): the runner was killed")
        }
        let resumed = try runner(["resume", "--state-dir", state], log: "\(dir)/resume.log")
        let status = resumed.waitExit()
        return (effects(dir), status, dir)
    }

    @Test("SIGKILL before, in the middle of and after every step: completed steps happen once, the interrupted one follows its policy")
    func killAtEveryPoint() async throws {
        let root = tempFolder("kill-points")
        defer { try? FileManager.default.removeItem(atPath: root) }
        var points: [(kind: String, step: Int)] = []
        for n in 1...5 { points += [("before", n), ("mid", n), ("after", n)] }
        for point in points {
            let (effects, status, dir) = try await killAndResume(point, root: root)
            let all = ["1", "2", "3", "4", "5 out-1"]
            var expected = all
            var expectedStatus: Int32 = 0
            if point.kind != "after" {
                switch Self.policyOf[point.step]! {
                case .retry:
                    break
                case .abort:
                    expected = Array(all.prefix(point.step - 1))
                    expectedStatus = 1
                case .continue:
                    expected.remove(at: point.step - 1)
                    expectedStatus = 1
                case .ignore:
                    expected.remove(at: point.step - 1)
                }
            }
            #expect(effects == expected, "\(point): effects")
            #expect(status == expectedStatus, "\(point): exit status")
            let state = try JSONReader.parse(String(contentsOfFile: "\(dir)/state/state.json", encoding: .utf8))
            let steps = state["documents"]?.arrayValue?.first?["phases"]?.arrayValue?.first?["steps"]?.arrayValue ?? []
            if point.kind != "after", Self.policyOf[point.step] != .retry {
                let interrupted = steps[point.step - 1]
                #expect(
                    interrupted["failureMessage"]?.textValue.contains("Interrupted") == true, "\(point): the step says it was interrupted")
            }
            // No process of the interrupted step is left behind.
            // (The bracket keeps pgrep from finding its own shell.)
            let (_, leftovers) = try runToEnd("/bin/sh", ["-c", "pgrep -f '[\(dir.prefix(1))]\(dir.dropFirst())/state/scripts' || true"])
            #expect(leftovers.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(point): no step process left running")
        }
    }

    @Test("a crash in the middle of a journal write leaves the previous state, and the run resumes from it")
    func tornJournalWrite() async throws {
        let dir = tempFolder("torn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.fiveSteps(dir).write(toFile: "\(dir)/doc.yaml", atomically: true, encoding: .utf8)
        setenv("STEWARD_RUNNER_CRASH_AT", "after:build.S2", 1)
        let first = try runner(
            [
                "run", "--documents", "\(dir)/doc.yaml", "--parameters", "Dir=\(dir)", "--state-dir", "\(dir)/state", "--log-directory",
                dir, "--quiet",
            ],
            log: "\(dir)/first.log")
        unsetenv("STEWARD_RUNNER_CRASH_AT")
        _ = first.waitExit()
        // A half-written next state, as power loss during the write would leave it: never renamed into place.
        try Data("{\"executionId\": \"torn".utf8).write(to: URL(fileURLWithPath: "\(dir)/state/state.json.tmp"))
        let resumed = try runner(["resume", "--state-dir", "\(dir)/state"], log: "\(dir)/resume.log")
        #expect(resumed.waitExit() == 0)
        #expect(effects(dir) == ["1", "2", "3", "4", "5 out-1"])
    }

    @Test("exit 194 and the Reboot action: state saved, start-up hook installed, reboot command run; the hook resumes at the right step")
    func rebootAndResume() async throws {
        let dir = tempFolder("reboot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let doc = """
            name: reboots
            schemaVersion: 1.0
            phases:
              - name: build
                steps:
                  - name: Before
                    action: ExecuteBash
                    inputs:
                      commands: ['echo before >> \(dir)/effects']
                  - name: NeedsReboot
                    action: ExecuteBash
                    inputs:
                      commands:
                        - 'echo run >> \(dir)/needs-reboot-runs'
                        - 'if [ -f \(dir)/reboot-indicator ]; then rm \(dir)/reboot-indicator; echo second run; exit 0; fi'
                        - 'touch \(dir)/reboot-indicator; echo first run; exit 194'
                  - name: RebootNow
                    action: Reboot
                    inputs:
                      delaySeconds: 0
                  - name: After
                    action: ExecuteBash
                    inputs:
                      commands: ['echo "after {{ build.NeedsReboot.outputs.stdout }}" >> \(dir)/effects']
            """
        try doc.write(toFile: "\(dir)/doc.yaml", atomically: true, encoding: .utf8)
        let hook = "\(dir)/boot-hook.sh"
        let args = [
            "run", "--documents", "\(dir)/doc.yaml", "--state-dir", "\(dir)/state", "--log-directory", "\(dir)/logs",
            "--reboot-command", "echo reboot >> \(dir)/reboots", "--startup-hook", "script:\(hook)", "--quiet",
        ]
        // First boot: runs Before, then NeedsReboot exits 194.
        #expect(try runner(args, log: "\(dir)/run1.log").waitExit() == 194)
        #expect(effects(dir) == ["before"])
        #expect((try? String(contentsOfFile: "\(dir)/reboots", encoding: .utf8)) == "reboot\n")
        let script = try String(contentsOfFile: hook, encoding: .utf8)
        #expect(script.contains("resume --state-dir \(dir)/state"))
        // Second boot: the hook resumes; NeedsReboot runs again and succeeds; the Reboot action reboots once more.
        #expect(try Child("/bin/sh", [hook], log: "\(dir)/boot2.log").waitExit() == 194)
        #expect((try? String(contentsOfFile: "\(dir)/reboots", encoding: .utf8)) == "reboot\nreboot\n")
        #expect(FileManager.default.fileExists(atPath: hook), "the hook is installed again for the second reboot")
        #expect((try? String(contentsOfFile: "\(dir)/needs-reboot-runs", encoding: .utf8)) == "run\nrun\n")
        // Third boot: the run continues after the Reboot step.
        let third = try Child("/bin/sh", [hook], log: "\(dir)/boot3.log")
        #expect(third.waitExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: hook), "the start-up hook is removed on resume")
        #expect(effects(dir) == ["before", "after second run"])
        #expect((try? String(contentsOfFile: "\(dir)/needs-reboot-runs", encoding: .utf8)) == "run\nrun\n")
        let logs = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/logs")
        let detailed = try JSONReader.parse(String(contentsOfFile: "\(dir)/logs/\(logs[0])/detailedoutput.json", encoding: .utf8))
        #expect(detailed["status"]?.stringValue == "success")
        #expect(detailed["reboots"]?.numberValue == 2)
        let console = try String(contentsOfFile: "\(dir)/logs/\(logs[0])/console.log", encoding: .utf8)
        #expect(console.contains("first run") && console.contains("second run"))
    }

    @Test("a reboot loop is stopped after --max-reboots with a clear failure")
    func rebootLoop() async throws {
        let dir = tempFolder("reboot-loop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        name: loop
        schemaVersion: 1.0
        phases:
          - name: build
            steps:
              - name: Forever
                action: ExecuteBash
                inputs:
                  commands: ['exit 194']
        """.write(toFile: "\(dir)/doc.yaml", atomically: true, encoding: .utf8)
        let hook = "\(dir)/hook.sh"
        var status = try runner(
            [
                "run", "--documents", "\(dir)/doc.yaml", "--state-dir", "\(dir)/state", "--log-directory", dir, "--reboot-command", "true",
                "--startup-hook", "script:\(hook)", "--max-reboots", "2", "--quiet",
            ], log: "\(dir)/run.log"
        ).waitExit()
        var boots = 1
        while status == 194, boots < 10 {
            status = try Child("/bin/sh", [hook], log: "\(dir)/boot\(boots).log").waitExit()
            boots += 1
        }
        #expect(status == 1)
        #expect(boots == 3, "two reboots allowed, the third request fails the run")
        let state = try JSONReader.parse(String(contentsOfFile: "\(dir)/state/state.json", encoding: .utf8))
        let step = state["documents"]?.arrayValue?.first?["phases"]?.arrayValue?.first?["steps"]?.arrayValue?.first
        #expect(step?["failureMessage"]?.textValue.contains("the limit is 2") == true)
    }

    @Test("Run Command: a script that exits 194 reboots the node; the invocation stays InProgress and ends Success with both runs' output")
    func runCommandReboot() async throws {
        let fleet = try await Fleet("ssm-reboot")
        defer { fleet.shutdown() }
        let marker = "\(fleet.folder)/rebooted-once"
        // The "reboot" only leaves a trace; the agent then stops as it would when the machine goes down.
        let id = try await fleet.addAgent(arguments: ["--reboot-command", "echo reboot >> \(fleet.folder)/reboots"])
        let command = try await fleet.send(
            [
                "echo run >> \(fleet.folder)/runs",
                "if [ -f \(marker) ]; then echo 'second run'; exit 0; fi",
                "touch \(marker); echo 'first run'; exit 194",
            ], to: [id], timeout: 120)
        let status = fleet.agents[id]!.waitExit()
        #expect(status == 194, "the agent stops after starting the reboot")
        #expect((try? String(contentsOfFile: "\(fleet.folder)/reboots", encoding: .utf8)) == "reboot\n")
        try await waitFor("ConnectionLost", timeout: 40) { try? await fleet.ping(id) == "ConnectionLost" ? true : nil }
        let during = try await fleet.invocation(command, id)
        #expect(during["Status"]?.textValue == "InProgress")
        try await fleet.startAgent(id)
        let inv = try await fleet.waitStatus(command, id, ["Success", "Failed"], timeout: 60)
        #expect(inv["StatusDetails"]?.textValue == "Success")
        #expect(inv["StandardOutputContent"]?.textValue == "first run\nsecond run\n")
        #expect((try? String(contentsOfFile: "\(fleet.folder)/runs", encoding: .utf8)) == "run\nrun\n")
    }
}
