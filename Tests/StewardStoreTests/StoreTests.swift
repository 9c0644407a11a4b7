import Foundation
import Logging
import StewardTestSupport
import Testing

@testable import StewardKit
@testable import StewardStore

/// Each engine the store runs on; PostgreSQL only when `STEWARD_TEST_POSTGRES_URL` names one (scripts/test starts it).
enum Engine: String, CaseIterable, Sendable {
    case sqlite
    case postgres

    static var available: [Engine] {
        ProcessInfo.processInfo.environment["STEWARD_TEST_POSTGRES_URL"] == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    func open() async throws -> Store {
        var logger = Logger(label: "store-test")
        logger.logLevel = .warning
        switch self {
        case .sqlite:
            let dir = Scratch.folder("store")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            return try await Store.open(url: nil, sqlitePath: "\(dir)/steward.db", logger: logger)
        case .postgres:
            return try await Store.open(
                url: ProcessInfo.processInfo.environment["STEWARD_TEST_POSTGRES_URL"], sqlitePath: "", logger: logger)
        }
    }
}

/// Tests share a PostgreSQL database, so every test works in a region of its own.
func freshRegion() -> String { "test-\(UUID().uuidString.prefix(8).lowercased())-1" }

@Suite("The store on SQLite and PostgreSQL")
struct StoreTests {
    @Test("migrations run once and a second open is harmless", arguments: Engine.available)
    func migrations(_ engine: Engine) async throws {
        let store = try await engine.open()
        try await store.migrate()
        await store.close()
    }

    @Test("an access key id is unique", arguments: Engine.available)
    func accessKeys(_ engine: Engine) async throws {
        let store = try await engine.open()
        let id = "AKTEST" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(14)
        #expect(try await store.insertAccessKey(id: id, secretSealed: "sealed", createdAt: 1))
        #expect(try await store.insertAccessKey(id: id, secretSealed: "other", createdAt: 2) == false)
        #expect(try await store.accessKey(id: id)?.secretSealed == "sealed")
        await store.close()
    }

    func activation(region: String, limit: Int, expires: Double) -> Activation {
        Activation(
            activationId: UUID().uuidString.lowercased(), region: region, codeHash: "hash", description: nil,
            defaultInstanceName: "node", iamRole: "role", registrationLimit: limit, registrationsCount: 0,
            expirationDate: expires, createdDate: 1, tags: [Tag(key: "Role", value: "web")])
    }

    func instance(_ a: Activation) -> ManagedInstance {
        ManagedInstance(
            instanceId: InstanceID.generate(), region: a.region, activationId: a.activationId, name: nil, signingKey: "k",
            encryptionKey: "e", registrationDate: 1, pingStatus: "ConnectionLost", lastPing: nil, info: nil, iamRole: a.iamRole)
    }

    @Test("registration honours the code, the limit and the expiry, and copies the activation's tags", arguments: Engine.available)
    func registration(_ engine: Engine) async throws {
        let store = try await engine.open()
        let region = freshRegion()
        let a = activation(region: region, limit: 2, expires: 2_000_000_000)
        try await store.insertActivation(a)
        guard case .refused = try await store.register(activationId: a.activationId, codeHash: "wrong", now: 10, makeInstance: instance)
        else {
            Issue.record("a wrong code registered")
            return
        }
        for _ in 0..<2 {
            guard
                case .registered(let i) = try await store.register(
                    activationId: a.activationId, codeHash: "hash", now: 10, makeInstance: instance)
            else {
                Issue.record("registration refused")
                return
            }
            #expect(try await store.tags(region: region, type: "ManagedInstance", id: i.instanceId) == [Tag(key: "Role", value: "web")])
        }
        guard
            case .refused(let reason) = try await store.register(
                activationId: a.activationId, codeHash: "hash", now: 10, makeInstance: instance)
        else {
            Issue.record("registered past the limit")
            return
        }
        #expect(reason.contains("limit"))
        #expect(try await store.activation(id: a.activationId)?.registrationsCount == 2)
        #expect(try await store.instances(region: region).count == 2)

        let expired = activation(region: region, limit: 5, expires: 5)
        try await store.insertActivation(expired)
        guard
            case .refused(let why) = try await store.register(
                activationId: expired.activationId, codeHash: "hash", now: 10, makeInstance: instance)
        else {
            Issue.record("registered with an expired activation")
            return
        }
        #expect(why.contains("expired"))
        await store.close()
    }

    @Test("document versions: create, duplicate content, default, delete", arguments: Engine.available)
    func documents(_ engine: Engine) async throws {
        let store = try await engine.open()
        let region = freshRegion()
        func version(_ content: String) -> DocumentVersion {
            DocumentVersion(
                region: region, name: "MyDoc", version: 0, content: content, format: .json, documentType: "Command",
                schemaVersion: "2.2", hash: content, createdDate: 1, versionName: nil, targetType: nil, displayName: nil)
        }
        guard case .stored = try await store.createDocument(version("a"), owner: "123456789012") else {
            Issue.record("create")
            return
        }
        guard case .alreadyExists = try await store.createDocument(version("a"), owner: "123456789012") else {
            Issue.record("dup")
            return
        }
        guard case .duplicateContent = try await store.addDocumentVersion(version("a"), expectedLatest: nil) else {
            Issue.record("same")
            return
        }
        guard case .stored(let head, let v2) = try await store.addDocumentVersion(version("b"), expectedLatest: 1) else {
            Issue.record("v2")
            return
        }
        #expect(v2.version == 2 && head.latestVersion == 2 && head.defaultVersion == 1)
        guard case .notLatest = try await store.addDocumentVersion(version("c"), expectedLatest: 1) else {
            Issue.record("stale")
            return
        }
        #expect(try await store.setDefaultDocumentVersion(region: region, name: "MyDoc", version: 2)?.defaultVersion == 2)
        #expect(try await store.setDefaultDocumentVersion(region: region, name: "MyDoc", version: 9) == nil)
        #expect(try await store.documentVersions(region: region, name: "MyDoc").map(\.version) == [1, 2])
        #expect(try await store.deleteDocument(region: region, name: "MyDoc", version: 1))
        #expect(try await store.documentVersions(region: region, name: "MyDoc").map(\.version) == [2])
        #expect(try await store.deleteDocument(region: region, name: "MyDoc", version: nil))
        #expect(try await store.documentHead(region: region, name: "MyDoc") == nil)
        #expect(try await store.deleteDocument(region: region, name: "MyDoc", version: nil) == false)
        await store.close()
    }

    @Test("a command with many invocations is stored, updated and found again", arguments: Engine.available)
    func commands(_ engine: Engine) async throws {
        let store = try await engine.open()
        let region = freshRegion()
        let id = UUID().uuidString.lowercased()
        let plan = RunPlan(
            schemaVersion: "2.2", steps: [PlanStep(name: "s", action: "aws:runShellScript", inputs: ["runCommand": ["true"]])])
        var command = CommandRecord(
            commandId: id, region: region, documentName: "AWS-RunShellScript", documentVersion: "$DEFAULT", comment: "c",
            parameters: ["commands": ["true"]], instanceIds: [], targetPairs: [.init(key: "InstanceIds", values: ["*"])],
            requestedAt: 100, expiresAfter: 200, timeoutSeconds: 60, executionTimeout: 40, maxConcurrency: "50", maxErrors: "0",
            status: "Pending", statusDetails: "Pending", targetCount: 250, completedCount: 0, errorCount: 0, deliveryTimedOutCount: 0,
            cancelRequested: false, plan: plan)
        let invocations = (0..<250).map { n in
            InvocationRecord(
                commandId: id, instanceId: String(format: "mi-%017x", n), region: region, position: n, instanceName: "n\(n)",
                state: .pending, dispatched: false, accepted: false, requestedAt: 100, startedAt: nil, finishedAt: nil,
                responseCode: -1, plugins: [])
        }
        try await store.insertCommand(command, invocations: invocations)
        #expect(try await store.unfinishedCommands().contains { $0.commandId == id })
        var done = invocations[7]
        done.state = .success
        done.dispatched = true
        done.accepted = true
        done.responseCode = 0
        done.plugins = [
            PluginResult(
                name: "s", action: "aws:runShellScript", status: "Success", statusDetails: "Success", responseCode: 0, startedAt: 101,
                finishedAt: 102, stdout: "ok ✓\n", stderr: "")
        ]
        command.status = "Success"
        command.completedCount = 250
        try await store.saveProgress(invocations: [done], commands: [command])
        #expect(try await store.invocation(commandId: id, instanceId: done.instanceId) == done)
        #expect(try await store.command(id: id) == command)
        #expect(try await store.invocations(commandId: id).count == 250)
        #expect(try await store.commands(region: region, commandId: nil, instanceId: done.instanceId).map(\.commandId) == [id])
        #expect(try await store.unfinishedCommands().contains { $0.commandId == id } == false)
        await store.close()
    }

    @Test("tags are upserted, limited and removed", arguments: Engine.available)
    func tags(_ engine: Engine) async throws {
        let store = try await engine.open()
        let region = freshRegion()
        #expect(
            try await store.addTags(
                region: region, type: "ManagedInstance", id: "mi-1", tags: [Tag(key: "a", value: "1"), Tag(key: "b", value: "2")]))
        #expect(try await store.addTags(region: region, type: "ManagedInstance", id: "mi-1", tags: [Tag(key: "a", value: "3")]))
        #expect(
            try await store.tags(region: region, type: "ManagedInstance", id: "mi-1") == [
                Tag(key: "a", value: "3"), Tag(key: "b", value: "2"),
            ])
        #expect(
            try await store.addTags(region: region, type: "ManagedInstance", id: "mi-1", tags: [Tag(key: "c", value: "")], limit: 2)
                == false)
        try await store.removeTags(region: region, type: "ManagedInstance", id: "mi-1", keys: ["a"])
        #expect(try await store.tagsByResource(region: region, type: "ManagedInstance") == ["mi-1": ["b": "2"]])
        await store.close()
    }
}
