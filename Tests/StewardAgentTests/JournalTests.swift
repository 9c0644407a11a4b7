import Crypto
import Foundation
import Logging
import Testing

@testable import StewardAgent
@testable import StewardKit

@Suite("The agent's journal and outbox")
struct JournalTests {
    /// A registered state folder, made by hand (no server is needed to test the journal).
    func registeredFolder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("steward-agent-\(UUID().uuidString.prefix(8))").path
        let folder = try StateFolder(path: dir)
        _ = try folder.createKeys()
        let server = Curve25519.Signing.PrivateKey()
        try folder.saveIdentity(
            .init(
                instanceId: "mi-0123456789abcdef0", region: "us-east-1", server: "http://127.0.0.1:1",
                serverSigningKey: server.publicKey.rawRepresentation.base64EncodedString()))
        return dir
    }

    func invocation(_ commandId: String, _ commands: [String], notAfter: Double = Date().timeIntervalSince1970 + 60) -> InvocationMessage {
        InvocationMessage(
            commandId: commandId, instanceId: "mi-0123456789abcdef0", documentName: "AWS-RunShellScript",
            plan: RunPlan(
                schemaVersion: "2.2",
                steps: [PlanStep(name: "s", action: "aws:runShellScript", inputs: ["runCommand": JSONValue(commands)])]),
            notAfter: notAfter)
    }

    func runtime(_ dir: String) throws -> AgentRuntime {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try AgentRuntime(stateDir: dir, logger: logger)
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
        let dir = try registeredFolder()
        let marker = "\(dir)/marker"
        let agent = try runtime(dir)
        let message = invocation("11111111-1111-1111-1111-111111111111", ["echo x >> \(marker)"])
        await agent.receive(message)
        await agent.receive(message)
        let result = try await waitForOutbox(try StateFolder(path: dir), message.commandId)
        #expect(result.state == .success)
        await agent.receive(message)
        // A fresh runtime (as after a restart) sees the same journal.
        await (try runtime(dir)).receive(message)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "x\n")
    }

    @Test("an invocation past its delivery deadline is refused, not run")
    func expired() async throws {
        let dir = try registeredFolder()
        let agent = try runtime(dir)
        let message = invocation("22222222-2222-2222-2222-222222222222", ["touch \(dir)/ran"], notAfter: 1)
        await agent.receive(message)
        try await Task.sleep(for: .milliseconds(200))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/ran"))
        #expect(try StateFolder(path: dir).journal(message.commandId) == nil)
    }

    @Test("an invocation addressed to another instance is refused")
    func otherInstance() async throws {
        let dir = try registeredFolder()
        var message = invocation("33333333-3333-3333-3333-333333333333", ["touch \(dir)/ran"])
        message.instanceId = "mi-fffffffffffffffff"
        await (try runtime(dir)).receive(message)
        try await Task.sleep(for: .milliseconds(200))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/ran"))
    }

    @Test("a run that was under way when the agent stopped is reported failed on start, once")
    func interrupted() async throws {
        let dir = try registeredFolder()
        let folder = try StateFolder(path: dir)
        let message = invocation("44444444-4444-4444-4444-444444444444", ["true"])
        try folder.writeJournal(.init(invocation: message, acceptedAt: 1, finished: false))
        await (try runtime(dir)).recoverInterruptedRuns()
        let result = try #require(folder.outboxResult(message.commandId))
        #expect(result.state == .failed)
        #expect(folder.journal(message.commandId)?.finished == true)
        folder.removeOutbox(message.commandId)
        await (try runtime(dir)).recoverInterruptedRuns()
        #expect(folder.outboxResult(message.commandId) == nil)
    }

    @Test("key files are private to the agent's user")
    func keyModes() throws {
        let dir = try registeredFolder()
        for name in ["signing.key", "encryption.key", "identity.json"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(dir)/\(name)")
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(name)")
        }
    }
}
