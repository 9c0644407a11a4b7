import Crypto
import Foundation
import Logging
import StewardKit
import StewardStore

/// Sends invocations to agents within each command's MaxConcurrency and MaxErrors, records their
/// progress and results, and ends those that time out.
///
/// The database is the truth; the dispatcher keeps the unfinished commands in memory and writes
/// changes in batches. An agent's result is acknowledged only after it is durable.
actor Dispatcher {
    let store: Store
    let outputs: OutputStore
    let gateway: AgentGateway
    let logger: Logger
    /// Signs every sealed message; agents pinned its public half at registration.
    let signingKey: Curve25519.Signing.PrivateKey

    struct Active {
        var command: CommandRecord
        var invocations: [InvocationRecord]
        var index: [String: Int]
        var concurrency: Int
        var errorThreshold: Int
        /// The plan with Parameter Store references resolved: in memory only, never stored.
        var plan: RunPlan
        var secrets: [String]
        /// Why the references could not be resolved; every invocation then fails with it.
        var failure: String?
    }

    /// Resolves Parameter Store references in a plan for a region.
    typealias Resolver = @Sendable (RunPlan, String) async throws(AWSError) -> ParameterReferences.Resolved
    let resolve: Resolver

    private var active: [String: Active] = [:]
    private var dirtyInvocations: [String: InvocationRecord] = [:]
    private var dirtyCommands: [String: CommandRecord] = [:]
    private var pendingAcks: [(instanceId: String, commandId: String)] = []
    private var flushing = false
    /// The encryption key of each instance with unfinished work.
    private var recipientKeys: [String: Curve25519.KeyAgreement.PublicKey] = [:]

    init(
        store: Store, outputs: OutputStore, gateway: AgentGateway, signingKey: Curve25519.Signing.PrivateKey,
        resolve: @escaping Resolver, logger: Logger
    ) {
        self.resolve = resolve
        self.signingKey = signingKey
        self.store = store
        self.outputs = outputs
        self.gateway = gateway
        self.logger = logger
    }

    /// Loads the commands that were unfinished when the server last stopped.
    func start() async throws {
        for command in try await store.unfinishedCommands() {
            let invocations = try await store.invocations(commandId: command.commandId)
            let instances = try await store.instances(region: command.region, ids: invocations.map(\.instanceId))
            learnKeys(instances.map { ($0.instanceId, $0.encryptionKey) })
            await add(command, invocations)
        }
        for id in Array(active.keys) { pump(id) }
        scheduleFlush()
    }

    /// Takes a command whose rows are already stored and starts sending it; `keys` are the targets'
    /// encryption keys (base64), by instance id.
    func submit(_ command: CommandRecord, _ invocations: [InvocationRecord], keys: [(String, String)]) async {
        learnKeys(keys)
        await add(command, invocations)
        pump(command.commandId)
        scheduleFlush()
    }

    /// A rotated key, used for everything sealed from now on.
    func learnKey(instanceId: String, encryptionKey: Curve25519.KeyAgreement.PublicKey) {
        recipientKeys[instanceId] = encryptionKey
    }

    private func learnKeys(_ keys: [(String, String)]) {
        for (id, text) in keys {
            if let data = Data(base64Encoded: text), let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: data) {
                recipientKeys[id] = key
            }
        }
    }

    private func add(_ command: CommandRecord, _ invocations: [InvocationRecord]) async {
        var plan = command.plan
        var secrets: [String] = []
        var failure: String?
        do {
            let resolved = try await resolve(command.plan, command.region)
            plan = resolved.plan
            secrets = resolved.secrets
        } catch {
            failure = error.message
        }
        let sorted = invocations.sorted { $0.position < $1.position }
        let targets = sorted.count
        let concurrency = (try? RateLimit.parseConcurrency(command.maxConcurrency))?.concurrency(targets: targets) ?? 50
        let threshold = (try? RateLimit.parseErrors(command.maxErrors))?.errorThreshold(targets: targets) ?? 0
        var index: [String: Int] = [:]
        for (i, inv) in sorted.enumerated() { index[inv.instanceId] = i }
        active[command.commandId] = Active(
            command: command, invocations: sorted, index: index, concurrency: concurrency, errorThreshold: threshold, plan: plan,
            secrets: secrets, failure: failure)
    }

    // MARK: Events from agents

    func agentConnected(_ instanceId: String) {
        for (_, a) in active {
            guard let i = a.index[instanceId] else { continue }
            let inv = a.invocations[i]
            guard inv.dispatched, !inv.state.isTerminal else { continue }
            if inv.state == .cancelling {
                gateway.send(ChannelFrame(type: .cancel, commandId: inv.commandId), to: instanceId)
            } else {
                send(inv, of: a)
            }
        }
    }

    func accepted(instanceId: String, commandId: String) {
        update(commandId, instanceId) { inv, _ in
            guard !inv.state.isTerminal, !inv.accepted else { return false }
            inv.accepted = true
            if inv.state == .pending || inv.state == .delayed {
                inv.state = .inProgress
                inv.startedAt = Date().timeIntervalSince1970
            }
            return true
        }
    }

    /// An agent refused a message. Only an expired invocation or one the agent could not journal ends here;
    /// signature, addressee, decryption and replay refusals are security events, logged, and change nothing.
    func refused(instanceId: String, commandId: String?, reason: String) {
        logger.warning(
            "agent refused a message", metadata: ["instance": "\(instanceId)", "command": "\(commandId ?? "?")", "reason": "\(reason)"])
        guard let commandId, reason.hasPrefix("expired") || reason.hasPrefix("journal") else { return }
        update(commandId, instanceId) { inv, command in
            guard !inv.state.isTerminal else { return false }
            inv.state = reason.contains("expired") ? .deliveryTimedOut : .undeliverable
            inv.finishedAt = Date().timeIntervalSince1970
            inv.plugins = [
                PluginResult(
                    name: command.plan.steps.first?.name ?? "aws:runShellScript", action: command.plan.steps.first?.action ?? "",
                    status: "Failed", statusDetails: inv.state.details, responseCode: -1, startedAt: nil, finishedAt: inv.finishedAt,
                    stdout: "", stderr: "The agent refused the command: \(reason)")
            ]
            return true
        }
    }

    func result(_ result: InvocationResult, from instanceId: String) {
        guard result.instanceId == instanceId else { return }
        // Acknowledged in any case: if the invocation is already final (for example it timed out while
        // the agent was away) there is nothing to change, but the agent may let the result go.
        pendingAcks.append((instanceId, result.commandId))
        update(result.commandId, instanceId) { inv, _ in
            guard !inv.state.isTerminal else { return false }
            do { try outputs.save(result) } catch {
                logger.error("could not save command output", metadata: ["command": "\(result.commandId)", "error": "\(error)"])
            }
            inv.state = result.state.isTerminal ? result.state : .failed
            inv.accepted = true
            inv.dispatched = true
            inv.startedAt = inv.startedAt ?? result.startedAt
            inv.finishedAt = result.finishedAt
            inv.responseCode = result.responseCode
            inv.plugins = result.plugins.map(Self.apiPlugin)
            return true
        }
        scheduleFlush()
    }

    /// Changes one invocation of an unfinished command in place; if `change` says it changed anything,
    /// the invocation is written and the command re-evaluated.
    private func update(
        _ commandId: String, _ instanceId: String, _ change: (inout InvocationRecord, CommandRecord) -> Bool
    ) {
        // Taken out of the table meanwhile, so the invocation array has one owner and is not copied.
        guard var a = active.removeValue(forKey: commandId) else { return }
        guard let i = a.index[instanceId], change(&a.invocations[i], a.command) else {
            active[commandId] = a
            return
        }
        markDirty(a.invocations[i])
        active[commandId] = a
        pump(commandId)
        scheduleFlush()
    }

    /// Keeps what the API shows within the SSM limits; the full text is in the output files.
    static func apiPlugin(_ p: PluginResult) -> PluginResult {
        var p = p
        p.stdout = truncate(p.stdout, 24_000)
        p.stderr = truncate(p.stderr, 8_000)
        return p
    }

    static func truncate(_ s: String, _ limit: Int) -> String {
        guard s.count > limit else { return s }
        let suffix = "\n--output truncated--"
        return String(s.prefix(limit - suffix.count)) + suffix
    }

    // MARK: Operator actions

    /// Cancels a command, or only its invocations on the given instances. Returns false if it is already final.
    func cancel(commandId: String, instanceIds: [String]?) -> Bool {
        guard var a = active.removeValue(forKey: commandId) else { return false }
        let only = instanceIds.map(Set.init)
        if only == nil { a.command.cancelRequested = true }
        let now = Date().timeIntervalSince1970
        for i in a.invocations.indices {
            if let only, !only.contains(a.invocations[i].instanceId) { continue }
            guard !a.invocations[i].state.isTerminal else { continue }
            if a.invocations[i].dispatched {
                // The agent is told in any case, so that a copy still on its way is refused when it arrives.
                gateway.send(ChannelFrame(type: .cancel, commandId: commandId), to: a.invocations[i].instanceId)
            }
            if a.invocations[i].accepted && gateway.isConnected(a.invocations[i].instanceId) {
                // Running on the node: Cancelled once the agent reports the run ended.
                a.invocations[i].state = .cancelling
            } else {
                a.invocations[i].state = .cancelled
                a.invocations[i].finishedAt = now
            }
            markDirty(a.invocations[i])
        }
        dirtyCommands[commandId] = a.command
        active[commandId] = a
        pump(commandId)
        scheduleFlush()
        return true
    }

    // MARK: Time

    /// Ends invocations whose delivery timeout passed and commands whose `ExpiresAfter` passed.
    func sweep(now: Double) {
        for id in Array(active.keys) {
            guard var a = active.removeValue(forKey: id) else { continue }
            var changed = false
            for i in a.invocations.indices where !a.invocations[i].state.isTerminal {
                let inv = a.invocations[i]
                let next: InvocationState?
                if inv.state == .cancelling {
                    next = !gateway.isConnected(inv.instanceId) || now > a.command.expiresAfter ? .cancelled : nil
                } else if inv.accepted {
                    // The agent enforces the execution timeout; this is the backstop for an agent that never returns.
                    next = now > a.command.expiresAfter + 30 ? .deliveryTimedOut : nil
                } else if now > a.command.deliveryDeadline {
                    next = .deliveryTimedOut
                } else if inv.dispatched && inv.state == .pending && !gateway.isConnected(inv.instanceId) {
                    // Sent, but the node is away: Delayed until it returns or the delivery timeout passes.
                    next = .delayed
                } else {
                    next = nil
                }
                guard let next else { continue }
                a.invocations[i].state = next
                if next.isTerminal { a.invocations[i].finishedAt = now }
                markDirty(a.invocations[i])
                changed = true
            }
            active[id] = a
            if changed { pump(id) }
        }
        scheduleFlush()
    }

    // MARK: Sending

    /// Dispatches what MaxConcurrency allows, stops at MaxErrors, and updates the command's status.
    private func pump(_ commandId: String) {
        guard var a = active.removeValue(forKey: commandId) else { return }
        let before = a.command
        let now = Date().timeIntervalSince1970
        var errors = 0
        var inFlight = 0
        for inv in a.invocations {
            if inv.state.countsAsError { errors += 1 }
            if inv.dispatched && !inv.state.isTerminal { inFlight += 1 }
        }
        if errors > a.errorThreshold {
            for i in a.invocations.indices where !a.invocations[i].dispatched && !a.invocations[i].state.isTerminal {
                a.invocations[i].state = .terminated
                a.invocations[i].finishedAt = now
                markDirty(a.invocations[i])
            }
        } else if !a.command.cancelRequested && inFlight < a.concurrency {
            for i in a.invocations.indices where inFlight < a.concurrency {
                guard !a.invocations[i].dispatched, !a.invocations[i].state.isTerminal else { continue }
                a.invocations[i].dispatched = true
                if let failure = a.failure {
                    let step = a.command.plan.steps.first
                    a.invocations[i].state = .failed
                    a.invocations[i].finishedAt = now
                    a.invocations[i].plugins = [
                        PluginResult(
                            name: step?.name ?? "", action: step?.action ?? "", status: "Failed", statusDetails: "Failed",
                            responseCode: -1, startedAt: nil, finishedAt: now, stdout: "", stderr: failure)
                    ]
                    markDirty(a.invocations[i])
                    continue
                }
                inFlight += 1
                markDirty(a.invocations[i])
                send(a.invocations[i], of: a)
            }
        }
        let state = CommandState.aggregate(
            a.invocations.map(\.state), errorThreshold: a.errorThreshold, cancelRequested: a.command.cancelRequested)
        a.command.status = state.status
        a.command.statusDetails = state.details
        a.command.completedCount = state.completedCount
        a.command.errorCount = state.errorCount
        a.command.deliveryTimedOutCount = state.deliveryTimedOutCount
        if dirtyCommands[commandId] != nil || a.command != before {
            dirtyCommands[commandId] = a.command
        }
        if state.completedCount < a.invocations.count { active[commandId] = a }
    }

    /// Seals the invocation to its agent and sends it, if the agent is connected (else it goes when the agent returns).
    private func send(_ inv: InvocationRecord, of active: Active) {
        let command = active.command
        guard gateway.isConnected(inv.instanceId) else { return }
        guard let key = recipientKeys[inv.instanceId] else {
            logger.error("no encryption key for an instance; cannot send", metadata: ["instance": "\(inv.instanceId)"])
            return
        }
        let message = InvocationMessage(
            commandId: command.commandId, instanceId: inv.instanceId, documentName: command.documentName, plan: active.plan,
            notAfter: command.deliveryDeadline, secrets: active.secrets)
        do {
            let envelope = try SealedEnvelope.seal(
                try JSONEncoder().encode(message), to: inv.instanceId, recipientKey: key, signingKey: signingKey,
                now: Date().timeIntervalSince1970)
            gateway.send(ChannelFrame(type: .invoke, sealed: envelope), to: inv.instanceId)
        } catch {
            logger.error("could not seal an invocation", metadata: ["instance": "\(inv.instanceId)", "error": "\(error)"])
        }
    }

    private func markDirty(_ inv: InvocationRecord) {
        dirtyInvocations[inv.commandId + "/" + inv.instanceId] = inv
    }

    // MARK: Durability

    private func scheduleFlush() {
        guard !flushing else { return }
        guard !dirtyInvocations.isEmpty || !dirtyCommands.isEmpty || !pendingAcks.isEmpty else { return }
        flushing = true
        Task { await self.flushLoop() }
    }

    /// Writes everything that changed in one transaction, then acknowledges the results it made durable.
    private func flushLoop() async {
        while !dirtyInvocations.isEmpty || !dirtyCommands.isEmpty || !pendingAcks.isEmpty {
            let invocations = Array(dirtyInvocations.values)
            let commands = dirtyCommands
            let acks = pendingAcks
            dirtyInvocations = [:]
            dirtyCommands = [:]
            pendingAcks = []
            do {
                try await store.saveProgress(invocations: invocations, commands: Array(commands.values))
                for ack in acks {
                    gateway.send(ChannelFrame(type: .resultAck, commandId: ack.commandId), to: ack.instanceId)
                }
            } catch {
                logger.error("could not save command progress; retrying", metadata: ["error": "\(error)"])
                for inv in invocations where dirtyInvocations[inv.commandId + "/" + inv.instanceId] == nil {
                    markDirty(inv)
                }
                for (id, c) in commands where dirtyCommands[id] == nil { dirtyCommands[id] = c }
                pendingAcks = acks + pendingAcks
                try? await Task.sleep(for: .seconds(1))
            }
        }
        flushing = false
    }

    /// Waits until every change so far is written (used by tests and at shutdown).
    func drain() async {
        while flushing || !dirtyInvocations.isEmpty || !dirtyCommands.isEmpty {
            scheduleFlush()
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
