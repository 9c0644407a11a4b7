import Foundation
import Logging
import StewardKit
import StewardStore

/// Writes the whole inventory to a folder in the layout of an SSM resource data sync, so Athena-style tooling
/// reads it: `<folder>/<TypeName>/accountid=<account>/region=<region>/resourcetype=ManagedInstanceInventory/<instance>.json`,
/// JSON Lines, one entry per line with `resourceId`, `captureTime`, `schemaVersion`, `accountId` and `region` added.
///
/// Consistent: each file is written to a temporary name and renamed into place, so a reader never sees half a
/// file. Incremental: a manifest remembers each file's content hash; only changed files are written, and files of
/// types or instances that are gone are removed.
actor InventoryExporter {
    nonisolated let sink: any ExportSink
    let store: Store
    let accountId: String
    let logger: Logger

    nonisolated var folder: String { sink.location }

    init(sink: any ExportSink, store: Store, accountId: String, logger: Logger) {
        self.sink = sink
        self.store = store
        self.accountId = accountId
        self.logger = logger
    }

    struct Result: Sendable {
        var written = 0
        var removed = 0
        var unchanged = 0
    }

    static let manifestName = ".steward-export-manifest.json"

    func export(region: String) async throws -> Result {
        var manifest: [String: String] = [:]
        if let data = try await sink.get(Self.manifestName), let saved = try? JSONDecoder().decode([String: String].self, from: Data(data))
        {
            manifest = saved
        }
        var result = Result()
        var seen: [String: String] = [:]
        let items = try await store.inventoryItems(region: region)
        for item in items {
            let path = relativePath(typeName: item.typeName, region: region, instanceId: item.instanceId)
            seen[path] = item.contentHash + "|" + item.captureTime
            if manifest[path] == seen[path], try await sink.exists(path) {
                result.unchanged += 1
                continue
            }
            let entries = try await store.inventoryEntries(region: region, instanceId: item.instanceId, typeName: item.typeName)
            var text = ""
            for entry in entries {
                var line = entry.mapValues { JSONValue.string($0) }
                line["resourceId"] = .string(item.instanceId)
                line["resourceType"] = "ManagedInstanceInventory"
                line["captureTime"] = .string(item.captureTime)
                line["schemaVersion"] = .string(item.schemaVersion)
                line["accountId"] = .string(accountId)
                line["region"] = .string(region)
                text += JSONWriter.string(.object(line)) + "\n"
            }
            try await sink.put(path, Array(text.utf8))
            result.written += 1
        }
        // Files of this region that no longer have data.
        let prefix = "region=\(region)/"
        for (path, _) in manifest where seen[path] == nil && path.contains(prefix) {
            try await sink.remove(path)
            result.removed += 1
        }
        var next = manifest.filter { !$0.key.contains(prefix) }
        next.merge(seen) { _, new in new }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try await sink.put(Self.manifestName, Array(try encoder.encode(next)))
        logger.info(
            "inventory exported", metadata: ["folder": "\(folder)", "written": "\(result.written)", "removed": "\(result.removed)"])
        return result
    }

    nonisolated func relativePath(typeName: String, region: String, instanceId: String) -> String {
        "\(typeName)/accountid=\(accountId)/region=\(region)/resourcetype=ManagedInstanceInventory/\(instanceId).json"
    }

    /// Exports every region on a schedule until cancelled.
    func runSchedule(every interval: Duration, regions: @Sendable () async throws -> [String]) async {
        while !Task.isCancelled {
            do {
                for region in try await regions() { _ = try await export(region: region) }
            } catch {
                logger.error("inventory export failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
