import Logging
import Postgres

/// Applies pending migrations in order, each in its own transaction, under an advisory lock so that
/// concurrent `banksync migrate` runs serialise: one applies, the others wait and then find nothing to do.
public struct Migrator: Sendable {
    /// Advisory lock key shared by every migrating process ("banksync" in ASCII).
    static let lockKey: Int64 = 0x62_61_6e_6b_73_79_6e_63

    public let migrations: [Migration]
    let logger: Logger

    public init(migrations: [Migration], logger: Logger = Logger(label: "banksync.migrate")) {
        self.migrations = migrations
        self.logger = logger
    }

    public struct Report: Sendable, Equatable {
        public var applied: [String]
        public var version: Int
    }

    public func migrate(_ connection: PostgresConnection) async throws -> Report {
        try await connection.withAdvisoryLock(Self.lockKey) {
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version     integer PRIMARY KEY,
                    name        text        NOT NULL,
                    checksum    text        NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                )
                """)
            let applied = try appliedMigrations(connection)
            try verify(applied)
            var report = Report(applied: [], version: applied.keys.max() ?? 0)
            for migration in migrations where applied[migration.version] == nil {
                try await connection.withTransaction {
                    try connection.executeScript(migration.sql)
                    try connection.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        [migration.version, migration.name, migration.checksum])
                }
                logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
                report.applied.append(migration.name)
                report.version = migration.version
            }
            return report
        }
    }

    /// The schema version in the database and the migrations not yet applied; changes nothing.
    public func status(_ connection: PostgresConnection) throws -> (version: Int, pending: [String]) {
        let exists = try connection.queryValue(Bool.self, "SELECT to_regclass('schema_migrations') IS NOT NULL")
        let applied = exists ? try appliedMigrations(connection) : [:]
        try verify(applied)
        return (applied.keys.max() ?? 0, migrations.filter { applied[$0.version] == nil }.map(\.name))
    }

    private func appliedMigrations(_ connection: PostgresConnection) throws -> [Int: (name: String, checksum: String)] {
        var applied: [Int: (name: String, checksum: String)] = [:]
        for row in try connection.query("SELECT version, name, checksum FROM schema_migrations") {
            applied[try row.decode(Int.self, "version")] = (try row.decode(String.self, "name"), try row.decode(String.self, "checksum"))
        }
        return applied
    }

    private func verify(_ applied: [Int: (name: String, checksum: String)]) throws(MigrationError) {
        for (version, record) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = migrations.first(where: { $0.version == version }) else {
                throw .unknownApplied(version: version, name: record.name)
            }
            if migration.checksum != record.checksum {
                throw .editedAfterApply(version: version, name: record.name)
            }
        }
    }
}
