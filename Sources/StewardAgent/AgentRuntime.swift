import Crypto
import Logging
import StewardInventory
import StewardKit
import StewardRunner
import Synchronization
import WSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// One agent identity: keeps a channel to the server, runs what it is sent, and delivers every result.
///
/// An invocation is written to the journal before it is accepted, so a duplicate is recognised;
/// its result stays in the outbox, on disk, until the server acknowledges it.
public actor AgentRuntime {
    public struct Options: Sendable {
        public var maxConcurrentRuns: Int
        public var backoffBase: Duration
        public var backoffCap: Duration
        /// Run by `/bin/sh -c` when a command asks for a reboot (exit 194).
        public var rebootCommand: String
        /// Reboots one run may ask for before it is stopped.
        public var maxReboots: Int
        /// Called after the reboot command ran: the agent stops here, as the machine is going down.
        public var onReboot: (@Sendable () -> Void)?
        /// Where custom inventory JSON files are read from.
        public var customInventoryDirectory = "/var/lib/steward/inventory/custom"
        /// Gather and upload inventory this often on its own (nil: only when a command asks).
        public var inventoryInterval: Duration?
        /// Where direct tasks are accepted (none by default).
        public var direct = DirectEndpoints()
        /// Told the TCP port the direct listener bound (useful with port 0).
        public var onDirectBound: @Sendable (Int?) -> Void = { _ in }
        /// `steward-runner`, which turns direct tasks' documents into plans (default: next to this executable).
        public var runnerPath: String?

        public init(
            maxConcurrentRuns: Int = 8, backoffBase: Duration = .milliseconds(250), backoffCap: Duration = .seconds(15),
            rebootCommand: String = ComponentRun.defaultRebootCommand, maxReboots: Int = 10, onReboot: (@Sendable () -> Void)? = nil
        ) {
            self.maxConcurrentRuns = maxConcurrentRuns
            self.backoffBase = backoffBase
            self.backoffCap = backoffCap
            self.rebootCommand = rebootCommand
            self.maxReboots = maxReboots
            self.onReboot = onReboot
        }
    }

    let folder: StateFolder
    let identity: StateFolder.Identity
    /// Read again on every connection, so keys rotated by `steward-agent rotate-keys` take effect.
    var signingKey: Curve25519.Signing.PrivateKey
    var encryptionKey: Curve25519.KeyAgreement.PrivateKey
    /// The server's public key, pinned at registration.
    let serverKey: Curve25519.Signing.PublicKey
    let info: NodeInfo
    let options: Options
    let logger: Logger
    let slots: Slots
    /// Interactive sessions opened through the channel.
    public let sessions: SessionHost
    /// The direct listener's TLS certificate, which follows the identity key.
    var directIdentity: DirectTLSIdentity?
    /// Where a direct task's start is flushed before it runs.
    var directLog: DirectStartLog?
    /// The keys that authenticate each open session's messages on the channel.
    var sessionKeys: [String: SessionAuthenticator] = [:]

    /// The associations applied while the server is unreachable, and when it was last reachable.
    let heldStore: HeldAssociations
    var heldSet: AssociationSet?
    var heldDigest: String?
    var offlineSince: Double
    var lastOfflineRun: [String: Double] = [:]
    var offlineRunning: Set<String> = []

    private var outbound: AsyncStream<String>.Continuation?
    private var running: [String: Task<Void, Never>] = [:]
    private(set) public var isConnected = false

    public init(stateDir: String, info: NodeInfo = NodeFacts.current(), options: Options = .init(), slots: Slots? = nil, logger: Logger)
        throws
    {
        self.folder = try StateFolder(path: stateDir)
        self.identity = try folder.identity()
        self.signingKey = try folder.signingKey()
        self.encryptionKey = try folder.encryptionKey()
        guard let pinned = Data(base64Encoded: identity.serverSigningKey),
            let serverKey = try? Curve25519.Signing.PublicKey(rawRepresentation: pinned)
        else { throw AgentError("\(stateDir)/identity.json holds no valid server key; register again") }
        self.serverKey = serverKey
        self.info = info
        self.options = options
        self.slots = slots ?? Slots(options.maxConcurrentRuns)
        var logger = logger
        logger[metadataKey: "instance"] = "\(identity.instanceId)"
        self.logger = logger
        self.heldStore = HeldAssociations(folder: folder)
        self.offlineSince = Date().timeIntervalSince1970
        if let loaded = heldStore.load(key: encryptionKey, serverKey: serverKey, instanceId: identity.instanceId) {
            heldSet = loaded.set
            heldDigest = loaded.digest
        }
        self.sessions = SessionHost(logger: logger)
    }

    public nonisolated var instanceId: String { identity.instanceId }

    /// Runs until the task is cancelled: connects, serves, and reconnects with capped, fully jittered backoff.
    public func run() async {
        recoverInterruptedRuns()
        let schedule = options.inventoryInterval.map { interval in
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(2))
                    guard self.isConnected else { continue }
                    var policy = GatherPolicy()
                    policy.customInventoryDirectory = self.options.customInventoryDirectory
                    let (items, _) = await Gatherers.gather(policy, facts: self.inventoryFacts)
                    if case .failure(let error) = await self.uploadInventory(items) {
                        self.logger.warning("scheduled inventory upload failed: \(error)")
                    }
                    try? await Task.sleep(for: interval)
                }
            }
        }
        let offline = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                self.applyHeldAssociations(now: Date().timeIntervalSince1970)
            }
        }
        let direct = startDirectListener()
        let sessionOutput = Task { await self.forwardSessionMessages() }
        defer {
            schedule?.cancel()
            offline.cancel()
            direct?.cancel()
            sessionOutput.cancel()
            sessions.terminateAll()
        }
        var attempt = 0
        while !Task.isCancelled {
            let welcomed = await connectOnce()
            if Task.isCancelled { break }
            attempt = welcomed ? 0 : attempt + 1
            let ceiling = min(Double(options.backoffCap.components.seconds), options.backoffBase.seconds * pow(2, Double(min(attempt, 16))))
            let delay = Double.random(in: 0...max(ceiling, 0.05))
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        }
        for task in running.values { task.cancel() }
    }

    /// One connection. Returns whether the server welcomed us (so backoff starts over).
    func connectOnce() async -> Bool {
        if let signing = try? folder.signingKey(), let encryption = try? folder.encryptionKey() {
            signingKey = signing
            encryptionKey = encryption
            try? directIdentity?.update(signing)
        }
        let signingKey = self.signingKey
        let url: String
        do { url = try Registration.webSocketURL(identity.server, path: "/agent/v1/channel") } catch {
            logger.error("\(error)")
            return false
        }
        let welcomed = Flag()
        let config = WebSocketClientConfiguration(maxFrameSize: 16 << 20, autoPing: .enabled(timePeriod: .seconds(15)))
        do {
            try await WebSocketClient.connect(url: url, configuration: config, logger: logger) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 16 << 20).makeAsyncIterator()
                guard case .text(let first)? = try await messages.next(), let challenge = try? ChannelFrame.decode(first),
                    challenge.type == .challenge, let nonce = challenge.nonce
                else { return }
                let signature = try signingKey.signature(for: ChannelFrame.authMessage(nonce: nonce, instanceId: self.instanceId))
                try await outbound.write(
                    .text(ChannelFrame(type: .auth, instanceId: self.instanceId, signature: signature.base64EncodedString()).encoded()))
                guard case .text(let second)? = try await messages.next(), let welcome = try? ChannelFrame.decode(second),
                    welcome.type == .welcome
                else {
                    self.logger.error("the server refused the channel")
                    return
                }
                guard let proof = welcome.signature.flatMap({ Data(base64Encoded: $0) }),
                    self.serverKey.isValidSignature(proof, for: ChannelFrame.welcomeMessage(nonce: nonce, instanceId: self.instanceId))
                else {
                    self.logger.error("the server did not prove the identity pinned at registration; not taking commands from it")
                    return
                }
                welcomed.set()
                if let tags = welcome.tags { try? self.folder.saveTags(tags) }
                let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .unbounded)
                let writer = Task {
                    for await text in stream {
                        do { try await outbound.write(.text(text)) } catch { break }
                    }
                }
                await self.attach(continuation)
                while case .text(let text)? = try await messages.next() {
                    guard let frame = try? ChannelFrame.decode(text) else { continue }
                    await self.handle(frame)
                }
                await self.detach()
                continuation.finish()
                writer.cancel()
            }
        } catch {
            logger.debug("channel closed", metadata: ["error": "\(error)"])
        }
        detach()
        return welcomed.isSet
    }

    private func attach(_ continuation: AsyncStream<String>.Continuation) {
        outbound = continuation
        isConnected = true
        logger.info("connected to \(identity.server)")
        var hello = ChannelFrame(type: .info, info: info)
        hello.digest = heldDigest
        send(hello)
        // Results the server has not acknowledged yet go again.
        for result in folder.outbox() { send(ChannelFrame(type: .result, result: result)) }
        for run in heldStore.outbox() {
            var frame = ChannelFrame(type: .associationRun)
            frame.offlineRun = run
            send(frame)
        }
        resendAudit()
    }

    // MARK: inventory

    nonisolated var inventoryFacts: InstanceFacts {
        InstanceFacts(
            instanceId: identity.instanceId, computerName: info.computerName, ipAddress: info.ipAddress, platformName: info.platformName,
            platformType: info.platformType, platformVersion: info.platformVersion, agentVersion: info.agentVersion)
    }

    private var inventoryWaiters: [String: CheckedContinuation<ChannelFrame?, Never>] = [:]

    /// Sends one upload and waits for the server's answer (nil when none came in time or the channel closed).
    private func sendInventory(_ wire: [InventoryWireItem]) async -> ChannelFrame? {
        guard outbound != nil else { return nil }
        let id = UUID().uuidString.lowercased()
        send(ChannelFrame(type: .inventory, inventory: wire, uploadId: id))
        let timeout = Task {
            try? await Task.sleep(for: .seconds(60))
            self.expireInventoryWaiter(id)
        }
        defer { timeout.cancel() }
        return await withCheckedContinuation { inventoryWaiters[id] = $0 }
    }

    private func expireInventoryWaiter(_ id: String) {
        inventoryWaiters.removeValue(forKey: id)?.resume(returning: nil)
    }

    /// Uploads gathered inventory: hash only for what the server already holds, the rest in full; types the server
    /// does not hold after all go again in full. Returns one line per type saying what was sent.
    func uploadInventory(_ items: [InventoryItem]) async -> Result<String, AgentError> {
        let ledger = InventoryLedger(folder: folder)
        let wire = ledger.wire(items)
        guard let reply = await sendInventory(wire) else {
            return .failure(
                AgentError("the server did not acknowledge the inventory upload (the channel is down or slow); it is sent again next time"))
        }
        if let reason = reply.reason { return .failure(AgentError("the server refused the inventory: \(reason)")) }
        var resent: [String] = []
        if let mismatched = reply.mismatched, !mismatched.isEmpty {
            ledger.forget(mismatched)
            let again = ledger.wire(items.filter { mismatched.contains($0.typeName) }, full: Set(mismatched))
            guard let second = await sendInventory(again), second.reason == nil, second.mismatched?.isEmpty ?? true else {
                return .failure(AgentError("the server did not take the inventory sent again in full"))
            }
            resent = mismatched
        }
        ledger.record(Dictionary(items.map { ($0.typeName, $0.contentHash) }, uniquingKeysWith: { a, _ in a }))
        let summary = InventoryLedger.summary(wire, resent: resent)
        logger.info("inventory uploaded", metadata: ["types": "\(summary.split(separator: "\n").joined(separator: "; "))"])
        return .success(summary)
    }

    private func detach() {
        if isConnected {
            logger.info("disconnected from \(identity.server)")
            offlineSince = Date().timeIntervalSince1970
        }
        outbound?.finish()
        outbound = nil
        isConnected = false
        for (_, waiter) in inventoryWaiters { waiter.resume(returning: nil) }
        inventoryWaiters.removeAll()
        // The server ends these sessions when the channel goes; their shells must not linger unreachable.
        sessions.terminateAll()
    }

    func send(_ frame: ChannelFrame) {
        outbound?.yield(frame.encoded())
    }

    func sendFrame(_ frame: ChannelFrame) { send(frame) }

    var rebootingNow: Bool { rebooting }

    func handle(_ frame: ChannelFrame) {
        switch frame.type {
        case .invoke:
            if let sealed = frame.sealed {
                receive(sealed)
            } else {
                refuse(nil, "unsealed: an invocation must arrive sealed to this agent")
            }
        case .cancel:
            if let id = frame.commandId {
                if let run = running[id] {
                    run.cancel()
                } else if folder.journal(id) == nil {
                    cancelledBeforeStart.insert(id)
                }
            }
        case .resultAck:
            if let id = frame.commandId {
                folder.removeOutbox(id)
                heldStore.removeOutbox(id)
            }
        case .associations:
            if let sealed = frame.sealed, let digest = frame.digest { hold(sealed, digest: digest) }
        case .directAuditAck:
            if let id = frame.commandId {
                folder.removeAudit(id)
                directLog?.delivered(id)
            }
        case .inventoryAck:
            if let id = frame.uploadId, let waiter = inventoryWaiters.removeValue(forKey: id) { waiter.resume(returning: frame) }
        case .session:
            receiveSession(frame)
        case .error:
            logger.warning("the server closed the channel: \(frame.reason ?? "no reason given")")
        default:
            break
        }
    }

    /// Opens a sealed invocation: the server's signature, the addressee and freshness are checked first.
    func receive(_ sealed: SealedEnvelope) {
        let plaintext: Data
        do {
            plaintext = try sealed.open(as: instanceId, privateKey: encryptionKey, serverKey: serverKey)
        } catch {
            let code =
                switch error {
                case .badSignature: "signature"
                case .wrongRecipient: "recipient"
                case .undecryptable: "decrypt"
                case .malformed: "malformed"
                }
            refuse(nil, "\(code): \(error)")
            return
        }
        guard let invocation = try? JSONDecoder().decode(InvocationMessage.self, from: plaintext) else {
            refuse(nil, "malformed: the sealed message does not hold an invocation")
            return
        }
        guard invocation.instanceId == instanceId else {
            refuse(invocation.commandId, "recipient: the invocation is for \(invocation.instanceId), not \(instanceId)")
            return
        }
        receive(invocation, nonce: sealed.nonce)
    }

    /// Commands cancelled before they arrived here; a late copy is refused, not run.
    private var cancelledBeforeStart: Set<String> = []

    /// The reasons of the last refusals, newest last (also reported to the server and logged).
    private(set) var refusals: [String] = []

    private func refuse(_ commandId: String?, _ reason: String) {
        refusals.append(reason)
        if refusals.count > 100 { refusals.removeFirst() }
        logger.warning("refused a message from the server", metadata: ["command": "\(commandId ?? "?")", "reason": "\(reason)"])
        send(ChannelFrame(type: .refused, commandId: commandId, reason: reason))
    }

    /// Takes an invocation exactly once: a duplicate is answered from the journal or outbox, never run again;
    /// the very same sealed message seen twice is a replay and is refused.
    func receive(_ invocation: InvocationMessage, nonce: String) {
        let id = invocation.commandId
        if var entry = folder.journal(id) {
            if entry.nonces.contains(nonce) {
                refuse(id, "replayed: this sealed message was delivered before")
                return
            }
            entry.nonces.append(nonce)
            try? folder.writeJournal(entry, durable: false)
            if let result = folder.outboxResult(id) {
                send(ChannelFrame(type: .result, result: result))
            } else if !entry.finished {
                send(ChannelFrame(type: .accepted, commandId: id))
            }
            return
        }
        if rebooting {
            // Not accepted: the server sends it again when this node is back.
            return
        }
        if cancelledBeforeStart.contains(id) {
            refuse(id, "cancelled: the command was cancelled before it arrived")
            return
        }
        let now = Date().timeIntervalSince1970
        guard invocation.notAfter > now else {
            refuse(id, "expired: the delivery timeout passed before the command arrived")
            return
        }
        do {
            try folder.writeJournal(.init(invocation: invocation, acceptedAt: now, finished: false, nonces: [nonce]))
        } catch {
            refuse(id, "journal: the agent cannot write its journal: \(error)")
            return
        }
        send(ChannelFrame(type: .accepted, commandId: id))
        running[id] = Task { await self.execute(invocation) }
    }

    func execute(_ invocation: InvocationMessage) async {
        var context = DocumentRunner.Context(
            commandId: invocation.commandId, instanceId: instanceId, region: identity.region, platformType: info.platformType,
            platformName: info.platformName, platformVersion: info.platformVersion, workFolder: runFolder(invocation.commandId))
        context.secrets = invocation.secrets
        context.maxReboots = options.maxReboots
        context.extraActions["aws:softwareInventory"] = SoftwareInventoryAction(
            facts: inventoryFacts, customInventoryDirectory: options.customInventoryDirectory,
            upload: { items in await self.uploadInventory(items) })
        await slots.acquire()
        let outcome = await DocumentRunner().run(invocation.plan, context: context)
        await slots.release()
        switch outcome {
        case .finished(let result):
            finish(result, invocation: invocation)
        case .reboot:
            reboot(for: invocation.commandId)
        }
    }

    func runFolder(_ commandId: String) -> String { "\(folder.path)/runs/\(folder.safe(commandId))" }

    /// A run asked for a reboot (exit 194): its state is saved and the invocation stays InProgress; after the
    /// machine (and this agent) start again, the run continues at the step that asked.
    private func reboot(for commandId: String) {
        running[commandId] = nil
        guard !rebooting else { return }
        rebooting = true
        logger.notice("a command asks for a reboot", metadata: ["command": "\(commandId)", "reboot-command": "\(options.rebootCommand)"])
        let command = options.rebootCommand
        let onReboot = options.onReboot
        Task.detached {
            _ = try? await ChildProcess.run(
                executable: "/bin/sh", arguments: ["-c", command], environment: ProcessInfo.processInfo.environment, workingDirectory: "/",
                timeout: .seconds(120))
            onReboot?()
        }
    }

    /// Set once a reboot was started: nothing new is taken.
    private var rebooting = false

    private func finish(_ result: InvocationResult, invocation: InvocationMessage) {
        do {
            try folder.writeOutbox(result)
            var entry = folder.journal(invocation.commandId) ?? .init(invocation: invocation, acceptedAt: result.startedAt, finished: true)
            entry.finished = true
            try folder.writeJournal(entry, durable: false)
        } catch {
            logger.error("cannot write the outbox: \(error)")
        }
        running[invocation.commandId] = nil
        try? FileManager.default.removeItem(atPath: runFolder(invocation.commandId))
        send(ChannelFrame(type: .result, result: result))
    }

    /// Runs that were under way when the agent stopped continue from their journal: after a reboot a step asked
    /// for, that step runs again; after a crash, the interrupted step fails (it is never run twice) and the run goes
    /// on as its onFailure says. A run accepted but never started starts now, unless its delivery deadline passed.
    func recoverInterruptedRuns() {
        let now = Date().timeIntervalSince1970
        folder.pruneJournal(olderThan: 7 * 86_400, now: now)
        for entry in folder.allJournal() where !entry.finished && folder.outboxResult(entry.invocation.commandId) == nil {
            let invocation = entry.invocation
            let started = FileManager.default.fileExists(atPath: "\(runFolder(invocation.commandId))/state.json")
            if started || invocation.notAfter > now {
                logger.notice(
                    started ? "resuming a run from its journal" : "starting a run accepted before the agent stopped",
                    metadata: ["command": "\(invocation.commandId)"])
                running[invocation.commandId] = Task { await self.execute(invocation) }
                continue
            }
            let step = invocation.plan.steps.first
            let result = InvocationResult(
                commandId: invocation.commandId, instanceId: instanceId, state: .failed, responseCode: -1,
                startedAt: entry.acceptedAt, finishedAt: now,
                plugins: [
                    PluginResult(
                        name: step?.name ?? "", action: step?.action ?? "", status: "Failed", statusDetails: "Failed",
                        responseCode: -1, startedAt: entry.acceptedAt, finishedAt: now, stdout: "",
                        stderr: "The agent stopped before this command started, and its delivery deadline has passed; it was not run.")
                ])
            finish(result, invocation: invocation)
        }
    }
}

/// A counting semaphore for runs; one may be shared by many identities (swarm mode).
public actor Slots {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(_ count: Int) { free = max(1, count) }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { free += 1 } else { waiters.removeFirst().resume() }
    }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
