import Postgres

extension Store {
    /// Is the schema at the version this build expects, and the database reachable?
    public func schemaVersion() throws -> Int {
        try connection.queryValue(Int.self, "SELECT COALESCE(max(version), 0) FROM schema_migrations")
    }

    /// The schema version this build's statements are written for: the last migration in `sql/` (a test keeps
    /// them equal).
    public static let schemaVersionOfThisBuild = 20

    /// `sync` and `push` refuse a database at another schema version before they write anything: one migrated
    /// further by a newer banksync (an old worker left running through an upgrade would send rows the new outbox
    /// holds — migration 0018 — a second time), or not migrated yet.
    public func requireSchemaOfThisBuild() throws {
        let version = try schemaVersion()
        guard version == Self.schemaVersionOfThisBuild else {
            throw MigrationError.schemaNotOfThisBuild(database: version, build: Self.schemaVersionOfThisBuild)
        }
    }
}
