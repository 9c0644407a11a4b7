import SQLKit

/// Versioned schema changes, applied in order on start. Never edit a shipped migration; add a new one.
extension Store {
    static let migrations: [(version: Int, statements: [String])] = [
        (
            1,
            [
                """
                CREATE TABLE access_keys (
                    access_key_id TEXT PRIMARY KEY, secret_sealed TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE activations (
                    activation_id TEXT PRIMARY KEY, region TEXT NOT NULL, code_hash TEXT NOT NULL, description TEXT,
                    default_instance_name TEXT, iam_role TEXT NOT NULL, registration_limit BIGINT NOT NULL,
                    registrations_count BIGINT NOT NULL, expiration_date DOUBLE PRECISION NOT NULL,
                    created_date DOUBLE PRECISION NOT NULL, tags TEXT NOT NULL)
                """,
                """
                CREATE TABLE instances (
                    instance_id TEXT PRIMARY KEY, region TEXT NOT NULL, activation_id TEXT, name TEXT,
                    signing_key TEXT NOT NULL, encryption_key TEXT NOT NULL, registration_date DOUBLE PRECISION NOT NULL,
                    ping_status TEXT NOT NULL, last_ping DOUBLE PRECISION, agent_version TEXT, platform_name TEXT,
                    platform_type TEXT, platform_version TEXT, ip_address TEXT, computer_name TEXT, iam_role TEXT)
                """,
                "CREATE INDEX instances_region ON instances (region, instance_id)",
                """
                CREATE TABLE tags (
                    region TEXT NOT NULL, resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, tag_key TEXT NOT NULL,
                    tag_value TEXT NOT NULL, PRIMARY KEY (region, resource_type, resource_id, tag_key))
                """,
                """
                CREATE TABLE document_heads (
                    region TEXT NOT NULL, name TEXT NOT NULL, owner TEXT NOT NULL, default_version BIGINT NOT NULL,
                    latest_version BIGINT NOT NULL, created_date DOUBLE PRECISION NOT NULL, PRIMARY KEY (region, name))
                """,
                """
                CREATE TABLE documents (
                    region TEXT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL, content TEXT NOT NULL,
                    format TEXT NOT NULL, document_type TEXT NOT NULL, schema_version TEXT NOT NULL, hash TEXT NOT NULL,
                    created_date DOUBLE PRECISION NOT NULL, version_name TEXT, target_type TEXT, display_name TEXT,
                    PRIMARY KEY (region, name, version))
                """,
                """
                CREATE TABLE commands (
                    command_id TEXT PRIMARY KEY, region TEXT NOT NULL, document_name TEXT NOT NULL,
                    document_version TEXT NOT NULL, comment TEXT NOT NULL, parameters TEXT NOT NULL,
                    instance_ids TEXT NOT NULL, targets TEXT NOT NULL, requested_at DOUBLE PRECISION NOT NULL,
                    expires_after DOUBLE PRECISION NOT NULL, timeout_seconds BIGINT NOT NULL,
                    execution_timeout BIGINT NOT NULL, max_concurrency TEXT NOT NULL, max_errors TEXT NOT NULL,
                    status TEXT NOT NULL, status_details TEXT NOT NULL, target_count BIGINT NOT NULL,
                    completed_count BIGINT NOT NULL, error_count BIGINT NOT NULL,
                    delivery_timed_out_count BIGINT NOT NULL, cancel_requested BIGINT NOT NULL, plan TEXT NOT NULL)
                """,
                "CREATE INDEX commands_region_time ON commands (region, requested_at)",
                "CREATE INDEX commands_status ON commands (status)",
                """
                CREATE TABLE invocations (
                    command_id TEXT NOT NULL, instance_id TEXT NOT NULL, region TEXT NOT NULL, position BIGINT NOT NULL,
                    instance_name TEXT NOT NULL, state TEXT NOT NULL, dispatched BIGINT NOT NULL,
                    accepted BIGINT NOT NULL, requested_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION,
                    finished_at DOUBLE PRECISION, response_code BIGINT NOT NULL, plugins TEXT NOT NULL,
                    PRIMARY KEY (command_id, instance_id))
                """,
                "CREATE INDEX invocations_instance ON invocations (instance_id, state)",
                "CREATE INDEX invocations_state ON invocations (state)",
            ]
        ),
        (2, ["CREATE INDEX tags_by_value ON tags (region, resource_type, tag_key, tag_value)"]),
        (
            3,
            [
                """
                CREATE TABLE parameters (
                    region TEXT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL,
                    key_id TEXT, description TEXT, allowed_pattern TEXT, tier TEXT NOT NULL, data_type TEXT NOT NULL,
                    last_modified DOUBLE PRECISION NOT NULL, last_modified_user TEXT NOT NULL, labels TEXT NOT NULL,
                    PRIMARY KEY (region, name, version))
                """,
                """
                CREATE TABLE kms_keys (
                    region TEXT NOT NULL, key_id TEXT NOT NULL, alias TEXT, material_sealed TEXT NOT NULL,
                    created DOUBLE PRECISION NOT NULL, PRIMARY KEY (region, key_id))
                """,
            ]
        ),
        (
            4,
            [
                // One row per (instance, type): what the last upload said about it.
                """
                CREATE TABLE inventory_items (
                    region TEXT NOT NULL, instance_id TEXT NOT NULL, type_name TEXT NOT NULL, schema_version TEXT NOT NULL,
                    capture_time TEXT NOT NULL, content_hash TEXT NOT NULL, entry_count BIGINT NOT NULL,
                    updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (region, instance_id, type_name))
                """,
                "CREATE INDEX inventory_items_type ON inventory_items (region, type_name, instance_id)",
                // One row per entry, clustered by type then instance (a type's rows of all nodes lie together, and so do one
                // node's); Name and Version are columns, and the name index covers what version queries read.
                """
                CREATE TABLE inventory_entries (
                    region TEXT NOT NULL, instance_id TEXT NOT NULL, type_name TEXT NOT NULL, idx BIGINT NOT NULL,
                    name TEXT, version TEXT, data TEXT NOT NULL, PRIMARY KEY (region, type_name, instance_id, idx))
                """ + "{WITHOUT_ROWID}",
                "CREATE INDEX inventory_entries_name ON inventory_entries (region, type_name, name, instance_id, version)",
                // Custom types: their attributes as seen, and whether the schema was disabled by DeleteInventory.
                """
                CREATE TABLE inventory_schemas (
                    region TEXT NOT NULL, type_name TEXT NOT NULL, version TEXT NOT NULL, attributes TEXT NOT NULL,
                    disabled BIGINT NOT NULL, PRIMARY KEY (region, type_name))
                """,
                """
                CREATE TABLE inventory_deletions (
                    deletion_id TEXT PRIMARY KEY, region TEXT NOT NULL, type_name TEXT NOT NULL, started DOUBLE PRECISION NOT NULL,
                    status TEXT NOT NULL, summary TEXT NOT NULL)
                """,
                // Saved fleet queries that any operator can list and run.
                """
                CREATE TABLE inventory_queries (
                    region TEXT NOT NULL, name TEXT NOT NULL, query TEXT NOT NULL, description TEXT NOT NULL,
                    created DOUBLE PRECISION NOT NULL, PRIMARY KEY (region, name))
                """,
            ]
        ),
        (
            5,
            [
                // State Manager and compliance records, as JSON documents by kind: associations and their versions,
                // executions and their targets, per-instance association status, compliance items.
                """
                CREATE TABLE records (
                    kind TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, parent TEXT NOT NULL, body TEXT NOT NULL,
                    updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (kind, region, id))
                """,
                "CREATE INDEX records_parent ON records (kind, region, parent)",
            ]
        ),
        (
            6,
            [
                // Where a command came from: API (SendCommand, associations) or Direct (run on a node with a grant, audited later).
                "ALTER TABLE commands ADD COLUMN origin TEXT NOT NULL DEFAULT 'API'"
            ]
        ),
    ]

    func migrate() async throws {
        // PostgreSQL replicas (or tests) starting together must not create or apply anything twice.
        let lockStatement: SQLQueryString? = engine == .postgres ? "SELECT pg_advisory_xact_lock(7301)" : nil
        try await write { db in
            if let lockStatement { try await db.raw(lockStatement).run() }
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)").run()
            let rows = try await db.raw("SELECT version FROM schema_migrations").all()
            let applied = Set(try rows.map { try $0.decode(column: "version", as: Int.self) })
            for migration in Store.migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    // SQLite keeps a table clustered on its primary key when told; PostgreSQL has no such clause.
                    let sql = statement.replacingOccurrences(of: "{WITHOUT_ROWID}", with: engine == .sqlite ? " WITHOUT ROWID" : "")
                    try await db.raw(SQLQueryString(sql)).run()
                }
                try await db.raw("INSERT INTO schema_migrations (version) VALUES (\(bind: migration.version))").run()
            }
        }
    }
}
