import ArgumentParser
import Foundation
import Logging
import StewardKit
import StewardServer

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures.",
        subcommands: [
            Fanout.self, BenchParams.self, BenchInventory.self, BenchConverge.self, BenchDirect.self, BenchSessions.self, BenchImages.self,
        ])
}

/// Run Command fan-out: a real server process, a swarm process of many agent identities, and separate agent processes.
struct Fanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time SendCommand until every invocation is Success, for swarm identities and separate agent processes.",
        discussion: "Everything runs on 127.0.0.1 with ports chosen here. Build with -c release for figures worth quoting.")

    @Option(help: "Swarm sizes to measure.") var sizes: [Int] = [1, 100, 1000]
    @Option(help: "How many separate agent processes.") var processes: Int = 100
    @Option(help: "Single-instance round trips for the latency figures.") var roundTrips: Int = 200
    @Option(help: "Repeats of each fan-out measurement (the best and the median are printed).") var repeats: Int = 3
    @Option(help: "Folder for the swarm's state (a tmpfs such as /dev/shm keeps the load generator off the disk).")
    var swarmStateDir: String = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    @Flag(help: "Keep the server's and agents' folders and logs, and print where they are.") var keep = false

    func run() async throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let agentBinary = "\(bin)/steward-agent"
        let stewardBinary = "\(bin)/steward"
        guard FileManager.default.isExecutableFile(atPath: agentBinary) else {
            throw ValidationError("\(agentBinary) is missing: build it first (swift build --product steward-agent)")
        }
        let root = NSTemporaryDirectory() + "steward-bench-\(UUID().uuidString.prefix(8))"
        let swarmRoot = "\(swarmStateDir)/steward-bench-swarm-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var children: [Process] = []
        defer {
            for c in children where c.isRunning { kill(c.processIdentifier, SIGTERM) }
            for c in children { c.waitUntilExit() }
            if keep {
                print("kept \(root) and \(swarmRoot)")
            } else {
                try? FileManager.default.removeItem(atPath: root)
                try? FileManager.default.removeItem(atPath: swarmRoot)
            }
        }
        let (server, api, port) = try await startBenchServer(stewardBinary, root: root)
        children.append(server)
        print("server pid \(server.processIdentifier) on 127.0.0.1:\(port)")

        // The swarm.
        let swarmSize = sizes.max() ?? 0
        var results: [String] = []
        if swarmSize > 0 {
            let activation = try await api.call(
                "CreateActivation",
                ["IamRole": "bench", "RegistrationLimit": JSONValue(min(1000, swarmSize)), "Tags": [["Key": "Bench", "Value": "swarm"]]])
            let swarm = try spawn(
                agentBinary,
                [
                    "swarm", "--server", "http://127.0.0.1:\(port)", "--activation-id", activation["ActivationId"]!.textValue,
                    "--activation-code", activation["ActivationCode"]!.textValue, "--count", String(swarmSize), "--state-dir", swarmRoot,
                    "--max-concurrent", "64", "--log-level", "error",
                ], log: "\(root)/swarm.log")
            children.append(swarm)
            let ids = try await waitOnline(api, tag: "swarm", count: swarmSize, timeout: 300)
            print("swarm pid \(swarm.processIdentifier): \(ids.count) identities online")
            for size in sizes where size < swarmSize {
                for id in ids.prefix(size) {
                    _ = try await api.call(
                        "AddTagsToResource",
                        [
                            "ResourceType": "ManagedInstance", "ResourceId": .string(id),
                            "Tags": [["Key": .string("Size\(size)"), "Value": "yes"]],
                        ])
                }
            }
            for size in sizes.sorted() {
                let target: JSONValue =
                    size == swarmSize ? ["Key": "tag:Bench", "Values": ["swarm"]] : ["Key": .string("tag:Size\(size)"), "Values": ["yes"]]
                let cpuBefore = (cpuSeconds(server.processIdentifier), cpuSeconds(swarm.processIdentifier))
                var times: [Double] = []
                for _ in 0..<repeats { times.append(try await fanout(api, target: target, expected: size)) }
                let cpuAfter = (cpuSeconds(server.processIdentifier), cpuSeconds(swarm.processIdentifier))
                let invocations = Double(size * repeats)
                results.append(
                    String(
                        format:
                            "swarm N=%-5d  all Success in  best %7.1f ms  median %7.1f ms   CPU per invocation: server %.3f ms, agent %.3f ms",
                        size, times.min()! * 1000, median(times) * 1000,
                        (cpuAfter.0 - cpuBefore.0) / invocations * 1000, (cpuAfter.1 - cpuBefore.1) / invocations * 1000))
                print(results.last!)
            }
        }

        // Separate agent processes.
        var processIds: [String] = []
        var agentPids: [Int32] = []
        if processes > 0 {
            let activation = try await api.call(
                "CreateActivation",
                ["IamRole": "bench", "RegistrationLimit": JSONValue(processes), "Tags": [["Key": "Bench", "Value": "procs"]]])
            for n in 0..<processes {
                let p = try spawn(
                    agentBinary,
                    [
                        "register", "--server", "http://127.0.0.1:\(port)", "--activation-id", activation["ActivationId"]!.textValue,
                        "--activation-code", activation["ActivationCode"]!.textValue, "--state-dir", "\(root)/agent-\(n)", "--log-level",
                        "error",
                    ], log: "\(root)/register-\(n).log")
                p.waitUntilExit()
                guard p.terminationStatus == 0 else { throw CLIError("agent registration \(n) failed; see \(root)/register-\(n).log") }
            }
            let start = Date()
            for n in 0..<processes {
                let p = try spawn(
                    agentBinary, ["start", "--state-dir", "\(root)/agent-\(n)", "--log-level", "error"], log: "\(root)/agent-\(n).log")
                children.append(p)
                agentPids.append(p.processIdentifier)
            }
            processIds = try await waitOnline(api, tag: "procs", count: processes, timeout: 120)
            let online = Date().timeIntervalSince(start)
            results.append(String(format: "%d agent processes all Online %.2f s after start", processes, online))
            print(results.last!)
            let cpuBefore = cpuSeconds(server.processIdentifier)
            let agentCpuBefore = agentPids.map(cpuSeconds).reduce(0, +)
            var times: [Double] = []
            for _ in 0..<repeats {
                times.append(try await fanout(api, target: ["Key": "tag:Bench", "Values": ["procs"]], expected: processes))
            }
            let invocations = Double(processes * repeats)
            results.append(
                String(
                    format:
                        "%d agent processes: all Success in  best %7.1f ms  median %7.1f ms   CPU per invocation: server %.3f ms, agent %.3f ms",
                    processes, times.min()! * 1000, median(times) * 1000,
                    (cpuSeconds(server.processIdentifier) - cpuBefore) / invocations * 1000,
                    (agentPids.map(cpuSeconds).reduce(0, +) - agentCpuBefore) / invocations * 1000))
            print(results.last!)
        }

        // Single-instance round trips.
        if let one = processIds.first, roundTrips > 0 {
            var samples: [Double] = []
            for _ in 0..<roundTrips {
                samples.append(try await fanout(api, target: ["Key": "InstanceIds", "Values": [.string(one)]], expected: 1))
            }
            samples.sort()
            results.append(
                String(
                    format: "single-instance round trip over %d runs: p50 %.1f ms  p99 %.1f ms", roundTrips,
                    samples[samples.count / 2] * 1000, samples[min(samples.count - 1, samples.count * 99 / 100)] * 1000))
            print(results.last!)
        }
        if let pid = agentPids.first {
            try await Task.sleep(for: .seconds(2))
            results.append(
                "agent idle RSS: \(rssKiB(pid) / 1024) MiB (pid \(pid)); server RSS: \(rssKiB(server.processIdentifier) / 1024) MiB")
            print(results.last!)
        }
        print("\nsummary\n" + results.joined(separator: "\n"))
    }

    /// Sends `echo` to the target and returns the seconds until the command is Success.
    func fanout(_ api: APIClient, target: JSONValue, expected: Int) async throws -> Double {
        let start = Date()
        let sent = try await api.call(
            "SendCommand",
            [
                "DocumentName": "AWS-RunShellScript", "Targets": [target], "MaxConcurrency": "100%",
                "Parameters": ["commands": ["echo ok"]],
            ])
        let id = sent["Command"]!["CommandId"]!
        guard sent["Command"]?["TargetCount"]?.textValue == String(expected) else {
            throw CLIError("expected \(expected) targets, got \(sent["Command"]?["TargetCount"]?.textValue ?? "?")")
        }
        while true {
            let c = try await api.call("ListCommands", ["CommandId": id])["Commands"]!.arrayValue!.first!
            switch c["Status"]!.textValue {
            case "Success": return Date().timeIntervalSince(start)
            case "Pending", "InProgress":
                // Poll often at first and less as time passes, so polling stays a small share of the load measured.
                let elapsed = Date().timeIntervalSince(start)
                try await Task.sleep(for: .milliseconds(max(2, min(50, Int(elapsed * 1000 / 50)))))
            default: throw CLIError("command \(id.textValue) ended \(c["StatusDetails"]!.textValue)")
            }
            if Date().timeIntervalSince(start) > 120 { throw CLIError("command \(id.textValue) did not finish in 120 s") }
        }
    }

    func waitOnline(_ api: APIClient, tag: String, count: Int, timeout: Double) async throws -> [String] {
        var ids: [String] = []
        try await poll(timeout: timeout) {
            let all =
                (try? await api.callAll(
                    "DescribeInstanceInformation",
                    [
                        "Filters": [["Key": "tag:Bench", "Values": [.string(tag)]], ["Key": "PingStatus", "Values": ["Online"]]]
                    ], key: "InstanceInformationList", limit: 100_000)) ?? []
            ids = Set(all.compactMap { $0["InstanceId"]?.stringValue }).sorted()
            return ids.count >= count
        }
        return ids
    }
}

/// A real `steward server` process on a free loopback port with a fresh data folder, and a client with its first key.
func startBenchServer(_ stewardBinary: String, root: String) async throws -> (Process, APIClient, Int) {
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    let key = try await StewardServer.createAccessKey(dataDir: "\(root)/server", databaseURL: nil, id: nil, secret: nil, logger: logger)
    let port = try freeLoopbackPort()
    let server = try spawn(
        stewardBinary, ["server", "--data-dir", "\(root)/server", "--listen", "127.0.0.1:\(port)", "--log-level", "warning"],
        log: "\(root)/server.log")
    let api = APIClient(
        endpoint: "http://127.0.0.1:\(port)", region: "us-east-1", accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey)
    do { try await poll(timeout: 60) { (try? await api.call("ListDocuments", ["MaxResults": 1])) != nil } } catch {
        kill(server.processIdentifier, SIGTERM)
        throw error
    }
    return (server, api, port)
}

func poll(timeout: Double, _ check: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await check() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw CLIError("timed out after \(Int(timeout)) s")
}

func spawn(_ executable: String, _ arguments: [String], log: String) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let handle = FileHandle(forWritingAtPath: log)
    p.standardOutput = handle
    p.standardError = handle
    try p.run()
    return p
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// User plus system CPU seconds of a process, from /proc.
func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
        return 0
    }
    let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
    guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
    return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func rssKiB(_ pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }
    return 0
}

func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { ptr in
        ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw CLIError("cannot find a free port on 127.0.0.1") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
