import Foundation
import Logging
import NIOCore
import PostgresKit
import SQLKit
import SQLiteKit

/// Persistence for the control plane: one schema and one set of queries over SQLite or PostgreSQL.
public final class Store: Sendable {
    public enum Engine: String, Sendable {
        case sqlite
        case postgres
    }

    let backend: Backend
    public let logger: Logger
    public var engine: Engine { backend.engine }

    enum Backend: Sendable {
        case sqlite(SQLiteConnection, AsyncMutex)
        case postgres(PostgresClient, Task<Void, Never>)

        var engine: Engine {
            switch self {
            case .sqlite: .sqlite
            case .postgres: .postgres
            }
        }
    }

    init(backend: Backend, logger: Logger) {
        self.backend = backend
        self.logger = logger
    }

    /// Opens the database: `postgres://user:password@host:port/database`, or the SQLite file at `sqlitePath`.
    public static func open(url: String?, sqlitePath: String, logger: Logger) async throws -> Store {
        if let url, url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            let config = try PostgresURL(url).clientConfiguration
            let client = PostgresClient(configuration: config, backgroundLogger: logger)
            let task = Task { await client.run() }
            let store = Store(backend: .postgres(client, task), logger: logger)
            try await store.migrate()
            return store
        }
        if let url, !url.isEmpty, !url.hasPrefix("sqlite:") {
            throw StoreError.configuration("--database must be a postgres:// URL or sqlite:PATH, not \(url)")
        }
        let path = url.map { String($0.dropFirst("sqlite:".count)) } ?? sqlitePath
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let store = Store(backend: .sqlite(connection, AsyncMutex()), logger: logger)
        let db = connection.sql()
        // A 64 MB page cache: inventory indexes of a large fleet do not fit SQLite's default 2 MB, and every miss is a read.
        for pragma in [
            "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON",
            "PRAGMA cache_size=-65536", "PRAGMA temp_store=MEMORY",
        ] {
            try await db.raw(SQLQueryString(pragma)).run()
        }
        try await store.migrate()
        return store
    }

    public func close() async {
        switch backend {
        case .sqlite(let connection, _):
            try? await connection.close()
        case .postgres(_, let task):
            task.cancel()
            _ = await task.value
        }
    }

    /// Runs `body` with the database, outside a transaction.
    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        switch backend {
        case .sqlite(let connection, let mutex):
            return try await mutex.withLock { try await body(connection.sql()) }
        case .postgres(let client, _):
            return try await client.withConnection { conn in try await body(conn.sql()) }
        }
    }

    /// Runs `body` in one transaction: all of its writes are durable together before it returns, or none are.
    public func write<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        switch backend {
        case .sqlite(let connection, let mutex):
            return try await mutex.withLock { try await Store.transaction(connection.sql(), begin: "BEGIN IMMEDIATE", body) }
        case .postgres(let client, _):
            return try await client.withConnection { conn in try await Store.transaction(conn.sql(), begin: "BEGIN", body) }
        }
    }

    private static func transaction<T: Sendable>(
        _ db: any SQLDatabase, begin: SQLQueryString, _ body: @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await db.raw(begin).run()
        do {
            let result = try await body(db)
            try await db.raw("COMMIT").run()
            return result
        } catch {
            try? await db.raw("ROLLBACK").run()
            throw error
        }
    }
}

public enum StoreError: Error, CustomStringConvertible {
    case configuration(String)
    case corrupt(String)

    public var description: String {
        switch self {
        case .configuration(let s): s
        case .corrupt(let s): "stored data is damaged: \(s)"
        }
    }
}

/// A first-in, first-out lock that can be held across `await`, for the single SQLite connection.
actor AsyncMutex {
    private var locked = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func lock() async {
        if !locked {
            locked = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func unlock() {
        if waiters.isEmpty {
            locked = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    nonisolated func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await lock()
        do {
            let result = try await body()
            await unlock()
            return result
        } catch {
            await unlock()
            throw error
        }
    }
}

/// The parts of a `postgres://` URL.
struct PostgresURL {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String?

    init(_ text: String) throws {
        guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw StoreError.configuration("cannot read the database URL \(text)")
        }
        self.host = host
        self.port = url.port ?? 5432
        self.user = url.user ?? "postgres"
        self.password = url.password
        let path = url.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.database = path.isEmpty ? nil : path
    }

    var clientConfiguration: PostgresClient.Configuration {
        var config = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: .disable)
        config.options.minimumConnections = 0
        config.options.maximumConnections = 16
        return config
    }
}
