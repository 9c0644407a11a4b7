import Crypto
import Foundation
import Logging
import StewardKit
import StewardStore

/// The inventory code paths without HTTP in front, for `steward bench inventory`: bulk ingest through the store,
/// and GetInventory exactly as the API runs it.
public struct InventoryBenchmark: Sendable {
    public let store: Store
    let operations: InventoryOperations

    public init(store: Store) {
        self.store = store
        let pager = Pager(tokens: PageToken(key: SymmetricKey(size: .bits256)))
        self.operations = InventoryOperations(store: store, pager: pager, exporter: nil)
    }

    /// Stores many instances' uploads in one transaction.
    public func ingest(region: String, batch: [(instanceId: String, uploads: [InventoryUpload])]) async throws {
        try await store.putInventory(region: region, batch: batch, now: Date().timeIntervalSince1970)
    }

    /// Runs GetInventory with this request body and returns its answer.
    public func getInventory(region: String, _ body: JSONValue) async throws -> JSONValue {
        let ctx = APIContext(
            region: region, accountId: "123456789012", requestId: "bench", now: Date(), logger: Logger(label: "bench"), baseURL: "")
        return try await operations.getInventory(ctx, try RequestBody(body))
    }
}
