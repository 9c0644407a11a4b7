import Crypto
import Foundation
import Logging
import StewardTestSupport
import Testing

@testable import StewardAgent
@testable import StewardKit
@testable import StewardRunner

@Suite("The agent's journal, outbox and sealed messages")
struct JournalTests {
    /// A registered state folder made by hand, with the server key that "registered" it.
    struct Node {
        var dir: String
        var server: Curve25519.Signing.PrivateKey
        var folder: StateFolder { try! StateFolder(path: dir) }
        var encryptionKey: Curve25519.KeyAgreement.PublicKey { try! folder.encryptionKey().publicKey }
    }

    static let instanceId = "mi-0123456789abcdef0"

    func registered() throws -> Node {
        let dir = Scratch.folder("agent")
        let folder = try StateFolder(path: dir)
        _ = try folder.createKeys()
        let server = Curve25519.Signing.PrivateKey()
        try folder.saveIdentity(
            .init(
                instanceId: Self.instanceId, region: "us-east-1", server: "http://127.0.0.1:1",
                serverSigningKey: server.publicKey.rawRepresentation.base64EncodedString()))
        return Node(dir: dir, server: server)
    }

    func invocation(_ commandId: String, _ commands: [String], notAfter: Double = Date().timeIntervalSince1970 + 60) -> InvocationMessage {
        InvocationMessage(
            commandId: commandId, instanceId: Self.instanceId, documentName: "AWS-RunShellScript",
            plan: RunPlan(
                schemaVersion: "2.2",
                steps: [PlanStep(name: "s", action: "aws:runShellScript", inputs: ["runCommand": JSONValue(commands)])]),
            notAfter: notAfter)
    }

    func seal(_ message: InvocationMessage, for node: Node, recipient: String = instanceId, key: Curve25519.KeyAgreement.PublicKey? = nil)
        throws -> SealedEnvelope
    {
        try SealedEnvelope.seal(
            try JSONEncoder().encode(message), to: recipient, recipientKey: key ?? node.encryptionKey, signingKey: node.server,
            now: Date().timeIntervalSince1970)
    }

    func runtime(_ node: Node) throws -> AgentRuntime {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try AgentRuntime(stateDir: node.dir, logger: logger)
    }

    func waitForOutbox(_ folder: StateFolder, _ id: String) async throws -> InvocationResult {
        for _ in 0..<200 {
            if let r = folder.outboxResult(id) { return r }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw AgentError("no result in the outbox")
    }

    @Test("a duplicate invocation is answered from the journal and never runs twice")
    func duplicates() async throws {
        let node = try registered()
        let marker = "\(node.dir)/marker"
        let agent = try runtime(node)
        let message = invocation("11111111-1111-1111-1111-111111111111", ["echo x >> \(marker)"])
        await agent.receive(try seal(message, for: node))
        await agent.receive(try seal(message, for: node))
        let result = try await waitForOutbox(node.folder, message.commandId)
        #expect(result.state == .success)
        await agent.receive(try seal(message, for: node))
        // A fresh runtime (as after a restart) sees the same journal.
        await (try runtime(node)).receive(try seal(message, for: node))
        try await Task.sleep(for: .milliseconds(200))
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "x\n")
        #expect(await agent.refusals.isEmpty)
    }

    @Test("the same sealed message delivered twice is refused as a replay")
    func replay() async throws {
        let node = try registered()
        let agent = try runtime(node)
        let envelope = try seal(invocation("12121212-1212-1212-1212-121212121212", ["true"]), for: node)
        await agent.receive(envelope)
        await agent.receive(envelope)
        #expect(await agent.refusals.map { String($0.prefix(8)) } == ["replayed"])
    }

    @Test("a flipped byte, another agent's key, another addressee or another server are each refused")
    func tampering() async throws {
        let node = try registered()
        let agent = try runtime(node)
        let message = invocation("13131313-1313-1313-1313-131313131313", ["touch \(node.dir)/ran"])

        var flipped = try seal(message, for: node)
        var bytes = Array(Data(base64Encoded: flipped.ciphertext)!)
        bytes[bytes.count / 2] ^= 0x01
        flipped.ciphertext = Data(bytes).base64EncodedString()
        await agent.receive(flipped)

        let other = Curve25519.KeyAgreement.PrivateKey().publicKey
        await agent.receive(try seal(message, for: node, key: other))

        await agent.receive(try seal(message, for: node, recipient: "mi-fffffffffffffffff"))

        var forged = node
        forged.server = Curve25519.Signing.PrivateKey()
        await agent.receive(try seal(message, for: forged))

        var misaddressed = message
        misaddressed.instanceId = "mi-fffffffffffffffff"
        await agent.receive(try seal(misaddressed, for: node))

        try await Task.sleep(for: .milliseconds(200))
        #expect(!FileManager.default.fileExists(atPath: "\(node.dir)/ran"))
        let reasons = await agent.refusals.map { String($0.split(separator: ":").first ?? "") }
        #expect(reasons == ["signature", "decrypt", "recipient", "signature", "recipient"])
    }

    @Test("a message captured on the wire is unreadable without the agent's private key")
    func confidentiality() throws {
        let node = try registered()
        let secret = "s3cr3t-\(UUID().uuidString)"
        let envelope = try seal(invocation("14141414-1414-1414-1414-141414141414", ["echo \(secret)"]), for: node)
        let wire = String(decoding: try JSONEncoder().encode(envelope), as: UTF8.self)
        #expect(!wire.contains(secret))
        #expect(throws: SealedEnvelope.OpenError.undecryptable) {
            try envelope.open(as: Self.instanceId, privateKey: Curve25519.KeyAgreement.PrivateKey(), serverKey: node.server.publicKey)
        }
    }

    @Test("a command cancelled before it arrives is refused when it does")
    func cancelledFirst() async throws {
        let node = try registered()
        let agent = try runtime(node)
        let message = invocation("15151515-1515-1515-1515-151515151515", ["touch \(node.dir)/ran"])
        await agent.handle(ChannelFrame(type: .cancel, commandId: message.commandId))
        await agent.receive(try seal(message, for: node))
        try await Task.sleep(for: .milliseconds(200))
        #expect(!FileManager.default.fileExists(atPath: "\(node.dir)/ran"))
        #expect(await agent.refusals.first?.hasPrefix("cancelled") == true)
    }

    @Test("an invocation past its delivery deadline is refused, not run")
    func expired() async throws {
        let node = try registered()
        let agent = try runtime(node)
        let message = invocation("22222222-2222-2222-2222-222222222222", ["touch \(node.dir)/ran"], notAfter: 1)
        await agent.receive(try seal(message, for: node))
        try await Task.sleep(for: .milliseconds(200))
        #expect(!FileManager.default.fileExists(atPath: "\(node.dir)/ran"))
        #expect(node.folder.journal(message.commandId) == nil)
        #expect(await agent.refusals.first?.hasPrefix("expired") == true)
    }

    @Test("a step that was running when the agent stopped is reported failed on start, once, and never run again")
    func interrupted() async throws {
        let node = try registered()
        let folder = node.folder
        let message = invocation("44444444-4444-4444-4444-444444444444", ["touch \(node.dir)/ran"])
        try folder.writeJournal(.init(invocation: message, acceptedAt: 1, finished: false))
        // The engine's journal says the step was running when the agent died.
        var step = StepState(
            step: RunStep(name: "s", action: "aws:runShellScript", inputs: message.plan.steps[0].inputs, timeoutSeconds: 3600))
        step.status = .running
        step.attempts = 1
        let state = RunState(
            executionId: message.commandId,
            documents: [
                DocumentState(
                    name: "c", filePath: "", description: nil, variables: [:], phases: [PhaseState(name: "command", steps: [step])])
            ],
            startTime: 1, maxReboots: 10)
        try RunJournal(folder: "\(folder.path)/runs/\(folder.safe(message.commandId))").save(state)
        await (try runtime(node)).recoverInterruptedRuns()
        try await waitUntil { folder.outboxResult(message.commandId) != nil }
        let result = try #require(folder.outboxResult(message.commandId))
        #expect(result.state == .failed)
        #expect(result.plugins[0].stderr.contains("not run again"))
        #expect(!FileManager.default.fileExists(atPath: "\(node.dir)/ran"))
        #expect(folder.journal(message.commandId)?.finished == true)
        folder.removeOutbox(message.commandId)
        await (try runtime(node)).recoverInterruptedRuns()
        try await Task.sleep(for: .milliseconds(200))
        #expect(folder.outboxResult(message.commandId) == nil)
    }

    @Test("a run accepted but not yet started when the agent stopped starts when it is back")
    func acceptedNotStarted() async throws {
        let node = try registered()
        let folder = node.folder
        let message = invocation("55555555-5555-5555-5555-555555555555", ["echo started-late"])
        try folder.writeJournal(.init(invocation: message, acceptedAt: 1, finished: false))
        await (try runtime(node)).recoverInterruptedRuns()
        try await waitUntil { folder.outboxResult(message.commandId) != nil }
        let result = try #require(folder.outboxResult(message.commandId))
        #expect(result.state == .success)
        #expect(result.plugins[0].stdout == "started-late\n")
    }

    func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(50)) }
    }

    @Test("key files are private to the agent's user")
    func keyModes() throws {
        let node = try registered()
        for name in ["signing.key", "encryption.key", "identity.json"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(node.dir)/\(name)")
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(name)")
        }
    }
}
