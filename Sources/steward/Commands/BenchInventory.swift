import ArgumentParser
import Foundation
import Logging
import StewardKit
import StewardServer
import StewardStore

/// Inventory at fleet scale: bulk ingest, then the questions operators ask, on SQLite and PostgreSQL.
struct BenchInventory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Ingest synthetic inventory (instances × applications), then time a version query and a count-by aggregation.",
        discussion: """
            Runs on SQLite in a temporary folder, and on PostgreSQL too when --postgres (or STEWARD_BENCH_POSTGRES_URL) names a \
            database (its inventory tables are emptied first). Build with -c release for figures worth quoting.
            """)

    @Option(help: "Synthetic instances.") var instances: Int = 10_000
    @Option(help: "Applications per instance.") var applications: Int = 1_000
    @Option(help: "Instances per ingest transaction.") var batch: Int = 50
    @Option(help: "Ingest transactions in flight at once (uploads from many agents arrive together).") var parallel: Int = 2
    @Option(help: "Runs of each query (p50 and p99 are printed).") var queries: Int = 30
    @Option(help: "A PostgreSQL URL to measure as well (default: STEWARD_BENCH_POSTGRES_URL).") var postgres: String?
    @Option(help: "Folder for the SQLite file.") var folder: String = NSTemporaryDirectory()
    @Option(help: "Keep the SQLite file here and, when it already holds the data, only run the queries.") var sqliteFile: String?
    @Flag(help: "Skip the ingest on PostgreSQL if its bench data is there already.") var reusePostgres = false

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let sqlitePath = sqliteFile ?? "\(folder)/steward-bench-inventory-\(UUID().uuidString.prefix(8)).sqlite"
        defer {
            if sqliteFile == nil {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) }
            }
        }
        say("inventory bench: \(instances) instances × \(applications) applications = \(instances * applications) rows")
        let sqlite = try await Store.open(url: nil, sqlitePath: sqlitePath, logger: logger)
        try await measure("SQLite", sqlite, reuse: sqliteFile != nil)
        await sqlite.close()
        if let postgres = postgres ?? ProcessInfo.processInfo.environment["STEWARD_BENCH_POSTGRES_URL"] {
            let pg = try await Store.open(url: postgres, sqlitePath: "", logger: logger)
            if !reusePostgres {
                try await pg.write { db in
                    try await db.raw("DELETE FROM inventory_entries WHERE region = 'bench-1'").run()
                    try await db.raw("DELETE FROM inventory_items WHERE region = 'bench-1'").run()
                }
            }
            try await measure("PostgreSQL", pg, reuse: reusePostgres)
            await pg.close()
        }
    }

    static let platforms = [
        ("Ubuntu", "22.04"), ("Ubuntu", "24.04"), ("Debian GNU/Linux", "12"), ("Debian GNU/Linux", "11"), ("Amazon Linux", "2023"),
        ("Rocky Linux", "9.4"),
    ]

    func measure(_ engine: String, _ store: Store, reuse: Bool) async throws {
        let region = "bench-1"
        let bench = InventoryBenchmark(store: store)
        let existing = reuse ? try await store.inventoryHolders(region: region, typeName: "AWS:Application").count : 0
        if existing == 0 { try await ingest(engine, bench, region: region) } else { say("\(engine): reusing \(existing) instances") }
        try await queries(engine, bench, region: region)
    }

    func ingest(_ engine: String, _ bench: InventoryBenchmark, region: String) async throws {
        let capture = "2026-11-29T12:00:00Z"
        // The same application list for every instance except openssl's version, as real fleets look.
        let names = (0..<max(0, applications - 1)).map { "pkg-\($0)" }
        var rng = SystemRandomNumberGenerator()
        let start = ContinuousClock.now
        var rows = 0
        var n = 0
        try await withThrowingTaskGroup(of: Void.self) { inFlight in
            var running = 0
            while n < instances {
                var group: [(instanceId: String, uploads: [InventoryUpload])] = []
                for i in n..<min(instances, n + batch) {
                    let id = "mi-" + String(format: "%017x", i)
                    let (platform, version) = Self.platforms[i % Self.platforms.count]
                    var apps: [[String: String]] = names.map { ["Name": $0, "Version": "1.\(i % 7).\(i % 13)-1", "Architecture": "amd64"] }
                    apps.append(["Name": "openssl", "Version": "3.0.\(Int.random(in: 2...17, using: &rng))-1", "Architecture": "amd64"])
                    let info: [String: String] = [
                        "InstanceId": id, "PlatformName": platform, "PlatformVersion": version, "PlatformType": "Linux",
                        "AgentVersion": "0.1.0",
                        "ComputerName": "node-\(i)",
                    ]
                    group.append(
                        (
                            id,
                            [
                                InventoryUpload(
                                    typeName: "AWS:InstanceInformation", schemaVersion: "1.0", captureTime: capture, contentHash: "i\(i)",
                                    content: [info]),
                                InventoryUpload(
                                    typeName: "AWS:Application", schemaVersion: "1.1", captureTime: capture, contentHash: "a\(i)",
                                    content: apps
                                ),
                            ]
                        ))
                    rows += apps.count + 1
                }
                if running >= max(1, parallel) {
                    try await inFlight.next()
                    running -= 1
                }
                let ready = group
                inFlight.addTask { try await bench.ingest(region: region, batch: ready) }
                running += 1
                n += batch
            }
            try await inFlight.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        say(String(format: "%@: ingest %d rows in %.1f s: %.0f rows/s", engine, rows, seconds, Double(rows) / seconds))
    }

    func queries(_ engine: String, _ bench: InventoryBenchmark, region: String) async throws {
        let versionQuery: JSONValue = [
            "Filters": [
                ["Key": "AWS:Application.Name", "Values": ["openssl"], "Type": "Equal"],
                ["Key": "AWS:Application.Version", "Values": ["3.0.13"], "Type": "LessThan"],
            ],
            "ResultAttributes": [["TypeName": "AWS:Application"]],
        ]
        let countBy: JSONValue = [
            "Aggregators": [
                [
                    "Expression": "AWS:InstanceInformation.PlatformName",
                    "Aggregators": [["Expression": "AWS:InstanceInformation.PlatformVersion"]],
                ]
            ]
        ]
        for (label, body) in [("openssl below 3.0.13 (first page of nodes)", versionQuery), ("count by OS release", countBy)] {
            var times: [Double] = []
            var answer: JSONValue = .null
            for _ in 0..<queries {
                let t0 = ContinuousClock.now
                answer = try await bench.getInventory(region: region, body)
                let d = ContinuousClock.now - t0
                times.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            }
            times.sort()
            let entities = answer["Entities"]?.arrayValue ?? []
            let detail =
                body["Aggregators"] != nil
                ? "\(entities.first?["Data"]?.objectValue?.values.first?["Content"]?.arrayValue?.count ?? 0) groups"
                : "\(entities.count) nodes on the page"
            say(
                String(
                    format: "%@: %@: p50 %.1f ms, p99 %.1f ms (%@)", engine, label, times[times.count / 2],
                    times[min(times.count - 1, Int(Double(times.count) * 0.99))], detail))
        }
    }
}

/// A line on standard output at once, even when it is a file (progress of long benchmarks).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
