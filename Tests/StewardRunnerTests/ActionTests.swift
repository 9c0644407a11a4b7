import Foundation
import StewardDocuments
import StewardTestSupport
import Testing

@testable import StewardKit
@testable import StewardRunner

@Suite("Runner actions, hooks and validation")
struct ActionTests {
    func folder() -> String {
        let dir = Scratch.folder("actions")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func run(_ yaml: String, in dir: String, parameters: [String: String] = [:]) async throws -> RunState {
        try yaml.write(toFile: "\(dir)/doc.yaml", atomically: true, encoding: .utf8)
        let source = try ComponentLoader.load("\(dir)/doc.yaml")
        var options = ComponentRun.Options(
            logDirectory: "\(dir)/logs", stateDirectory: "\(dir)/state", rebootCommand: "false", startupHook: "none", resumeCommand: "true",
            echo: false)
        options.parameters = parameters
        _ = try await ComponentRun(load: ComponentLoader.load).start([source], options: options)
        return try #require(try RunJournal(folder: "\(dir)/state").load())
    }

    func step(_ state: RunState, _ name: String) -> StepState? {
        state.documents.flatMap { $0.phases.flatMap(\.steps) }.first { $0.step.name == name }
    }

    @Test(
        "validation names the field at fault",
        arguments: [
            ("schemaVersion: 2.0\nphases: []", "schemaVersion"),
            (
                "schemaVersion: 1.0\nphases: [{name: build, steps: [{name: a, action: Nope, inputs: {}}]}]",
                "the action Nope is not supported"
            ),
            (
                "schemaVersion: 1.0\nphases: [{name: build, steps: [{name: a, action: ExecuteBash, timeoutSeconds: 0, inputs: {commands: [x]}}]}]",
                "timeoutSeconds"
            ),
            (
                "schemaVersion: 1.0\nphases: [{name: build, steps: [{name: a, action: ExecuteBash, onFailure: Retry, inputs: {commands: [x]}}]}]",
                "onFailure"
            ),
            (
                "schemaVersion: 1.0\nphases: [{name: build, steps: [{name: a, action: ExecuteBash, inputs: {commands: [x]}}, {name: a, action: ExecuteBash, inputs: {commands: [x]}}]}]",
                "declared twice"
            ),
            (
                "schemaVersion: 1.0\nphases: [{name: build, steps: [{name: a, action: ExecuteBash, loop: {for: {start: 1, end: 5, updateBy: -1}}, inputs: {commands: [x]}}]}]",
                "never end"
            ),
            (
                "schemaVersion: 1.0\nphases: [{name: build, steps: [{name: a, action: ExecuteBash, if: {stringEquals: a}, inputs: {commands: [x]}}]}]",
                "needs a value"
            ),
            (
                "schemaVersion: 1.0\nparameters: [{ab: {type: string}}]\nphases: [{name: build, steps: [{name: a, action: ExecuteBash, inputs: {commands: [x]}}]}]",
                "3 to 128"
            ),
            (
                "schemaVersion: 1.0\nphases: [{name: deploy, steps: [{name: a, action: ExecuteBash, inputs: {commands: [x]}}]}]",
                "at least one of the phases"
            ),
            (
                "schemaVersion: 1.0\nphases: [{name: build, steps: [{name: a, action: ExecuteBash, if: {not: {not: {not: {not: {not: {binaryExists: sh}}}}}}, inputs: {commands: [x]}}]}]",
                "nest at most 4"
            ),
        ])
    func validation(_ yaml: String, _ fragment: String) throws {
        let dir = folder()
        try yaml.write(toFile: "\(dir)/doc.yaml", atomically: true, encoding: .utf8)
        #expect {
            _ = try ComponentLoader.load("\(dir)/doc.yaml")
        } throws: { error in
            "\(error)".contains(fragment)
        }
    }

    @Test("WebDownload fetches over loopback, checks the checksum, and leaves nothing behind on a mismatch")
    func webDownload() async throws {
        let dir = folder()
        try FileManager.default.createDirectory(atPath: "\(dir)/site", withIntermediateDirectories: true)
        try "payload\n".write(toFile: "\(dir)/site/file.txt", atomically: true, encoding: .utf8)
        let port = Int.random(in: 20_000...40_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-m", "http.server", "--bind", "127.0.0.1", "--directory", "\(dir)/site", String(port)]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            // SIGKILL and a wait: a terminated-but-unreaped or SIGTERM-ignoring server must not outlive the test.
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        for _ in 0..<100 where (try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/file.txt")!)) == nil {
            try await Task.sleep(for: .milliseconds(50))
        }
        let sha = FileSystem.digest(ofFile: "\(dir)/site/file.txt", algorithm: "SHA256")!
        let state = try await run(
            """
            schemaVersion: 1.0
            phases:
              - name: build
                steps:
                  - name: Good
                    action: WebDownload
                    inputs:
                      - source: http://127.0.0.1:\(port)/file.txt
                        destination: \(dir)/out/
                        checksum: \(sha)
                        algorithm: SHA256
                  - name: Bad
                    action: WebDownload
                    onFailure: Continue
                    inputs:
                      - source: http://127.0.0.1:\(port)/file.txt
                        destination: \(dir)/bad.txt
                        checksum: '\(String(repeating: "0", count: 64))'
                  - name: Missing
                    action: WebDownload
                    onFailure: Continue
                    inputs:
                      - source: http://127.0.0.1:\(port)/nope.txt
                        destination: \(dir)/nope.txt
            """, in: dir)
        #expect(step(state, "Good")?.status == .success)
        #expect(step(state, "Good")?.outputs?["destination"]?.stringValue == "\(dir)/out/file.txt")
        #expect(try String(contentsOfFile: "\(dir)/out/file.txt", encoding: .utf8) == "payload\n")
        #expect(step(state, "Bad")?.status == .failed)
        #expect(step(state, "Bad")?.failureMessage?.contains("checksum") == true)
        #expect(
            !FileManager.default.fileExists(atPath: "\(dir)/bad.txt") && !FileManager.default.fileExists(atPath: "\(dir)/bad.txt.download"))
        #expect(step(state, "Missing")?.failureMessage?.contains("404") == true)
    }

    @Test("ExecuteDocument runs a nested document, reports its summary, and refuses a cycle")
    func executeDocument() async throws {
        let dir = folder()
        try """
        schemaVersion: 1.0
        parameters:
          - Greeting: {type: string, default: hi}
        phases:
          - name: build
            steps:
              - name: Inner
                action: ExecuteBash
                inputs:
                  commands: ['echo "{{ Greeting }}" >> \(dir)/effects']
        """.write(toFile: "\(dir)/inner.yaml", atomically: true, encoding: .utf8)
        try """
        schemaVersion: 1.0
        phases:
          - name: build
            steps:
              - name: Again
                action: ExecuteDocument
                inputs:
                  document: \(dir)/self.yaml
        """.write(toFile: "\(dir)/self.yaml", atomically: true, encoding: .utf8)
        let state = try await run(
            """
            schemaVersion: 1.0
            phases:
              - name: build
                steps:
                  - name: Nested
                    action: ExecuteDocument
                    inputs:
                      document: \(dir)/inner.yaml
                      parameters:
                        - name: Greeting
                          value: hello
                  - name: Cycle
                    action: ExecuteDocument
                    onFailure: Continue
                    inputs:
                      document: \(dir)/self.yaml
            """, in: dir)
        #expect(try String(contentsOfFile: "\(dir)/effects", encoding: .utf8) == "hello\n")
        #expect(step(state, "Nested")?.outputs?["status"]?.stringValue == "success")
        #expect(step(state, "Nested")?.outputs?["executedStepCount"]?.numberValue == 1)
        #expect(step(state, "Cycle")?.status == .failed)
        #expect(step(state, "Cycle")?.failureMessage?.contains("cycle") == true)
    }

    @Test("a step's timeout covers all its loop iterations and ends the process group")
    func timeoutAcrossIterations() async throws {
        let dir = folder()
        let start = ContinuousClock.now
        let state = try await run(
            """
            schemaVersion: 1.0
            phases:
              - name: build
                steps:
                  - name: Slow
                    action: ExecuteBash
                    timeoutSeconds: 2
                    loop:
                      forEach: [a, b, c]
                    inputs:
                      commands: ['sleep 1.5']
            """, in: dir)
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(step(state, "Slow")?.status == .failed)
        #expect(step(state, "Slow")?.timedOut == true)
    }

    @Test("UpdateOS builds the right update for each package manager")
    func updateScripts() {
        #expect(
            UpdateOS.script(manager: "apt-get", include: [], exclude: []).contains(
                "apt-get -y -q -o Dpkg::Options::=--force-confold upgrade"))
        let held = UpdateOS.script(manager: "apt-get", include: [], exclude: ["linux-image-amd64"])
        #expect(held.contains("apt-mark hold 'linux-image-amd64'") && held.contains("apt-mark unhold 'linux-image-amd64'"))
        #expect(
            UpdateOS.script(manager: "apt-get", include: ["openssl", "curl"], exclude: ["curl"]).contains(
                "install --only-upgrade 'openssl'\n") == false)
        #expect(
            UpdateOS.script(manager: "apt-get", include: ["openssl", "curl"], exclude: ["curl"]).hasSuffix(
                "install --only-upgrade 'openssl'"))
        #expect(UpdateOS.script(manager: "dnf", include: [], exclude: ["kernel*"]).hasSuffix("dnf -y upgrade --exclude='kernel*'"))
        #expect(UpdateOS.script(manager: "yum", include: ["bash"], exclude: []).hasSuffix("yum -y upgrade 'bash'"))
        #expect(UpdateOS.script(manager: "zypper", include: [], exclude: ["a"]).contains("zypper --non-interactive addlock 'a'"))
        #expect(UpdateOS.script(manager: "apk", include: ["musl"], exclude: []).hasSuffix("apk add --upgrade 'musl'"))
        #expect(UpdateOS.script(manager: "apt-get", include: ["x"], exclude: ["x"]).contains("nothing to do"))
    }

    @Test("start-up hooks are installed and removed again: script, rc.local, systemd unit")
    func startupHooks() throws {
        let dir = folder()
        let command = "/usr/bin/steward-agent resume --state-dir /var/lib/x"
        let script = try StartupHook.choose("script:\(dir)/hook.sh", id: "abc")
        try script.install(command: command)
        #expect(try String(contentsOfFile: "\(dir)/hook.sh", encoding: .utf8).contains("exec \(command)"))
        script.remove()
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/hook.sh"))

        try "#!/bin/sh -e\necho mine\nexit 0\n".write(toFile: "\(dir)/rc.local", atomically: true, encoding: .utf8)
        let rc = StartupHook(kind: .rcLocal, location: "\(dir)/rc.local", marker: "steward-resume-abc")
        try rc.install(command: command)
        let installed = try String(contentsOfFile: "\(dir)/rc.local", encoding: .utf8)
        #expect(installed == "#!/bin/sh -e\necho mine\n\(command) & # steward-resume-abc\nexit 0\n")
        rc.remove()
        #expect(try String(contentsOfFile: "\(dir)/rc.local", encoding: .utf8) == "#!/bin/sh -e\necho mine\nexit 0\n")

        let unit = StartupHook(kind: .systemd, location: "\(dir)/systemd/steward-resume-abc.service", marker: "steward-resume-abc")
        try FileManager.default.createDirectory(atPath: "\(dir)/systemd", withIntermediateDirectories: true)
        try unit.install(command: command)
        #expect(try String(contentsOfFile: unit.location!, encoding: .utf8).contains("ExecStart=\(command)"))
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/systemd/multi-user.target.wants/steward-resume-abc.service")
                == unit.location)
        unit.remove()
        #expect(!FileManager.default.fileExists(atPath: unit.location!))
        #expect(
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/systemd/multi-user.target.wants/steward-resume-abc.service"))
                == nil)
        #expect(throws: (any Error).self) { try StartupHook.choose("upstart", id: "abc") }
    }
}
