import StewardKit
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The standalone component runner (`steward-agent run`, like `awstoe run`): plans a run of AWSTOE component
/// documents, runs it on the ``StepEngine`` with its journal in the state folder, writes the AWSTOE log folder,
/// and reboots and resumes when a step asks for it.
public struct ComponentRun: Sendable {
    /// A document as read from its file.
    public struct Source: Sendable {
        public var path: String
        public var content: String
        public var document: ComponentDocument
        public init(path: String, content: String, document: ComponentDocument) {
            self.path = path
            self.content = content
            self.document = document
        }
    }

    /// Reads and validates a component document (YAML is parsed by the caller's module).
    public typealias Loader = @Sendable (String) throws -> Source

    public struct Options: Sendable {
        public var phases: [String]?
        public var parameters: [String: String] = [:]
        public var executionId: String?
        public var logDirectory: String
        public var stateDirectory: String
        /// Run by `/bin/sh -c` to reboot; the default reboots the machine.
        public var rebootCommand: String
        public var maxReboots: Int
        /// `auto`, `systemd`, `crontab`, `rc-local`, `none` or `script:PATH`.
        public var startupHook: String
        /// The command that resumes this run (what the start-up hook runs).
        public var resumeCommand: String
        /// Echo step output to this process's standard output.
        public var echo: Bool

        public init(
            logDirectory: String, stateDirectory: String, rebootCommand: String = ComponentRun.defaultRebootCommand,
            maxReboots: Int = 10, startupHook: String = "auto", resumeCommand: String, echo: Bool = true
        ) {
            self.logDirectory = logDirectory
            self.stateDirectory = stateDirectory
            self.rebootCommand = rebootCommand
            self.maxReboots = maxReboots
            self.startupHook = startupHook
            self.resumeCommand = resumeCommand
            self.echo = echo
        }
    }

    public static var defaultRebootCommand: String {
        FileSystem.kind("/run/systemd/system") == .folder ? "systemctl reboot" : "reboot"
    }

    /// How a run left this process.
    public enum Exit: Int32, Sendable {
        case success = 0
        case failed = 1
        /// A reboot was asked for and started; the start-up hook resumes the run.
        case rebooting = 194
    }

    let load: Loader

    public init(load: @escaping Loader) { self.load = load }

    // MARK: plan

    /// Builds the run's initial state from the documents and the options.
    public func plan(_ sources: [Source], options: Options) throws -> RunState {
        let executionId = options.executionId ?? UUID().uuidString.lowercased()
        var documents: [DocumentState] = []
        for source in sources {
            documents.append(try Self.documentState(source, phases: options.phases, parameters: options.parameters))
        }
        var state = RunState(
            executionId: executionId, documents: documents, startTime: Date().timeIntervalSince1970, maxReboots: options.maxReboots)
        state.notes["rebootCommand"] = options.rebootCommand
        state.notes["startupHook"] = options.startupHook
        state.notes["resumeCommand"] = options.resumeCommand
        state.notes["workingDirectory"] = FileManager.default.currentDirectoryPath
        state.notes["echo"] = options.echo ? "1" : "0"
        return state
    }

    static func documentState(_ source: Source, phases: [String]?, parameters: [String: String]) throws -> DocumentState {
        let doc = source.document
        var variables: [String: String] = [:]
        for p in doc.parameters {
            if let given = parameters[p.name] {
                guard !given.isEmpty else { throw RunnerError("the parameter \(p.name) is given without a value") }
                variables[p.name] = given
            } else if let value = p.value {
                variables[p.name] = value
            } else {
                throw RunnerError("\(source.path): the parameter \(p.name) has no default; give it with --parameters \(p.name)=...")
            }
        }
        for c in doc.constants { variables[c.name] = c.value ?? "" }
        let wanted = doc.phases.filter { phases == nil || phases!.contains($0.name) }
        let phaseStates = wanted.map { phase in
            PhaseState(
                name: phase.name,
                steps: phase.steps.map { s in
                    StepState(
                        step: RunStep(
                            name: s.name, action: s.action, inputs: s.inputs, timeoutSeconds: s.timeoutSeconds, onFailure: s.onFailure,
                            maxAttempts: s.maxAttempts, condition: s.condition, loop: s.loop))
                })
        }
        return DocumentState(
            name: doc.name ?? PathParts(path: source.path).last, filePath: source.path, description: doc.description, variables: variables,
            phases: phaseStates)
    }

    // MARK: run and resume

    /// Starts a new run in the state folder.
    public func start(_ sources: [Source], options: Options) async throws -> Exit {
        // Nonsense here would otherwise surface only at the first reboot, after steps have run.
        _ = try StartupHook.choose(options.startupHook, id: "check")
        guard options.maxReboots >= 0 else { throw RunnerError("--max-reboots must be 0 or more") }
        let lock = try StateLock(options.stateDirectory)
        defer { lock.release() }
        let journal = RunJournal(folder: options.stateDirectory)
        if let existing = try journal.load(), !existing.isFinished {
            throw RunnerError(
                "\(options.stateDirectory) holds the unfinished run \(existing.executionId); resume it with `steward-agent resume --state-dir \(options.stateDirectory)` or use another state folder"
            )
        }
        var state = try plan(sources, options: options)
        let logFolder = try Self.makeLogFolder(options.logDirectory, executionId: state.executionId)
        state.notes["logFolder"] = logFolder
        for (i, source) in sources.enumerated() {
            let name = i == 0 ? "document.yaml" : "document-\(i + 1).yaml"
            try Data(source.content.utf8).write(to: URL(fileURLWithPath: "\(logFolder)/\(name)"))
        }
        try journal.save(state)
        return try await drive(&state, journal: journal)
    }

    /// Continues the run in the state folder: what the start-up hook runs after a reboot, and what an operator
    /// runs after a crash.
    public func resume(stateDirectory: String) async throws -> Exit {
        let lock = try StateLock(stateDirectory)
        defer { lock.release() }
        let journal = RunJournal(folder: stateDirectory)
        guard var state = try journal.load() else { throw RunnerError("\(stateDirectory) holds no run to resume") }
        if let hook = state.notes["installedHook"].flatMap({ try? JSONDecoder().decode(StartupHook.self, from: Data($0.utf8)) }) {
            hook.remove()
            state.notes["installedHook"] = nil
            try journal.save(state)
        }
        if state.isFinished { return state.status == "failed" || state.status == "cancelled" ? .failed : .success }
        return try await drive(&state, journal: journal)
    }

    func drive(_ state: inout RunState, journal: RunJournal) async throws -> Exit {
        let logFolder = state.notes["logFolder"] ?? journal.folder!
        let stateDirectory = journal.folder!
        let consoleFd = open("\(logFolder)/console.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        let appFd = open("\(logFolder)/application.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        defer {
            if consoleFd >= 0 { close(consoleFd) }
            if appFd >= 0 { close(appFd) }
        }
        let echo = state.notes["echo"] != "0"
        let console = Console { text in
            Self.write(consoleFd, text)
            if echo { Self.write(1, text) }
        }
        let log: @Sendable (String) -> Void = { line in Self.write(appFd, "\(Self.timestamp(Date())) \(line)\n") }
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        let engine = StepEngine(
            journal: journal, workFolder: "\(stateDirectory)/scripts", workingDirectory: state.notes["workingDirectory"],
            environment: environment, console: console, documents: Nested(load: load, depth: 0, stack: state.documents.map(\.filePath)),
            log: log, crashPoint: environment["STEWARD_RUNNER_CRASH_AT"])
        log("run \(state.executionId): \(state.reboots > 0 ? "resumed after \(state.reboots) reboot(s)" : "started")")
        let outcome = try await engine.run(&state)
        try Self.writeReports(state, to: logFolder)
        switch outcome {
        case .finished:
            console.write(Self.summary(state))
            return state.status == "failed" || state.status == "cancelled" ? .failed : .success
        case .reboot:
            let hook = try StartupHook.choose(state.notes["startupHook"] ?? "auto", id: state.executionId)
            try hook.install(command: state.notes["resumeCommand"] ?? "")
            state.notes["installedHook"] = String(decoding: try JSONEncoder().encode(hook), as: UTF8.self)
            try journal.save(state)
            let command = state.notes["rebootCommand"] ?? Self.defaultRebootCommand
            log("rebooting with `\(command)`; the \(hook.kind.rawValue) start-up hook resumes the run")
            console.write("Rebooting (\(state.reboots) of at most \(state.maxReboots)); the run resumes after start-up.\n")
            _ = try? StartupHook.shell(command)
            return .rebooting
        }
    }

    static func summary(_ state: RunState) -> String {
        var failed = 0
        var ran = 0
        for step in state.documents.flatMap({ $0.phases.flatMap(\.steps) }) where step.status != .skipped {
            ran += 1
            if step.status == .failed { failed += 1 }
        }
        return "Run \(state.executionId): \(state.status ?? "unfinished") (\(ran) steps run, \(failed) failed)\n"
    }

    static func write(_ fd: Int32, _ text: String) {
        guard fd >= 0 else { return }
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 {
                if n < 0, errno == EINTR { continue }
                return
            }
            off += n
        }
        bytes.removeAll()
    }

    static func makeLogFolder(_ directory: String, executionId: String) throws -> String {
        let utc = Date().formatted(
            Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false)
                .timeSeparator(.omitted))
        // 20261129T162623 style from the format style is reshaped into AWSTOE's YYYY-MM-DD_HH-MM-SS.
        let digits = utc.filter(\.isNumber)
        let c = Array(digits)
        let stamp =
            c.count >= 14
            ? "\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))_\(String(c[8..<10]))-\(String(c[10..<12]))-\(String(c[12..<14]))"
            : digits
        let folder = "\(directory)/TOE_\(stamp)_UTC-0_\(executionId)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    // MARK: reports

    /// `detailedoutput.json` and `chaining.json`, in AWSTOE's shape.
    static func writeReports(_ state: RunState, to folder: String) throws {
        try Data(JSONWriter.string(detailedOutput(state)).utf8).write(to: URL(fileURLWithPath: "\(folder)/detailedoutput.json"))
        var chaining: [String: JSONValue] = [:]
        for doc in state.documents {
            for phase in doc.phases {
                for step in phase.steps where step.outputs != nil || step.resolvedInputs != nil {
                    chaining["\(phase.name).\(step.step.name)"] = .compact(["outputs": step.outputs.map { .object($0) } ?? .null])
                }
            }
        }
        try Data(JSONWriter.string(.object(chaining)).utf8).write(to: URL(fileURLWithPath: "\(folder)/chaining.json"))
    }

    public static func detailedOutput(_ state: RunState) -> JSONValue {
        func time(_ t: Double?) -> JSONValue { t.map { .string(timestamp(Date(timeIntervalSince1970: $0))) } ?? .null }
        let documents: [JSONValue] = state.documents.map { doc in
            .compact([
                "name": .string(doc.name), "filePath": .string(doc.filePath), "status": .string(doc.status ?? "pending"),
                "description": JSONValue(doc.description), "startTime": time(doc.startTime), "endTime": time(doc.endTime),
                "failureMessage": JSONValue(doc.failureMessage),
                "phases": .array(
                    doc.phases.map { phase in
                        .compact([
                            "name": .string(phase.name), "status": .string(phase.status ?? "pending"), "startTime": time(phase.startTime),
                            "endTime": time(phase.endTime), "steps": .array(phase.steps.map(stepOutput)),
                        ])
                    }),
            ])
        }
        return .compact([
            "executionId": .string(state.executionId), "status": .string(state.status ?? "inProgress"), "startTime": time(state.startTime),
            "endTime": time(state.endTime), "failureMessage": JSONValue(state.failureMessage), "reboots": JSONValue(state.reboots),
            "documents": .array(documents),
        ])
    }

    static func stepOutput(_ s: StepState) -> JSONValue {
        let status: String =
            switch s.status {
            case .success: "success"
            case .failed: "failed"
            case .ignoredFailure: "IgnoredFailure"
            case .skipped: "skipped"
            case .cancelled: "cancelled"
            case .pending: "pending"
            case .running, .rebootThenRepeat, .rebootThenNext: "inProgress"
            }
        func time(_ t: Double?) -> JSONValue { t.map { .string(timestamp(Date(timeIntervalSince1970: $0))) } ?? .null }
        return .compact([
            "name": .string(s.step.name), "action": .string(s.step.action), "status": .string(status),
            "failureMessage": JSONValue(s.failureMessage), "timeoutSeconds": JSONValue(s.step.timeoutSeconds ?? -1),
            "onFailure": .string(s.step.onFailure.componentWord), "maxAttempts": JSONValue(s.step.maxAttempts),
            "attempts": JSONValue(s.attempts), "startTime": time(s.startTime), "endTime": time(s.endTime),
            // As AWSTOE writes them: JSON text of a list of maps.
            "inputs": .string(JSONWriter.string(listOfMaps(s.resolvedInputs ?? s.step.inputs))),
            "outputs": .string(JSONWriter.string(listOfMaps(.object(s.outputs ?? [:])))), "loop": s.step.loop ?? .null,
        ])
    }

    static func listOfMaps(_ value: JSONValue) -> JSONValue {
        if case .array = value { return value }
        return .array([value])
    }

    // MARK: ExecuteDocument

    /// Runs nested documents in memory, within this step, up to three levels deep and without cycles.
    struct Nested: NestedDocuments {
        let load: Loader
        let depth: Int
        let stack: [String]

        func run(document: String, phases: [String]?, parameters: [String: String], context: ActionContext) async -> ActionResult {
            guard depth < 3 else { return .failed("ExecuteDocument nests at most 3 levels") }
            guard !document.hasPrefix("s3://"), !document.hasPrefix("arn:") else {
                return .failed("ExecuteDocument: only local documents are supported here, not \(document)")
            }
            let path = document.hasPrefix("/") ? document : "\(context.workingDirectory)/\(document)"
            let canonical = URL(fileURLWithPath: path).standardizedFileURL.path
            guard !stack.contains(canonical) else {
                return .failed("ExecuteDocument: \(document) is already running above this step (a cycle)")
            }
            let source: Source
            do { source = try load(canonical) } catch { return .failed("ExecuteDocument: \(error)") }
            let state: DocumentState
            do {
                state = try ComponentRun.documentState(source, phases: phases ?? ["build", "validate"], parameters: parameters)
            } catch {
                return .failed("ExecuteDocument: \(error)")
            }
            var run = RunState(
                executionId: UUID().uuidString.lowercased(), documents: [state], startTime: Date().timeIntervalSince1970, maxReboots: 0)
            let engine = StepEngine(
                journal: RunJournal(folder: nil), workFolder: context.workFolder + "/nested-\(depth + 1)",
                workingDirectory: context.workingDirectory,
                environment: context.environment, outputLimit: context.outputLimit, console: context.console,
                documents: Nested(load: load, depth: depth + 1, stack: stack + [canonical]))
            do { _ = try await engine.run(&run) } catch { return .failed("ExecuteDocument: \(error)") }
            let steps = run.documents.flatMap { $0.phases.flatMap(\.steps) }
            let failed = steps.filter { $0.status == .failed }.count
            let ignored = steps.filter { $0.status == .ignoredFailure }.count
            let executed = steps.filter { $0.status != .skipped && $0.status != .pending }.count
            let summary: [String: JSONValue] = [
                "executedStepCount": JSONValue(executed), "executionId": .string(run.executionId), "failedStepCount": JSONValue(failed),
                "failureMessage": .string(run.failureMessage ?? ""), "ignoredFailedStepCount": JSONValue(ignored), "logUrl": .string(""),
                "status": .string(run.status ?? "failed"),
            ]
            return ActionResult(
                outputs: summary,
                failure: run.status == "failed" || run.status == "cancelled"
                    ? "the document \(document) failed: \(run.failureMessage ?? "")" : nil,
                detailedOutput: ComponentRun.detailedOutput(run))
        }
    }
}

/// One runner per state folder at a time: the start-up hook and an operator must not both resume a run.
final class StateLock: Sendable {
    let fd: Int32

    init(_ folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        chmod(folder, 0o700)
        fd = open("\(folder)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RunnerError("cannot open \(folder)/lock: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RunnerError("another runner is working on \(folder)")
        }
    }

    func release() { close(fd) }
}
