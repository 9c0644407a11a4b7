import SQLKit
import StewardKit

extension Store {
    public func insertActivation(_ a: Activation) async throws {
        try await write { db in
            try await db.raw(
                """
                INSERT INTO activations (activation_id, region, code_hash, description, default_instance_name, iam_role,
                    registration_limit, registrations_count, expiration_date, created_date, tags)
                VALUES (\(bind: a.activationId), \(bind: a.region), \(bind: a.codeHash), \(bind: a.description),
                    \(bind: a.defaultInstanceName), \(bind: a.iamRole), \(bind: a.registrationLimit), \(bind: a.registrationsCount),
                    \(bind: a.expirationDate), \(bind: a.createdDate), \(bind: Columns.json(a.tags)))
                """
            ).run()
        }
    }

    public func activations(region: String) async throws -> [Activation] {
        try await read { db in
            try await db.raw("SELECT * FROM activations WHERE region = \(bind: region) ORDER BY created_date, activation_id").all()
                .map(Store.activation)
        }
    }

    public func activation(id: String) async throws -> Activation? {
        try await read { db in
            try await db.raw("SELECT * FROM activations WHERE activation_id = \(bind: id)").first().map(Store.activation)
        }
    }

    public func deleteActivation(id: String, region: String) async throws -> Bool {
        try await write { db in
            let found = try await db.raw(
                "SELECT activation_id FROM activations WHERE activation_id = \(bind: id) AND region = \(bind: region)"
            ).first()
            guard found != nil else { return false }
            try await db.raw("DELETE FROM activations WHERE activation_id = \(bind: id)").run()
            return true
        }
    }

    static func activation(_ row: any SQLRow) throws -> Activation {
        Activation(
            activationId: try row.string("activation_id"), region: try row.string("region"),
            codeHash: try row.string("code_hash"), description: try row.optionalString("description"),
            defaultInstanceName: try row.optionalString("default_instance_name"), iamRole: try row.string("iam_role"),
            registrationLimit: try row.int("registration_limit"), registrationsCount: try row.int("registrations_count"),
            expirationDate: try row.double("expiration_date"), createdDate: try row.double("created_date"),
            tags: try Columns.decode([Tag].self, from: try row.string("tags"), column: "tags"))
    }

    public enum RegistrationOutcome: Sendable {
        case registered(ManagedInstance)
        case refused(String)
    }

    /// Registers a node against an activation, counting it against the limit in the same transaction.
    public func register(
        activationId: String, codeHash: String, now: Double, makeInstance: @Sendable (Activation) -> ManagedInstance
    ) async throws -> RegistrationOutcome {
        try await write { db in
            let lock: SQLQueryString = self.engine == .postgres ? " FOR UPDATE" : ""
            guard let row = try await db.raw("SELECT * FROM activations WHERE activation_id = \(bind: activationId)\(lock)").first() else {
                return .refused("The activation id or code is not valid.")
            }
            let activation = try Store.activation(row)
            guard activation.codeHash == codeHash else { return .refused("The activation id or code is not valid.") }
            guard activation.expirationDate > now else { return .refused("The activation has expired.") }
            guard activation.registrationsCount < activation.registrationLimit else {
                return .refused("The activation has reached its registration limit of \(activation.registrationLimit).")
            }
            try await db.raw(
                "UPDATE activations SET registrations_count = registrations_count + 1 WHERE activation_id = \(bind: activationId)"
            ).run()
            let instance = makeInstance(activation)
            try await Store.insertInstance(instance, db: db)
            for tag in activation.tags {
                try await Store.upsertTag(region: instance.region, type: "ManagedInstance", id: instance.instanceId, tag: tag, db: db)
            }
            return .registered(instance)
        }
    }
}
