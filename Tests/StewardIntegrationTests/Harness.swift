import AsyncHTTPClient
import Foundation
import NIOCore
import StewardKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real `steward` and `steward-agent` processes on loopback ports the test picks, in a folder of their own.
enum Binaries {
    static var folder: String {
        if let dir = ProcessInfo.processInfo.environment["STEWARD_BIN_DIR"] { return dir }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }
    static var steward: String { "\(folder)/steward" }
    static var agent: String { "\(folder)/steward-agent" }
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: steward) && FileManager.default.isExecutableFile(atPath: agent)
    }
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func tempFolder(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("steward-it-\(name)-\(UUID().uuidString.prefix(8))").path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A child process whose output goes to a log file.
final class Child: @unchecked Sendable {
    let process = Process()
    let log: String

    init(_ executable: String, _ arguments: [String], log: String) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)!
        handle.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    func signal(_ sig: Int32) {
        if process.isRunning { kill(process.processIdentifier, sig) }
    }

    func stop() {
        signal(SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        signal(SIGKILL)
        process.waitUntilExit()
    }

    func waitExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Runs a command to completion and returns its status and standard output.
func runToEnd(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A server, its access key and an API client, with helpers to add agents.
final class Fleet: @unchecked Sendable {
    let folder: String
    let port: Int
    var server: Child?
    var agents: [String: Child] = [:]
    var agentDirs: [String: String] = [:]
    let api: TestAPI

    init(_ name: String) async throws {
        folder = tempFolder(name)
        port = freePort()
        let (status, out) = try runToEnd(Binaries.steward, ["access-key", "create", "--data-dir", "\(folder)/server", "--output", "json"])
        guard status == 0, let key = try? JSONReader.parse(out) else { throw TestFailure("access-key create failed: \(out)") }
        api = TestAPI(port: port, keyId: key["AccessKeyId"]!.textValue, secret: key["SecretAccessKey"]!.textValue)
        try await startServer()
    }

    func startServer() async throws {
        server = try Child(
            Binaries.steward, ["server", "--data-dir", "\(folder)/server", "--listen", "127.0.0.1:\(port)"], log: "\(folder)/server.log")
        try await waitFor("the server to answer", timeout: 60) { try? await self.api.healthy() }
    }

    /// Registers an agent and starts it; returns its instance id.
    func addAgent(tags: [String: String] = [:], arguments: [String] = []) async throws -> String {
        let activation = try await api.call("CreateActivation", ["IamRole": "role", "RegistrationLimit": 1])
        let dir = "\(folder)/agent-\(agentDirs.count)"
        let (status, out) = try runToEnd(
            Binaries.agent,
            [
                "register", "--server", "http://127.0.0.1:\(port)", "--activation-id", activation["ActivationId"]!.textValue,
                "--activation-code", activation["ActivationCode"]!.textValue, "--state-dir", dir,
            ])
        guard status == 0, let id = out.split(separator: "\n").last.map(String.init) else { throw TestFailure("register failed: \(out)") }
        agentDirs[id] = dir
        if !tags.isEmpty {
            _ = try await api.call(
                "AddTagsToResource",
                [
                    "ResourceType": "ManagedInstance", "ResourceId": .string(id),
                    "Tags": .array(tags.map { ["Key": .string($0.key), "Value": .string($0.value)] }),
                ])
        }
        try await startAgent(id, arguments: arguments)
        return id
    }

    func startAgent(_ id: String, arguments: [String] = []) async throws {
        agents[id] = try Child(Binaries.agent, ["start", "--state-dir", agentDirs[id]!] + arguments, log: "\(agentDirs[id]!).log")
        try await waitFor("agent \(id) to be Online", timeout: 30) { try? await self.ping(id) == "Online" ? true : nil }
    }

    func ping(_ id: String) async throws -> String {
        let info = try await api.call("DescribeInstanceInformation", ["Filters": [["Key": "InstanceIds", "Values": [.string(id)]]]])
        return info["InstanceInformationList"]?.arrayValue?.first?["PingStatus"]?.textValue ?? ""
    }

    func invocation(_ commandId: String, _ id: String) async throws -> JSONValue {
        try await api.call("GetCommandInvocation", ["CommandId": .string(commandId), "InstanceId": .string(id)])
    }

    @discardableResult
    func waitStatus(_ commandId: String, _ id: String, _ statuses: Set<String>, timeout: Double) async throws -> JSONValue {
        try await waitFor("\(commandId) on \(id) to reach \(statuses)", timeout: timeout) {
            let inv = try? await self.invocation(commandId, id)
            return inv.flatMap { statuses.contains($0["StatusDetails"]?.textValue ?? "") ? $0 : nil }
        }
    }

    func send(_ commands: [String], to ids: [String], timeout: Int? = nil) async throws -> String {
        var body: [String: JSONValue] = [
            "DocumentName": "AWS-RunShellScript", "InstanceIds": JSONValue(ids), "Parameters": ["commands": JSONValue(commands)],
        ]
        if let timeout { body["TimeoutSeconds"] = JSONValue(timeout) }
        return try await api.call("SendCommand", .object(body))["Command"]!["CommandId"]!.textValue
    }

    func shutdown() {
        for a in agents.values { a.stop() }
        server?.stop()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Polls until `check` gives a value or the time runs out.
@discardableResult
func waitFor<T>(_ what: String, timeout: Double, _ check: () async throws -> T?) async throws -> T {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let value = try await check() { return value }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TestFailure("timed out after \(timeout) s waiting for \(what)")
}

/// A SigV4-signing client for the SSM API.
struct TestAPI: Sendable {
    let port: Int
    let keyId: String
    let secret: String

    func healthy() async throws -> Bool? {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(2))
        return response.status == .ok ? true : nil
    }

    func call(_ operation: String, _ body: JSONValue = [:]) async throws -> JSONValue {
        let bytes = JSONWriter.bytes(body)
        var headers: [(String, String)] = [
            ("Host", "127.0.0.1:\(port)"), ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "AmazonSSM.\(operation)"),
        ]
        headers += SigV4.sign(
            SigV4.Request(method: "POST", path: "/", headers: headers, body: bytes), accessKeyId: keyId, secret: secret,
            region: "us-east-1", service: "ssm", now: Date())
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
        request.method = .POST
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 16 << 20)
        let value = try JSONReader.parse(Array(data.readableBytesView))
        guard response.status == .ok else { throw AWSError(value["__type"]?.textValue ?? "?", value["message"]?.textValue ?? "") }
        return value
    }
}
