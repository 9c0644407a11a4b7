import ArgumentParser
import Crypto
import Foundation
import StewardAgent
import StewardKit

/// Round trips of `true`: direct over the Unix socket and over TCP, next to the same command through the control plane.
struct BenchDirect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "direct",
        abstract: "Time direct round trips of `true` (Unix socket, TCP) next to SendCommand until Success through the control plane.",
        discussion: "A real server process and a real agent process on 127.0.0.1. Build with -c release for figures worth quoting.")

    @Option(help: "Round trips per path.") var count: Int = 300
    @Option(help: "Round trips per path left out before measuring.") var warmup: Int = 20
    @Flag(help: "Keep the server's and agent's folders and logs, and print where they are.") var keep = false

    func run() async throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let agentBinary = "\(bin)/steward-agent"
        guard FileManager.default.isExecutableFile(atPath: agentBinary) else {
            throw ValidationError("\(agentBinary) is missing: build it first (swift build --product steward-agent)")
        }
        let root = NSTemporaryDirectory() + "steward-bench-direct-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var children: [Process] = []
        defer {
            for c in children where c.isRunning { kill(c.processIdentifier, SIGTERM) }
            for c in children { c.waitUntilExit() }
            if keep { print("kept \(root)") } else { try? FileManager.default.removeItem(atPath: root) }
        }
        let (server, api, port) = try await startBenchServer("\(bin)/steward", root: root)
        children.append(server)

        let activation = try await api.call("CreateActivation", ["IamRole": "bench", "RegistrationLimit": 1])
        let register = try spawn(
            agentBinary,
            [
                "register", "--server", "http://127.0.0.1:\(port)", "--activation-id", activation["ActivationId"]!.textValue,
                "--activation-code", activation["ActivationCode"]!.textValue, "--state-dir", "\(root)/agent", "--log-level", "error",
            ], log: "\(root)/register.log")
        register.waitUntilExit()
        guard register.terminationStatus == 0 else { throw CLIError("agent registration failed; see \(root)/register.log") }
        let directPort = try freeLoopbackPort()
        let socket = "\(root)/agent/direct.sock"
        let agent = try spawn(
            agentBinary,
            ["start", "--state-dir", "\(root)/agent", "--direct-listen", "127.0.0.1:\(directPort)", "--log-level", "warning"],
            log: "\(root)/agent.log")
        children.append(agent)
        var instanceId = ""
        try await poll(timeout: 60) {
            let list = (try? await api.callAll("DescribeInstanceInformation", key: "InstanceInformationList")) ?? []
            instanceId = list.first { $0["PingStatus"]?.textValue == "Online" }?["InstanceId"]?.textValue ?? ""
            return !instanceId.isEmpty && FileManager.default.fileExists(atPath: socket)
        }

        let operatorKey = Curve25519.Signing.PrivateKey()
        let reply = try await api.call(
            "Steward.CreateGrant",
            [
                "OperatorPublicKey": .string(operatorKey.publicKey.rawRepresentation.base64EncodedString()),
                "InstanceIds": [.string(instanceId)], "Commands": ["true"], "TtlSeconds": 3600,
            ])
        let grant = SignedGrant(payload: reply["Grant"]!["payload"]!.textValue, signature: reply["Grant"]!["signature"]!.textValue)

        // The two direct paths alternate, so that whatever else the machine does weighs on both alike.
        var lines: [String] = []
        let paths: [(String, DirectClient)] = [
            ("direct, Unix socket", DirectClient(endpoint: .unix(socket), grant: grant, operatorKey: operatorKey)),
            ("direct, TCP", DirectClient(endpoint: .tcp(host: "127.0.0.1", port: directPort), grant: grant, operatorKey: operatorKey)),
        ]
        var direct: [[Double]] = paths.map { _ in [] }
        var handshakes: [Double] = []
        var checks: [Double] = []
        let clock = ContinuousClock()
        var cpuBefore = (0.0, 0.0)
        for round in 0..<(warmup + count) {
            if round == warmup { cpuBefore = (cpuSeconds(agent.processIdentifier), cpuSeconds(server.processIdentifier)) }
            for (n, path) in paths.enumerated() {
                let marks = Marks()
                let start = clock.now
                guard
                    case .exited(0, _, _) = try await path.1.run(
                        .commands(["true"], timeoutSeconds: nil), milestone: { marks.note($0, at: clock.now) })
                else { throw CLIError("a direct `true` did not exit 0") }
                let end = clock.now
                if round >= warmup {
                    direct[n].append(Self.seconds(end - start))
                    if let verified = marks.at[.nodeVerified], let accepted = marks.at[.accepted] {
                        handshakes.append(Self.seconds(verified - start))
                        checks.append(Self.seconds(accepted - verified))
                    }
                }
            }
        }
        let directCPU = Self.cpuLine(
            "direct round trip", before: cpuBefore, agent: agent, server: server, runs: Double(count * paths.count))
        for (n, path) in paths.enumerated() {
            lines.append(Self.line(path.0, direct[n].sorted()))
            print(lines.last!)
        }
        lines.append(Self.line("  of which connect and handshake (node verified)", handshakes.sorted()))
        lines.append(Self.line("  of which request, grant checks and durable audit record (until accepted)", checks.sorted()))
        lines.append(directCPU)
        print(lines.suffix(3).joined(separator: "\n"))
        cpuBefore = (cpuSeconds(agent.processIdentifier), cpuSeconds(server.processIdentifier))
        let samples = try await measure {
            let sent = try await api.call(
                "SendCommand",
                ["DocumentName": "AWS-RunShellScript", "InstanceIds": [.string(instanceId)], "Parameters": ["commands": ["true"]]])
            let id = sent["Command"]!["CommandId"]!
            let start = Date()
            while true {
                let inv = try? await api.call("GetCommandInvocation", ["CommandId": id, "InstanceId": .string(instanceId)])
                let status = inv?["Status"]?.textValue ?? "Pending"
                if status == "Success" { return }
                if !["Pending", "InProgress", "Delayed"].contains(status) { throw CLIError("SendCommand `true` ended \(status)") }
                if Date().timeIntervalSince(start) > 60 { throw CLIError("SendCommand `true` did not finish in 60 s") }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        lines.append(Self.line("control plane (SendCommand, GetCommandInvocation every 1 ms until Success)", samples))
        print(lines.last!)
        lines.append(
            Self.cpuLine(
                "control-plane round trip (with warm-up and polling)", before: cpuBefore, agent: agent, server: server,
                runs: Double(count + warmup)))
        print(lines.last!)
        print("\nsummary (\(count) round trips each, after \(warmup) warm-up)\n" + lines.joined(separator: "\n"))
    }

    /// Seconds of each of `count` calls, after `warmup` calls left out.
    func measure(_ body: () async throws -> Void) async throws -> [Double] {
        for _ in 0..<warmup { try await body() }
        var samples: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<count {
            let elapsed = try await clock.measure { try await body() }
            samples.append(Self.seconds(elapsed))
        }
        return samples.sorted()
    }

    static func cpuLine(_ label: String, before: (Double, Double), agent: Process, server: Process, runs: Double) -> String {
        String(
            format: "CPU per %@: agent %.2f ms, server %.2f ms", label,
            (cpuSeconds(agent.processIdentifier) - before.0) / runs * 1000, (cpuSeconds(server.processIdentifier) - before.1) / runs * 1000)
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    static func line(_ label: String, _ sorted: [Double]) -> String {
        func pct(_ p: Int) -> Double { sorted[min(sorted.count - 1, sorted.count * p / 100)] * 1000 }
        return String(format: "%@: p50 %.2f ms  p90 %.2f ms  p99 %.2f ms", label, pct(50), pct(90), pct(99))
    }
}

/// When each milestone of one direct request was reached.
final class Marks: @unchecked Sendable {
    private let lock = NSLock()
    private var times: [DirectClient.Milestone: ContinuousClock.Instant] = [:]
    func note(_ m: DirectClient.Milestone, at t: ContinuousClock.Instant) { lock.withLock { times[m] = t } }
    var at: [DirectClient.Milestone: ContinuousClock.Instant] { lock.withLock { times } }
}
