import Foundation
import StewardDocuments
import StewardTestSupport
import Testing

@testable import StewardKit
@testable import StewardRunner

/// The component examples of the AWSTOE documentation (rewritten for bash in `Fixtures/awstoe`), each with the
/// outcome the documentation gives: step output, chained values, statuses, files left behind.
@Suite("AWSTOE documentation examples")
struct ComponentFixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/awstoe").path

    static let names = [
        "hello-world", "loops", "loop-failure", "chaining", "conditions", "conditions-abort", "onfailure-abort",
        "onfailure-continue", "onfailure-ignore", "retry", "file-actions",
    ]

    struct Run {
        var state: RunState
        var workdir: String
        var logFolder: String
        var exit: ComponentRun.Exit
    }

    static func run(_ name: String, phases: [String]? = nil) async throws -> Run {
        let base = Scratch.folder("toe")
        let workdir = "\(base)/work"
        try FileManager.default.createDirectory(atPath: workdir, withIntermediateDirectories: true)
        let source = try ComponentLoader.load("\(fixtures)/\(name).yaml")
        var options = ComponentRun.Options(
            logDirectory: "\(base)/logs", stateDirectory: "\(base)/state", rebootCommand: "false", startupHook: "none",
            resumeCommand: "true", echo: false)
        options.phases = phases
        if source.document.parameters.contains(where: { $0.name == "Workdir" }) { options.parameters["Workdir"] = workdir }
        let exit = try await ComponentRun(load: ComponentLoader.load).start([source], options: options)
        let state = try #require(try RunJournal(folder: "\(base)/state").load())
        return Run(state: state, workdir: workdir, logFolder: state.notes["logFolder"] ?? "", exit: exit)
    }

    @Test("each example gives the documented statuses, outputs, console lines and files", arguments: names)
    func example(_ name: String) async throws {
        let expected =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/\(name).expected.json")))
            as! [String: Any]
        let run = try await Self.run(name)
        func fill(_ s: String) -> String { s.replacingOccurrences(of: "{{ Workdir }}", with: run.workdir) }
        var steps: [String: StepState] = [:]
        var phases: [String: PhaseState] = [:]
        for phase in run.state.documents[0].phases {
            phases[phase.name] = phase
            for step in phase.steps { steps["\(phase.name).\(step.step.name)"] = step }
        }
        let words: [StepStatus: String] = [.success: "success", .failed: "failed", .ignoredFailure: "IgnoredFailure", .skipped: "skipped"]
        let skipped = Set(expected["skipped"] as? [String] ?? [])
        for (key, status) in expected["stepStatus"] as? [String: String] ?? [:] {
            // A step skipped by its condition counts as a success; the detailed output says `skipped`, which is more useful.
            let word = steps[key].flatMap { words[$0.status] }
            #expect(word == status || (skipped.contains(key) && word == "skipped" && status == "success"), "\(name): status of \(key)")
        }
        for (key, status) in expected["phaseStatus"] as? [String: String] ?? [:] {
            #expect(phases[key]?.status == status, "\(name): status of phase \(key)")
        }
        #expect(run.state.documents[0].status == expected["documentStatus"] as? String, "\(name): document status")
        #expect((run.exit == .success) == (run.state.status != "failed"))
        for (key, value) in expected["outputs"] as? [String: Any] ?? [:] {
            let actual = steps[key]?.outputs ?? [:]
            if let map = value as? [String: Any] {
                for (k, v) in map {
                    #expect(actual[k]?.textValue == fill("\(v)"), "\(name): outputs.\(k) of \(key)")
                }
            } else {
                #expect(actual.isEmpty, "\(name): \(key) has no outputs")
            }
        }
        for entry in expected["consoleLines"] as? [[String: Any]] ?? [] {
            let key = entry["step"] as! String
            let lines = (entry["stdout"] as? [String] ?? []).map(fill)
            let printed = (steps[key]?.stdout ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let trimmed = printed.last == "" ? Array(printed.dropLast()) : printed
            if key.hasSuffix("ReadingFileToConsole") { continue }  // ReadFile prints to the console only, not to a step's stdout
            #expect(trimmed == lines, "\(name): console lines of \(key)")
        }
        for key in expected["ran"] as? [String] ?? [] { #expect((steps[key]?.attempts ?? 0) >= 1, "\(name): \(key) ran") }
        for key in expected["notRun"] as? [String] ?? [] {
            #expect((steps[key]?.attempts ?? 0) == 0 && (steps[key]?.stdout ?? "").isEmpty, "\(name): \(key) did not run")
        }
        for key in expected["skipped"] as? [String] ?? [] { #expect(steps[key]?.status == .skipped, "\(name): \(key) skipped") }
        for (key, count) in expected["attempts"] as? [String: Int] ?? [:] {
            #expect(steps[key]?.attempts == count, "\(name): attempts of \(key)")
        }
        for (key, value) in expected["exitCodes"] as? [String: Int] ?? [:] {
            #expect(steps[key]?.exitCode == value, "\(name): exit code of \(key)")
        }
        for (key, fragments) in expected["failureMessageMentions"] as? [String: [String]] ?? [:] {
            for fragment in fragments { #expect(steps[key]?.failureMessage?.contains(fragment) == true, "\(name): failure of \(key)") }
        }
        for (key, value) in expected["resolvedInputs"] as? [String: Any] ?? [:] {
            let want = try JSONReader.parse(fill(String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self)))
            #expect(steps[key]?.resolvedInputs == want, "\(name): resolved inputs of \(key)")
        }
        for (path, spec) in expected["files"] as? [String: [String: String]] ?? [:] {
            let full = "\(run.workdir)/\(path)"
            #expect((try? String(contentsOfFile: full, encoding: .utf8)) == spec["content"].map(fill), "\(name): content of \(path)")
            if let mode = spec["mode"] {
                let attributes = try? FileManager.default.attributesOfItem(atPath: full)
                let actual = (attributes?[.posixPermissions] as? Int).map { String($0, radix: 8) }
                #expect(actual == mode, "\(name): mode of \(path)")
            }
        }
        for path in expected["folders"] as? [String] ?? [] {
            var isDir: ObjCBool = false
            #expect(
                FileManager.default.fileExists(atPath: "\(run.workdir)/\(path)", isDirectory: &isDir) && isDir.boolValue,
                "\(name): folder \(path)")
        }
        for path in expected["emptyFolders"] as? [String] ?? [] {
            #expect(
                (try? FileManager.default.contentsOfDirectory(atPath: "\(run.workdir)/\(path)"))?.isEmpty == true, "\(name): \(path) empty")
        }
        for path in expected["absent"] as? [String] ?? [] {
            #expect(!FileManager.default.fileExists(atPath: "\(run.workdir)/\(path)"), "\(name): \(path) absent")
        }
        // The AWSTOE log folder.
        for file in ["document.yaml", "console.log", "application.log", "detailedoutput.json", "chaining.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(run.logFolder)/\(file)"), "\(name): \(file) written")
        }
    }

    @Test("--phases filters phases but never reorders them")
    func phaseFilter() async throws {
        let run = try await Self.run("hello-world", phases: ["test", "build"])
        #expect(run.state.documents[0].phases.map(\.name) == ["build", "test"])
        #expect(run.state.status == "success")
        let folder = URL(fileURLWithPath: run.logFolder).lastPathComponent
        #expect(folder.hasPrefix("TOE_") && folder.hasSuffix("_UTC-0_\(run.state.executionId)"))
        let detailed = try JSONReader.parse(String(contentsOfFile: "\(run.logFolder)/detailedoutput.json", encoding: .utf8))
        #expect(detailed["status"]?.stringValue == "success")
        #expect(detailed["documents"]?.arrayValue?.first?["phases"]?.arrayValue?.count == 2)
        let step = detailed["documents"]?.arrayValue?.first?["phases"]?.arrayValue?.first?["steps"]?.arrayValue?.first
        #expect(step?["outputs"]?.stringValue == #"[{"stdout":"Hello World from the build phase."}]"#)
    }
}
