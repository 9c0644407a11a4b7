import Foundation
import Logging
import ServiceLifecycle
import StewardImages
import StewardKit
import StewardStore

/// Runs image builds (and imports): picks PENDING images, runs them stage by stage and keeps the image record, its
/// steps (`_steps`) and its log file current. A build found under way when the server starts was cut short by a
/// stop: it is failed with that reason (not resumed).
actor ImageBuildWorker {
    let api: ImageBuilderAPI
    let settings: ImageBuildSettings
    /// `<data>/images`.
    let root: String
    let accountId: String
    let logger: Logger
    /// Creates an activation for images that bake in the agent: region → (id, code).
    let activation: @Sendable (String) async throws -> (id: String, code: String)
    var endpoint: String
    private var running: [String: Task<Void, Never>] = [:]

    init(
        api: ImageBuilderAPI, settings: ImageBuildSettings, root: String, accountId: String, endpoint: String, logger: Logger,
        activation: @escaping @Sendable (String) async throws -> (id: String, code: String)
    ) {
        self.api = api
        self.settings = settings
        self.root = root
        self.accountId = accountId
        self.endpoint = endpoint
        self.logger = logger
        self.activation = activation
    }

    var store: Store { api.store }
    typealias Kind = ImageBuilderAPI.Kind

    static func key(_ record: JSONValue) -> String {
        let v = ImageBuilderAPI.imageBuildVersion(record)
        return "\(ImageBuilderARN.arnName(record["name"]?.textValue ?? ""))/\(v.version)/\(v.build)"
    }

    func setEndpoint(_ url: String) { endpoint = url }

    // MARK: lifecycle

    /// Fails the builds a previous run of the server left under way.
    func recover() async throws {
        for (region, record) in try await store.allRecords(kind: Kind.image) {
            let status = ImageStatus(rawValue: record["state"]?["status"]?.textValue ?? "") ?? .failed
            guard status.inProgress, status != .pending else { continue }
            let reason = "The server stopped while the build was \(status.rawValue); start a new build."
            _ = try await update(region, Self.key(record)) { r in
                r["state"] = ["status": .string(ImageStatus.failed.rawValue), "reason": .string(reason)]
            }
            await appendLog(region, Self.key(record), reason)
        }
    }

    /// Stops the builds whose record the API marked CANCELLED, then starts PENDING builds while fewer than
    /// `workers` run.
    func poll() async {
        for key in running.keys {
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            let record = try? await store.record(kind: Kind.image, region: parts[0], id: parts[1])
            if record?["state"]?["status"]?.textValue == ImageStatus.cancelled.rawValue { running[key]?.cancel() }
        }
        guard settings.workers > 0, running.count < settings.workers else { return }
        guard let all = try? await store.allRecords(kind: Kind.image) else { return }
        let pending = all.filter { $0.body["state"]?["status"]?.textValue == ImageStatus.pending.rawValue }
            .sorted { ($0.body["dateCreated"]?.textValue ?? "") < ($1.body["dateCreated"]?.textValue ?? "") }
        for (region, record) in pending where running.count < settings.workers {
            let key = "\(region)|\(Self.key(record))"
            guard running[key] == nil else { continue }
            running[key] = Task { [weak self] in
                await self?.perform(region: region, record: record)
                await self?.finished(key)
            }
        }
    }

    private func finished(_ key: String) { running[key] = nil }

    /// Stops a running build (its processes end); the API has already marked the record CANCELLED.
    func cancel(region: String, id: String) {
        running["\(region)|\(id)"]?.cancel()
    }

    /// Cancels every running build (at shutdown).
    func stopAll() async {
        for task in running.values { task.cancel() }
        for task in running.values { await task.value }
    }

    // MARK: one build

    func perform(region: String, record: JSONValue) async {
        let id = Self.key(record)
        let claimed = try? await update(region, id) { r in
            guard r["state"]?["status"]?.textValue == ImageStatus.pending.rawValue else { throw CancellationError() }
            r["state"] = ["status": .string(ImageStatus.creating.rawValue), "reason": "Starting."]
            r["_logFile"] = .string(self.logPath(region, id))
        }
        guard claimed == true else { return }
        do {
            if let uri = record["_import"]?["uri"]?.stringValue {
                try await runImport(region: region, id: id, record: record, uri: uri)
            } else {
                try await runBuild(region: region, id: id, record: record)
            }
        } catch is CancellationError {
            await appendLog(region, id, "build cancelled")
            _ = try? await update(region, id) { r in
                if r["state"]?["status"]?.textValue != ImageStatus.cancelled.rawValue {
                    r["state"] = ["status": .string(ImageStatus.cancelled.rawValue), "reason": "Cancelled."]
                }
            }
            await pipelineFinished(region, record, status: .cancelled)
        } catch {
            let reason = String("\(error)".prefix(1024))
            await appendLog(region, id, "build failed: \(reason)")
            logger.warning("image build failed", metadata: ["image": .string(id), "reason": .string(reason)])
            _ = try? await update(region, id) { r in
                r["state"] = .compact([
                    "status": .string(ImageStatus.failed.rawValue), "reason": .string(reason),
                    "failureContext": r["state"]?["status"].map { .string("failed in \($0.textValue)") } ?? .null,
                ])
            }
            await pipelineFinished(region, record, status: .failed)
        }
    }

    func runBuild(region: String, id: String, record: JSONValue) async throws {
        let resolved = try await resolve(region: region, id: id, record: record)
        _ = try await update(region, id) { r in r["_resolved"] = resolved.dependencies }
        let observer = BuildObserver(
            stage: { [self] status, reason in
                try Task.checkCancellation()
                let ok = try await self.update(region, id) { r in
                    guard r["state"]?["status"]?.textValue != ImageStatus.cancelled.rawValue else { throw CancellationError() }
                    r["state"] = ["status": .string(status.rawValue), "reason": .string(reason)]
                }
                guard ok else { throw CancellationError() }
                await self.appendLog(region, id, "state \(status.rawValue): \(reason)")
            },
            step: { [self] step in
                _ = try? await self.update(region, id) { r in
                    var steps = r["_steps"]?.arrayValue ?? []
                    if let i = steps.firstIndex(where: {
                        $0["name"]?.textValue == step.name && $0["startTime"]?.numberValue == step.startTime
                    }) {
                        steps[i] = step.json
                    } else {
                        steps.append(step.json)
                    }
                    r["_steps"] = .array(steps)
                }
            },
            log: { [self] line in await self.appendLog(region, id, line) })
        let build = ImageBuild(spec: resolved.spec, provider: resolved.provider, observer: observer)
        let result = try await build.run()
        let outputs = result.outputs
        _ = try await update(region, id) { r in
            r["state"] = ["status": .string(ImageStatus.available.rawValue), "reason": "The image is available."]
            r["outputResources"] = [
                "amis": .array(
                    outputs.map {
                        ["region": .string(region), "image": .string($0), "name": r["name"] ?? .null, "accountId": .string(self.accountId)]
                    }
                )
            ]
            r["_rootfs"] = .string(result.rootFolder)
            r["_manifest"] = result.manifest
        }
        await appendLog(region, id, "image available")
        await pipelineFinished(region, record, status: .available)
    }

    /// Records the pipeline's last run status when a pipeline's image ends.
    func pipelineFinished(_ region: String, _ record: JSONValue, status: ImageStatus) async {
        guard let arn = record["sourcePipelineArn"]?.stringValue, let parsed = ImageBuilderARN(arn) else { return }
        await api.writes.acquire()
        if var pipeline = try? await store.record(kind: Kind.pipeline, region: region, id: parsed.name) {
            pipeline["lastRunStatus"] = .string(status.rawValue)
            try? await store.putRecord(
                kind: Kind.pipeline, region: region, id: parsed.name, body: pipeline, now: Date().timeIntervalSince1970)
        }
        await api.writes.release()
    }

    // MARK: records and logs

    /// Changes an image record under the API's write lock; false when the record is gone (deleted). The write runs
    /// in a task of its own, so that a cancelled build still records how it ended.
    @discardableResult
    func update(_ region: String, _ id: String, _ change: @escaping @Sendable (inout JSONValue) throws -> Void) async throws -> Bool {
        try await Task { try await self.write(region, id, change) }.value
    }

    private func write(_ region: String, _ id: String, _ change: @Sendable (inout JSONValue) throws -> Void) async throws -> Bool {
        await api.writes.acquire()
        do {
            guard var record = try await store.record(kind: Kind.image, region: region, id: id) else {
                await api.writes.release()
                return false
            }
            try change(&record)
            try await store.putRecord(
                kind: Kind.image, region: region, id: id, parent: String(id.split(separator: "/").first ?? ""), body: record,
                now: Date().timeIntervalSince1970)
            await api.writes.release()
            return true
        } catch {
            await api.writes.release()
            throw error
        }
    }

    nonisolated func logPath(_ region: String, _ id: String) -> String {
        "\(root)/logs/\(ImageBuilderARN.arnName(region))/\(id).log"
    }

    func appendLog(_ region: String, _ id: String, _ line: String) async {
        let path = logPath(region, id)
        let stamp = ISO8601DateFormatter().string(from: Date())
        let text = line.split(separator: "\n", omittingEmptySubsequences: false).map { "\(stamp) \($0)\n" }.joined()
        if !FileManager.default.fileExists(atPath: path) {
            try? FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data(text.utf8))
    }
}

/// Polls for PENDING images until shutdown; a graceful shutdown cancels running builds.
struct ImageBuildService: Service {
    let worker: ImageBuildWorker

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await worker.poll()
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        await worker.stopAll()
    }
}
