import Crypto
import Foundation
import StewardAgent
import StewardKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `steward` with the fleet's credentials; returns status, stdout and stderr.
func steward(_ fleet: Fleet, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Binaries.steward)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["AWS_ACCESS_KEY_ID"] = fleet.api.keyId
    env["AWS_SECRET_ACCESS_KEY"] = fleet.api.secret
    env["AWS_REGION"] = "us-east-1"
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(fleet.port)"
    p.environment = env
    let out = Pipe()
    let errFile = "\(fleet.folder)/stderr-\(UUID().uuidString.prefix(8))"
    _ = FileManager.default.createFile(atPath: errFile, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errFile) }
    p.standardOutput = out
    p.standardError = FileHandle(forWritingAtPath: errFile)
    try p.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let errText = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), errText)
}

@Suite("Direct tasks", .enabled(if: Binaries.available, "build steward and steward-agent first"))
struct DirectExecTests {
    @Test(
        "with the control plane down, a granted task runs with streamed output and its exit code; expired, forged, out-of-scope, replayed and unproved requests are refused with their reason; the audit arrives when the server is back"
    )
    func directWithoutControlPlane() async throws {
        let fleet = try await Fleet("direct")
        defer { fleet.shutdown() }
        let tcpPort = freePort()
        let id = try await fleet.addAgent(tags: ["Role": "web"], arguments: ["--direct-listen", "127.0.0.1:\(tcpPort)"])
        let dir = fleet.agentDirs[id]!
        let socket = "\(dir)/direct.sock"
        let work = fleet.folder

        // A document the grant pins by content.
        let document = """
            {"schemaVersion": "2.2", "description": "deploy", "parameters": {"version": {"type": "String"}},
             "mainSteps": [{"action": "aws:runShellScript", "name": "deploy",
                            "inputs": {"runCommand": ["echo deploying {{ version }}"]}}]}
            """
        try Data(document.utf8).write(to: URL(fileURLWithPath: "\(work)/deploy.json"))
        _ = try await fleet.api.call("CreateDocument", ["Name": "Deploy", "Content": .string(document), "DocumentType": "Command"])

        // The operator's key and grants, from the control plane while it is up.
        #expect(try steward(fleet, ["grant", "keygen", "--out", "\(work)/op.key"]).status == 0)
        let create = { (name: String, extra: [String]) throws -> Void in
            let r = try steward(
                fleet, ["grant", "create", "--operator-key", "\(work)/op.key", "--out", "\(work)/\(name).json"] + extra)
            if r.status != 0 { throw TestFailure("grant create \(name) failed: \(r.err)") }
        }
        try create("grant", ["--instances", id, "--documents", "Deploy", "--commands", "echo *", "--ttl", "1h"])
        try create("short", ["--instances", id, "--commands", "echo *", "--ttl", "1s"])
        try create("db", ["--targets", "tag:Role=db", "--commands", "echo *", "--ttl", "1h"])
        try create("web", ["--targets", "tag:Role=web", "--commands", "echo *", "--ttl", "1h"])
        let bad = try steward(
            fleet, ["grant", "create", "--operator-key", "\(work)/op.key", "--instances", id, "--commands", "x", "--ttl", "13h"])
        #expect(bad.status != 0 && bad.err.contains("TtlSeconds"))

        let described = try await fleet.api.call("DescribeInstanceInformation", [:])
        let fingerprint = described["InstanceInformationList"]?.arrayValue?.first?["KeyFingerprint"]?.textValue
        fleet.server?.stop()
        try await waitFor("the agent to notice the server is gone", timeout: 10) {
            (try? await fleet.api.healthy()) == nil ? true : nil
        }

        let exec = { (endpoint: String, grant: String, rest: [String]) throws -> (status: Int32, out: String, err: String) in
            try steward(
                fleet, ["exec", "--direct", endpoint, "--grant", "\(work)/\(grant).json", "--operator-key", "\(work)/op.key"] + rest)
        }
        // Runs, over the Unix socket and over TCP, with the remote exit code.
        let ran = try exec("unix:\(socket)", "grant", ["--", "echo out-$((6*7)); echo err-line >&2; exit 3"])
        #expect(ran.status == 3)
        #expect(ran.out == "out-42\n")
        #expect(ran.err.contains("err-line"))
        let tcp = try exec("127.0.0.1:\(tcpPort)", "grant", ["--", "echo over-tcp"])
        #expect(tcp.status == 0 && tcp.out == "over-tcp\n")
        let doc = try exec("unix:\(socket)", "grant", ["--document", "\(work)/deploy.json", "--parameters", "version=1.2.3"])
        #expect(doc.status == 0 && doc.out == "deploying 1.2.3\n")
        let byTag = try exec("unix:\(socket)", "web", ["--", "echo tagged"])
        #expect(byTag.status == 0 && byTag.out == "tagged\n")

        // Output is streamed: the first line arrives while the task still runs.
        let operatorKey = try Curve25519.Signing.PrivateKey(
            rawRepresentation: Data(
                base64Encoded: JSONReader.parse(String(contentsOfFile: "\(work)/op.key", encoding: .utf8))["privateKey"]!.textValue)!)
        let grant = try JSONDecoder().decode(SignedGrant.self, from: Data(contentsOf: URL(fileURLWithPath: "\(work)/grant.json")))
        let client = DirectClient(endpoint: .unix(socket), grant: grant, operatorKey: operatorKey)
        let arrivals = ArrivalLog()
        let started = Date()
        let streamed = try await client.run(.commands(["echo first; sleep 1.5; echo second"], timeoutSeconds: nil)) { text, _ in
            arrivals.add(text, at: Date().timeIntervalSince(started))
        }
        guard case .exited(0, _, _) = streamed else { throw TestFailure("the streamed task did not exit 0: \(streamed)") }
        let log = arrivals.entries
        #expect(log.first?.0 == "first\n")
        #expect((log.last?.1 ?? 0) - (log.first?.1 ?? 0) > 1.0, "the first line came only with the last: \(log)")

        // Refusals, each with its reason, as one line and exit 255.
        while Date().timeIntervalSince1970 < (try grantExpiry("\(work)/short.json")) { try await Task.sleep(for: .milliseconds(100)) }
        let expired = try exec("unix:\(socket)", "short", ["--", "echo late"])
        #expect(expired.status == 255 && expired.err.contains("expired"), "\(expired)")

        var forgedContent = try grant.unverified()
        forgedContent.commands = ["*"]
        let mallory = Curve25519.Signing.PrivateKey()
        try writeGrant(try resign(forgedContent, with: mallory), to: "\(work)/forged.json")
        let forged = try exec("unix:\(socket)", "forged", ["--", "echo pwned"])
        #expect(forged.status == 255 && forged.err.contains("badSignature"), "\(forged)")
        forgedContent.issuer = DirectKeys.fingerprint(mallory.publicKey)
        try writeGrant(try resign(forgedContent, with: mallory), to: "\(work)/stranger.json")
        let stranger = try exec("unix:\(socket)", "stranger", ["--", "echo pwned"])
        #expect(stranger.status == 255 && stranger.err.contains("unknownIssuer"), "\(stranger)")

        let outOfScope = try exec("unix:\(socket)", "grant", ["--", "rm -rf /tmp/nothing"])
        #expect(outOfScope.status == 255 && outOfScope.err.contains("notAllowed"), "\(outOfScope)")
        let otherDocument = document.replacingOccurrences(of: "deploying", with: "tampering")
        try Data(otherDocument.utf8).write(to: URL(fileURLWithPath: "\(work)/tampered.json"))
        let tampered = try exec("unix:\(socket)", "grant", ["--document", "\(work)/tampered.json", "--parameters", "version=1"])
        #expect(tampered.status == 255 && tampered.err.contains("notAllowed"), "\(tampered)")

        let nodeKey = try Curve25519.Signing.PrivateKey(rawRepresentation: Data(contentsOf: URL(fileURLWithPath: "\(dir)/signing.key")))
        #expect(fingerprint == DirectKeys.fingerprint(nodeKey.publicKey))
        let wrongNode = try exec(
            "unix:\(socket)", "db", ["--node-fingerprint", fingerprint ?? "", "--", "echo hi"])
        #expect(wrongNode.status == 255 && wrongNode.err.contains("wrongNode"), "\(wrongNode)")
        let unknownNode = try exec("unix:\(socket)", "db", ["--", "echo hi"])
        #expect(unknownNode.status == 255 && unknownNode.err.contains("carries no key"), "\(unknownNode)")

        let captured = CapturedRequest()
        _ = try await client.run(.commands(["echo once"], timeoutSeconds: nil), sent: { captured.value = $0 })
        var replaying = client
        replaying.replay = captured.value
        guard case .refused(let replay) = try await replaying.run(.commands(["echo once"], timeoutSeconds: nil)) else {
            throw TestFailure("a replayed request was not refused")
        }
        #expect(replay.code == .replayed)

        let thief = DirectClient(endpoint: .tcp(host: "127.0.0.1", port: tcpPort), grant: grant, operatorKey: .init())
        guard case .refused(let stolen) = try await thief.run(.commands(["echo stolen"], timeoutSeconds: nil)) else {
            throw TestFailure("a grant used without its operator key was not refused")
        }
        #expect(stolen.code == .badProof)

        // The server comes back; the agent delivers its audit records, which list as commands of origin Direct.
        try await fleet.startServer()
        let expectedRefusals: Set<String> = [
            "Refused: expired", "Refused: badSignature", "Refused: unknownIssuer", "Refused: notAllowed", "Refused: wrongNode",
            "Refused: replayed", "Refused: badProof",
        ]
        let listed = try await waitFor("the audit records in ListCommands", timeout: 60) { () -> [JSONValue]? in
            let commands = (try? await fleet.api.call("ListCommands", ["MaxResults": 50]))?["Commands"]?.arrayValue ?? []
            let direct = commands.filter { $0["Origin"]?.textValue == "Direct" }
            return direct.count >= 14 ? direct : nil
        }
        #expect(Set(listed.map { $0["StatusDetails"]!.textValue }).isSuperset(of: expectedRefusals))
        #expect(listed.allSatisfy { $0["InstanceIds"]?.arrayValue == [.string(id)] })
        let exit3 = try #require(listed.first { $0["Parameters"]?["commands"]?.arrayValue?.first?.textValue.contains("exit 3") == true })
        #expect(exit3["Status"]?.textValue == "Failed")
        #expect(exit3["Comment"]?.textValue.contains("grant-") == true)
        let invocation = try await fleet.invocation(exit3["CommandId"]!.textValue, id)
        #expect(invocation["StandardOutputContent"]?.textValue == "out-42\n")
        #expect(invocation["ResponseCode"]?.numberValue == 3)
        let deploy = try #require(listed.first { $0["DocumentName"]?.textValue == "Deploy" })
        #expect(deploy["Parameters"]?["version"] == ["1.2.3"])

        let cli = try steward(fleet, ["commands", "--origin", "direct", "--output", "json"])
        #expect(cli.status == 0)
        let rows = try JSONReader.parse(cli.out).arrayValue ?? []
        #expect(rows.count == listed.count && rows.allSatisfy { $0["Origin"]?.textValue == "Direct" })
        let apiOnly = try steward(fleet, ["commands", "--origin", "api", "--output", "json"])
        #expect(try JSONReader.parse(apiOnly.out).arrayValue?.isEmpty == true)
        // Acknowledged records leave the agent's outbox.
        try await waitFor("the agent's audit outbox to empty", timeout: 20) {
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/direct-audit")) ?? []).filter { $0.hasSuffix(".json") }.isEmpty
                ? true : nil
        }
    }

    @Test("a direct task cut short by the agent stopping is reported failed, with the reason, once the agent is back")
    func interrupted() async throws {
        let fleet = try await Fleet("direct-kill")
        defer { fleet.shutdown() }
        let tcpPort = freePort()
        let arguments = ["--direct-listen", "127.0.0.1:\(tcpPort)"]
        let id = try await fleet.addAgent(arguments: arguments)
        let operatorKey = Curve25519.Signing.PrivateKey()
        let reply = try await fleet.api.call(
            "Steward.CreateGrant",
            [
                "OperatorPublicKey": .string(operatorKey.publicKey.rawRepresentation.base64EncodedString()),
                "InstanceIds": [.string(id)], "Commands": ["sleep *"],
            ])
        let grant = SignedGrant(payload: reply["Grant"]!["payload"]!.textValue, signature: reply["Grant"]!["signature"]!.textValue)
        let client = DirectClient(endpoint: .tcp(host: "127.0.0.1", port: tcpPort), grant: grant, operatorKey: operatorKey)
        // The node accepts a task only once its start is flushed (to the start log).
        let first = CapturedRequest()
        let running = Task {
            try await client.run(.commands(["sleep 20"], timeoutSeconds: nil), milestone: { if $0 == .accepted { first.mark() } })
        }
        try await waitFor("the node to accept the task", timeout: 20) { first.marked ? true : nil }
        fleet.agents[id]!.signal(SIGKILL)
        _ = fleet.agents[id]!.waitExit()
        await #expect(throws: (any Error).self) { try await running.value }

        try await fleet.startAgent(id, arguments: arguments)
        let command = try await waitFor("the interrupted task in ListCommands", timeout: 60) { () -> JSONValue? in
            let commands = (try? await fleet.api.call("ListCommands", [:]))?["Commands"]?.arrayValue ?? []
            return commands.first { $0["Origin"]?.textValue == "Direct" }
        }
        #expect(command["Status"]?.textValue == "Failed")
        let invocation = try await fleet.invocation(command["CommandId"]!.textValue, id)
        #expect(invocation["StandardErrorContent"]?.textValue.contains("agent stopped") == true)

        // The operator goes away (Ctrl-C): the task on the node is cancelled, and audited as such.
        let accepted = CapturedRequest()
        let abandoned = Task {
            try await client.run(.commands(["sleep 30"], timeoutSeconds: nil), milestone: { if $0 == .accepted { accepted.mark() } })
        }
        try await waitFor("the node to accept the task", timeout: 20) { accepted.marked ? true : nil }
        abandoned.cancel()
        _ = try? await abandoned.value
        let cancelled = try await waitFor("the abandoned task in ListCommands", timeout: 30) { () -> JSONValue? in
            let commands = (try? await fleet.api.call("ListCommands", [:]))?["Commands"]?.arrayValue ?? []
            return commands.first { $0["Origin"]?.textValue == "Direct" && $0["Status"]?.textValue == "Cancelled" }
        }
        #expect(cancelled["Parameters"]?["commands"] == ["sleep 30"])
    }

    func grantExpiry(_ path: String) throws -> Double {
        try JSONDecoder().decode(SignedGrant.self, from: Data(contentsOf: URL(fileURLWithPath: path))).unverified().expiresAt
    }

    func resign(_ grant: DirectGrant, with key: Curve25519.Signing.PrivateKey) throws -> SignedGrant {
        try SignedGrant.sign(grant, with: key)
    }

    func writeGrant(_ grant: SignedGrant, to path: String) throws {
        try JSONEncoder().encode(grant).write(to: URL(fileURLWithPath: path))
    }
}

final class ArrivalLog: @unchecked Sendable {
    private let lock = NSLock()
    private var log: [(String, Double)] = []
    func add(_ text: String, at time: Double) { lock.withLock { log.append((text, time)) } }
    var entries: [(String, Double)] { lock.withLock { log } }
}

final class CapturedRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var request: DirectClient.SentRequest?
    private var flag = false
    var value: DirectClient.SentRequest? {
        get { lock.withLock { request } }
        set { lock.withLock { request = newValue } }
    }
    func mark() { lock.withLock { flag = true } }
    var marked: Bool { lock.withLock { flag } }
}
