import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The one engine under every document kind: runs the steps of a ``RunState`` in order, journaling each change
/// (fsync and rename) before and after every step, so that a run stopped at any point (crash, SIGKILL, power loss,
/// reboot) continues from where it was when it is started again.
///
/// - A step found `running` was interrupted: it is tried again if it has attempts left, else it fails and its
///   `onFailure` policy decides what follows.
/// - A step that exited 194 runs again after the reboot; after the Reboot action the next step runs.
/// - Completed steps are never repeated; their outputs stay available for chaining.
public struct StepEngine: Sendable {
    public var journal: RunJournal
    public var actions: ActionRegistry
    /// Scripts and temporary files of this run.
    public var workFolder: String
    /// Where programs start, if not in the work folder.
    public var workingDirectory: String?
    public var environment: [String: String]
    public var outputLimit: Int
    public var console: Console
    public var documents: (any NestedDocuments)?
    /// The run's application log: one line per event.
    public var log: @Sendable (String) -> Void
    /// A test hook: `before:<phase>.<step>` or `after:<phase>.<step>` makes the process kill itself with SIGKILL at
    /// that point, right after the journal was written, so a test can stop the runner at every step boundary.
    public var crashPoint: String?

    public enum Outcome: Sendable, Equatable {
        case finished
        /// The run asked for a reboot; its state is saved and it continues when started again.
        case reboot
    }

    public init(
        journal: RunJournal, actions: ActionRegistry = .standard, workFolder: String, workingDirectory: String? = nil,
        environment: [String: String],
        outputLimit: Int = 1 << 20, console: Console = .silent, documents: (any NestedDocuments)? = nil,
        log: @escaping @Sendable (String) -> Void = { _ in }, crashPoint: String? = nil
    ) {
        self.journal = journal
        self.actions = actions
        self.workFolder = workFolder
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.outputLimit = outputLimit
        self.console = console
        self.documents = documents
        self.log = log
        self.crashPoint = crashPoint
    }

    public func run(_ state: inout RunState) async throws -> Outcome {
        if state.isFinished { return .finished }
        try FileManager.default.createDirectory(atPath: workFolder, withIntermediateDirectories: true)
        var stop = false
        for d in state.documents.indices {
            if state.documents[d].startTime == nil { state.documents[d].startTime = now() }
            for p in state.documents[d].phases.indices {
                if state.documents[d].phases[p].startTime == nil, !stop { state.documents[d].phases[p].startTime = now() }
                for s in state.documents[d].phases[p].steps.indices {
                    let step = state.documents[d].phases[p].steps[s]
                    switch step.status {
                    case .success:
                        if step.step.exitOnSuccess { stop = true }
                        continue
                    case .failed:
                        if [.abort, .successAndExit].contains(step.step.onFailure) { stop = true }
                        continue
                    case .cancelled:
                        stop = true
                        continue
                    case .ignoredFailure, .skipped:
                        continue
                    case .rebootThenNext:
                        // Back from the reboot the Reboot action asked for.
                        state.documents[d].phases[p].steps[s].status = .success
                        state.documents[d].phases[p].steps[s].endTime = now()
                        state.documents[d].phases[p].steps[s].outputs = [:]
                        log("\(id(state, d, p, s)): back from the reboot; going on with the next step")
                        try journal.save(state)
                        continue
                    case .pending, .running, .rebootThenRepeat:
                        if stop { continue }
                    }
                    if try await runStep(&state, d, p, s) == .reboot { return .reboot }
                    let done = state.documents[d].phases[p].steps[s]
                    if done.status == .cancelled || (done.status == .failed && [.abort, .successAndExit].contains(done.step.onFailure))
                        || (done.status == .success && done.step.exitOnSuccess)
                    {
                        stop = true
                    }
                }
                finishPhase(&state.documents[d].phases[p])
            }
            finishDocument(&state.documents[d])
        }
        state.endTime = now()
        let statuses = state.documents.map { $0.status ?? "success" }
        state.status =
            statuses.contains("cancelled")
            ? "cancelled"
            : statuses.contains("failed")
                ? "failed" : statuses.contains("SuccessWithIgnoredFailure") ? "SuccessWithIgnoredFailure" : "success"
        if state.status == "failed" {
            state.failureMessage = state.documents.compactMap(\.failureMessage).first
        }
        try journal.save(state)
        log("run \(state.executionId) finished: \(state.status!)")
        return .finished
    }

    func now() -> Double { Date().timeIntervalSince1970 }

    func id(_ state: RunState, _ d: Int, _ p: Int, _ s: Int) -> String {
        "\(state.documents[d].phases[p].name).\(state.documents[d].phases[p].steps[s].step.name)"
    }

    /// Runs (or resumes) one step to a final status, or to a reboot request.
    func runStep(_ state: inout RunState, _ d: Int, _ p: Int, _ s: Int) async throws -> Outcome {
        let stepId = id(state, d, p, s)
        var st = state.documents[d].phases[p].steps[s]
        func commit() throws {
            state.documents[d].phases[p].steps[s] = st
            try journal.save(state)
        }
        var countAttempt = true
        switch st.status {
        case .running:
            endLeftoverChild()
            let message = "the runner stopped while this step was running (attempt \(st.attempts) of \(st.step.maxAttempts))"
            log("\(stepId): \(message)")
            if st.attempts >= st.step.maxAttempts {
                st.status = st.step.onFailure == .ignore ? .ignoredFailure : .failed
                if st.step.onFailure == .successAndExit { st.status = .success }
                st.failureMessage = "Interrupted: \(message); it was not run again."
                st.stderr += (st.stderr.isEmpty || st.stderr.hasSuffix("\n") ? "" : "\n") + st.failureMessage! + "\n"
                st.endTime = now()
                try commit()
                return .finished
            }
        case .rebootThenRepeat:
            log("\(stepId): back from the reboot; running the step again")
            countAttempt = false
        default:
            break
        }

        let template = Template(variables: state.documents[d].variables, steps: completedSteps(state, document: d))
        if st.conditionResult == nil, let condition = st.step.condition {
            let decision = ConditionEvaluator.decide(template.apply(condition), path: environment["PATH"] ?? "/usr/bin:/bin")
            st.conditionResult = decision == .execute
            log("\(stepId): condition gives \(decision.rawValue)")
            if decision == .abort {
                // The step fails without running; its own onFailure decides what follows.
                st.status = st.step.onFailure == .ignore ? .ignoredFailure : .failed
                st.failureMessage = "The step's condition says Abort."
                st.endTime = now()
                try commit()
                return .finished
            }
        }
        if st.conditionResult == false {
            st.status = .skipped
            st.endTime = now()
            try commit()
            return .finished
        }

        while true {
            if countAttempt { st.attempts += 1 }
            countAttempt = true
            st.status = .running
            if st.startTime == nil { st.startTime = now() }
            try commit()
            crash(at: "before:\(stepId)")
            log("\(stepId): \(st.step.action), attempt \(st.attempts) of \(st.step.maxAttempts)")
            let (result, inputs) = await runIterations(st, stepId: stepId, template: template, phase: state.documents[d].phases[p].name)
            if let inputs { st.resolvedInputs = inputs }
            append(&st.stdout, result.stdout)
            append(&st.stderr, result.stderr)
            st.exitCode = result.exitCode
            st.timedOut = result.timedOut
            if let reboot = result.reboot {
                if state.reboots >= state.maxReboots {
                    // A reboot loop: stop the run whatever the step's policy.
                    st.failureMessage =
                        "The step asked for a reboot after \(state.reboots) reboots in this run; the limit is \(state.maxReboots), so the run stops here."
                    st.stderr += st.failureMessage! + "\n"
                    st.status = .failed
                    st.step.onFailure = .abort
                    st.endTime = now()
                    try commit()
                    return .finished
                }
                state.reboots += 1
                st.status = reboot == .repeatStep ? .rebootThenRepeat : .rebootThenNext
                if reboot == .nextStep { st.outputs = result.outputs }
                try commit()
                log("\(stepId): asks for a reboot (\(state.reboots) of at most \(state.maxReboots))")
                return .reboot
            }
            if result.cancelled {
                st.status = .cancelled
                st.failureMessage = "Cancelled."
                st.endTime = now()
                try commit()
                return .finished
            }
            if result.succeeded {
                st.status = .success
                if result.stopRun { st.step.exitOnSuccess = true }
                st.outputs = result.outputs
                st.failureMessage = nil
                st.endTime = now()
                try commit()
                crash(at: "after:\(stepId)")
                return .finished
            }
            st.failureMessage = result.failure ?? (result.timedOut ? "The step timed out." : "The step failed.")
            if st.attempts < st.step.maxAttempts {
                log("\(stepId): attempt \(st.attempts) failed (\(st.failureMessage!)); trying again")
                continue
            }
            log("\(stepId): failed: \(st.failureMessage!)")
            switch st.step.onFailure {
            case .ignore: st.status = .ignoredFailure
            case .successAndExit: st.status = .success
            default: st.status = .failed
            }
            if st.status == .ignoredFailure || st.status == .success { st.outputs = result.outputs }
            st.endTime = now()
            try commit()
            crash(at: "after:\(stepId)")
            return .finished
        }
    }

    /// Steps of this document that ran, by `phase.step`, for chaining.
    func completedSteps(_ state: RunState, document d: Int) -> [String: StepState] {
        var out: [String: StepState] = [:]
        for phase in state.documents[d].phases {
            for step in phase.steps where step.status != .pending { out["\(phase.name).\(step.step.name)"] = step }
        }
        return out
    }

    /// One attempt: every loop iteration of the step, under one deadline.
    func runIterations(_ st: StepState, stepId: String, template: Template, phase: String) async -> (ActionResult, JSONValue?) {
        guard let action = actions[st.step.action] else {
            return (.failed("The action \(st.step.action) is not supported by this runner."), nil)
        }
        var firstInputs: JSONValue?
        let deadline = st.step.timeoutSeconds.map { ContinuousClock.now + .seconds($0) }
        let iterations: [Template.LoopVariables?]
        if let loop = st.step.loop {
            switch LoopExpansion.values(of: loop, template: template) {
            case .success(let items): iterations = items
            case .failure(let error): return (.failed(error.description), nil)
            }
        } else {
            iterations = [nil]
        }
        var single: [String: JSONValue]?
        var joined: [(String, [String])] = []
        var failedIndices: [Int] = []
        var messages: [String] = []
        var total = ActionResult()
        for (i, loopVars) in iterations.enumerated() {
            if let deadline, ContinuousClock.now >= deadline {
                total.timedOut = true
                total.failure = "The step timed out after \(st.step.timeoutSeconds!) seconds."
                return (total, firstInputs)
            }
            var t = template
            t.loop = loopVars
            let inputs = t.apply(st.step.inputs)
            if firstInputs == nil { firstInputs = inputs }
            // The child's process group is noted only for a run that can resume (its journal is on disk).
            let resumable = journal.folder != nil
            let context = ActionContext(
                phase: phase, stepName: st.step.name, workFolder: workFolder, workingDirectory: workingDirectory, environment: environment,
                deadline: deadline,
                outputLimit: outputLimit, console: console,
                processStarted: { [workFolder] pgid in if resumable { Self.noteChild(pgid, in: workFolder) } },
                documents: documents)
            let r = await action.run(inputs, context: context)
            if resumable { Self.noteChild(nil, in: workFolder) }
            append(&total.stdout, r.stdout)
            append(&total.stderr, r.stderr)
            total.exitCode = r.exitCode
            total.stopRun = total.stopRun || r.stopRun
            if r.detailedOutput != nil { total.detailedOutput = r.detailedOutput }
            if r.reboot != nil || r.cancelled || r.timedOut {
                total.reboot = r.reboot
                total.cancelled = r.cancelled
                total.timedOut = r.timedOut
                total.failure = r.failure
                return (total, firstInputs)
            }
            if r.succeeded {
                if st.step.loop == nil { single = r.outputs }
                for (key, value) in r.outputs.sorted(by: { $0.key < $1.key }) {
                    if let k = joined.firstIndex(where: { $0.0 == key }) {
                        joined[k].1.append(value.textValue)
                    } else {
                        joined.append((key, [value.textValue]))
                    }
                }
            } else {
                // A failed iteration ends the loop, whatever the step's onFailure says.
                failedIndices.append(i)
                messages.append(r.failure ?? "failed")
                break
            }
        }
        // A loop's outputs are the successful iterations' values joined per key; a plain step keeps its own.
        total.outputs = single ?? Dictionary(uniqueKeysWithValues: joined.map { ($0.0, JSONValue.string($0.1.joined(separator: "\n"))) })
        if !failedIndices.isEmpty {
            total.failure =
                st.step.loop == nil
                ? messages[0]
                : "Iterations \(failedIndices.map(String.init).joined(separator: ", ")) failed: \(messages.joined(separator: "; "))"
        }
        return (total, firstInputs)
    }

    /// Adds output to what a step keeps, up to the output limit; what does not fit is dropped and marked once.
    func append(_ target: inout String, _ text: String) {
        guard !text.isEmpty, !target.hasSuffix(Self.truncated) else { return }
        let room = outputLimit - target.utf8.count
        if text.utf8.count <= room {
            target += text
        } else {
            target += String(decoding: text.utf8.prefix(max(0, room)), as: UTF8.self) + Self.truncated
        }
    }

    static let truncated = "\n--output truncated--"

    func crash(at point: String) {
        guard let crashPoint, crashPoint == point else { return }
        log("test hook: killing the runner at \(point)")
        kill(getpid(), SIGKILL)
    }

    // MARK: the child of an interrupted step

    /// Records the process group of the running child (with the boot it belongs to) next to the journal.
    static func noteChild(_ pgid: Int32?, in folder: String) {
        let path = "\(folder)/.running-child"
        guard let pgid else {
            unlink(path)
            return
        }
        try? DurableFile.write(Data("\(bootId()) \(pgid)".utf8), to: path, mode: 0o600, sync: false)
    }

    /// A runner that crashed may leave its step's processes running; they are ended before the step is retried.
    /// Only within the same boot: after a reboot the number may belong to someone else.
    func endLeftoverChild() {
        let path = "\(workFolder)/.running-child"
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let parts = String(decoding: data, as: UTF8.self).split(separator: " ")
        defer { unlink(path) }
        guard parts.count == 2, String(parts[0]) == Self.bootId(), let pgid = Int32(parts[1]), pgid > 1 else { return }
        if killpg(pgid, SIGKILL) == 0 { log("ended the process group \(pgid) left by the interrupted step") }
    }

    static func bootId() -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/sys/kernel/random/boot_id") else { return "unknown" }
        return String(String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace })
    }

    // MARK: statuses

    func finishPhase(_ phase: inout PhaseState) {
        for i in phase.steps.indices where phase.steps[i].status == .pending { phase.steps[i].status = .skipped }
        phase.status = Self.aggregate(phase.steps.map(\.status))
        if phase.endTime == nil { phase.endTime = now() }
    }

    func finishDocument(_ document: inout DocumentState) {
        let steps = document.phases.flatMap(\.steps)
        document.status = Self.aggregate(steps.map(\.status))
        if document.status == "failed" {
            document.failureMessage = steps.first { $0.status == .failed }.flatMap { s in
                document.phases.first { $0.steps.contains(s) }.map { "\($0.name).\(s.step.name): \(s.failureMessage ?? "failed")" }
            }
        }
        if document.endTime == nil { document.endTime = now() }
    }

    static func aggregate(_ statuses: [StepStatus]) -> String {
        if statuses.contains(.cancelled) { return "cancelled" }
        if statuses.contains(.failed) { return "failed" }
        if statuses.contains(.ignoredFailure) { return "SuccessWithIgnoredFailure" }
        return "success"
    }
}

/// The values a step's loop runs over.
enum LoopExpansion {
    static func values(of loop: JSONValue, template: Template) -> Result<[Template.LoopVariables?], RunnerError> {
        let name = loop["name"]?.stringValue
        if let spec = loop["for"] {
            func int(_ key: String) -> Int? {
                switch spec[key] {
                case .number(let n)?: Int(n)
                case .string(let s)?: Int(template.resolve(s).trimmingSpaces)
                default: nil
                }
            }
            guard let start = int("start"), let end = int("end"), let by = int("updateBy"), by != 0,
                (end - start).signum() * by.signum() >= 0
            else { return .failure(RunnerError("loop.for needs start, end and a non-zero updateBy that reaches end")) }
            var out: [Template.LoopVariables?] = []
            var i = 0
            for v in stride(from: start, through: end, by: by) {
                out.append(.init(name: name, index: i, value: String(v)))
                i += 1
            }
            return .success(out)
        }
        var items: [String] = []
        switch loop["forEach"] {
        case .array(let list)?:
            items = list.map { template.resolve($0.textValue) }
        case .object(let map)?:
            let list = template.resolve(map["list"]?.textValue ?? "")
            let delimiter = map["delimiter"]?.stringValue?.first ?? ","
            items = list.split(separator: delimiter, omittingEmptySubsequences: false).map(String.init)
        default:
            return .failure(RunnerError("a loop needs for or forEach"))
        }
        return .success(items.enumerated().map { .init(name: name, index: $0.offset, value: $0.element) })
    }
}
