import ArgumentParser
import Foundation
import Logging
import StewardKit
import StewardServer

/// State Manager at fleet scale: how long from tagging N nodes until every one reports the association Success.
struct BenchConverge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "converge",
        abstract: "Time from tagging N swarm agents until all report an association targeting that tag as Success.",
        discussion: "A real server process and a swarm process of N agent identities on 127.0.0.1. Build with -c release.")

    @Option(help: "Swarm identities.") var agents: Int = 1000
    @Option(help: "Concurrent AddTagsToResource calls while tagging.") var concurrency: Int = 32
    @Option(help: "Folder for the swarm's state (a tmpfs keeps the load generator off the disk).")
    var swarmStateDir: String = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()

    func run() async throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let root = NSTemporaryDirectory() + "steward-converge-\(UUID().uuidString.prefix(8))"
        let swarmRoot = "\(swarmStateDir)/steward-converge-swarm-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var children: [Process] = []
        defer {
            for c in children where c.isRunning { kill(c.processIdentifier, SIGTERM) }
            for c in children { c.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.removeItem(atPath: swarmRoot)
        }
        let (server, api, port) = try await startBenchServer("\(bin)/steward", root: root)
        children.append(server)
        let activation = try await api.call(
            "CreateActivation",
            ["IamRole": "bench", "RegistrationLimit": JSONValue(min(1000, agents)), "Tags": [["Key": "Bench", "Value": "swarm"]]])
        let swarm = try spawn(
            "\(bin)/steward-agent",
            [
                "swarm", "--server", "http://127.0.0.1:\(port)", "--activation-id", activation["ActivationId"]!.textValue,
                "--activation-code",
                activation["ActivationCode"]!.textValue, "--count", String(agents), "--state-dir", swarmRoot, "--max-concurrent", "64",
                "--log-level", "error",
            ], log: "\(root)/swarm.log")
        children.append(swarm)
        let ids = try await Fanout().waitOnline(api, tag: "swarm", count: agents, timeout: 300)
        say("\(ids.count) swarm identities online")
        let association = try await api.call(
            "CreateAssociation",
            [
                "Name": "AWS-RunShellScript", "AssociationName": "converge-bench", "Targets": [["Key": "tag:Converge", "Values": ["yes"]]],
                "Parameters": ["commands": ["true"]],
            ])
        let associationId = association["AssociationDescription"]?["AssociationId"]?.textValue ?? ""
        let start = ContinuousClock.now
        var next = 0
        try await withThrowingTaskGroup(of: Void.self) { group in
            func tagNext() {
                guard next < ids.count else { return }
                let id = ids[next]
                next += 1
                group.addTask {
                    _ = try await api.call(
                        "AddTagsToResource",
                        ["ResourceType": "ManagedInstance", "ResourceId": .string(id), "Tags": [["Key": "Converge", "Value": "yes"]]])
                }
            }
            for _ in 0..<concurrency { tagNext() }
            while try await group.next() != nil { tagNext() }
        }
        let tagged = ContinuousClock.now - start
        var success = 0
        while ContinuousClock.now - start < .seconds(300) {
            let d = try await api.call("DescribeAssociation", ["AssociationId": .string(associationId)])
            success =
                d["AssociationDescription"]?["Overview"]?["AssociationStatusAggregatedCount"]?["Success"]?.numberValue.map { Int($0) } ?? 0
            if success >= ids.count { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let total = ContinuousClock.now - start
        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
        say(
            String(
                format: "converge N=%d: all tagged after %.0f ms; all %d Success after %.0f ms (server CPU %.1f s)", ids.count, ms(tagged),
                success,
                ms(total), cpuSeconds(server.processIdentifier)))
    }
}
