import Postgres

extension Store {
    /// The database's schema version: the highest migration applied, 0 when none ever was.
    public func schemaVersion() throws -> Int {
        guard try connection.queryValue(Bool.self, "SELECT to_regclass('schema_migrations') IS NOT NULL") else { return 0 }
        return try connection.queryValue(Int.self, "SELECT COALESCE(max(version), 0) FROM schema_migrations")
    }

    /// The schema version this build's statements are written for: the last migration in `sql/` (a test keeps
    /// them equal).
    public static let schemaVersionOfThisBuild = 28

    /// Every command that touches data (`sync`, `push`, `serve`, `prune`, `customers`, `link`, `api-key`, `unreadable`,
    /// `held`, `lag`, `secrets rotate`; not `migrate` and `doctor`, which report the version) refuses a
    /// database at another schema version before it reads or writes anything: one migrated further by a newer
    /// banksync (an old worker left running through an upgrade would send rows the new outbox holds — migration
    /// 0018 — a second time), or not migrated yet.
    public func requireSchemaOfThisBuild() throws {
        let version = try schemaVersion()
        guard version == Self.schemaVersionOfThisBuild else {
            throw MigrationError.schemaNotOfThisBuild(database: version, build: Self.schemaVersionOfThisBuild)
        }
    }
}
