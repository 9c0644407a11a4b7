import ArgumentParser
import Foundation
import Logging
import StewardKit
import StewardServer

/// GetParameter throughput and latency over loopback with real SigV4 signing.
struct BenchParams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "params", abstract: "GetParameter requests per second and p50/p99 latency, String and SecureString.",
        discussion: "A server process on 127.0.0.1 and concurrent signed clients in this process. Build with -c release.")

    @Option(help: "Seconds to run each measurement.") var seconds: Double = 5
    @Option(help: "Requests in flight at once.") var concurrency: Int = 32
    @Option(
        help:
            "The load client: lean (keep-alive sockets, one thread each, every request signed) or sdk (the CLI's HTTP client, which costs about as much CPU as the server)."
    )
    var client: LoadClient = .lean

    enum LoadClient: String, ExpressibleByArgument, Sendable {
        case lean
        case sdk
    }

    func run() async throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let root = NSTemporaryDirectory() + "steward-bench-params-\(UUID().uuidString.prefix(8))"
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let key = try await StewardServer.createAccessKey(dataDir: "\(root)/server", databaseURL: nil, id: nil, secret: nil, logger: logger)
        let port = try freeLoopbackPort()
        let server = try spawn(
            "\(bin)/steward", ["server", "--data-dir", "\(root)/server", "--listen", "127.0.0.1:\(port)", "--log-level", "warning"],
            log: "\(root)/server.log")
        defer {
            kill(server.processIdentifier, SIGTERM)
            server.waitUntilExit()
            try? FileManager.default.removeItem(atPath: root)
        }
        let api = APIClient(
            endpoint: "http://127.0.0.1:\(port)", region: "us-east-1", accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey)
        try await poll(timeout: 60) { (try? await api.call("DescribeParameters", ["MaxResults": 1])) != nil }
        _ = try await api.call("PutParameter", ["Name": "/bench/plain", "Value": "hello", "Type": "String"])
        _ = try await api.call("PutParameter", ["Name": "/bench/secret", "Value": "s3cr3t", "Type": "SecureString"])
        for (label, body) in [
            ("String", ["Name": "/bench/plain"] as JSONValue),
            ("SecureString (WithDecryption)", ["Name": "/bench/secret", "WithDecryption": true] as JSONValue),
        ] {
            let cpuBefore = cpuSeconds(server.processIdentifier)
            let (count, latencies): (Int, [Double])
            switch client {
            case .sdk:
                (count, latencies) = try await load(api, body: body)
            case .lean:
                let lean = LoopbackLoad(port: port, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey)
                let samples = try lean.run(connections: concurrency, seconds: seconds, operation: "GetParameter", body: body)
                (count, latencies) = (samples.count, samples)
            }
            let cpu = cpuSeconds(server.processIdentifier) - cpuBefore
            let sorted = latencies.sorted()
            print(
                String(
                    format:
                        "GetParameter %@: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, server CPU %.1f µs/request (%d requests, %d in flight, %@ client)",
                    label, Double(count) / seconds, sorted[sorted.count / 2] * 1000, sorted[sorted.count * 99 / 100] * 1000,
                    cpu / Double(count) * 1_000_000, count, concurrency, client.rawValue))
        }
    }

    func load(_ api: APIClient, body: JSONValue) async throws -> (Int, [Double]) {
        let deadline = Date().addingTimeInterval(seconds)
        return try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var samples: [Double] = []
                    while Date() < deadline {
                        let start = Date()
                        _ = try await api.call("GetParameter", body)
                        samples.append(Date().timeIntervalSince(start))
                    }
                    return samples
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return (all.count, all)
        }
    }
}
