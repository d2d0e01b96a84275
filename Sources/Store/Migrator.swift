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
        /// One line per applied migration whose recorded checksum is a known earlier edit of its file (accepted).
        public var notes: [String] = []
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
            let notes = try verify(applied)
            var report = Report(applied: [], version: applied.keys.max() ?? 0, notes: notes)
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
        _ = try verify(applied)
        return (applied.keys.max() ?? 0, migrations.filter { applied[$0.version] == nil }.map(\.name))
    }

    /// The notes `migrate` would print for applied migrations recorded with a known earlier edit's checksum.
    public func earlierEditNotes(_ connection: PostgresConnection) throws -> [String] {
        let exists = try connection.queryValue(Bool.self, "SELECT to_regclass('schema_migrations') IS NOT NULL")
        return exists ? try verify(try appliedMigrations(connection)) : []
    }

    private func appliedMigrations(_ connection: PostgresConnection) throws -> [Int: (name: String, checksum: String)] {
        var applied: [Int: (name: String, checksum: String)] = [:]
        for row in try connection.query("SELECT version, name, checksum FROM schema_migrations") {
            applied[try row.decode(Int.self, "version")] = (try row.decode(String.self, "name"), try row.decode(String.self, "checksum"))
        }
        return applied
    }

    /// Refuses applied migrations this build does not have or whose file changed; returns a note for each one
    /// recorded with the checksum of a known earlier edit of its file (`KnownEarlierEdit`), which is accepted.
    private func verify(_ applied: [Int: (name: String, checksum: String)]) throws(MigrationError) -> [String] {
        var notes: [String] = []
        for (version, record) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = migrations.first(where: { $0.version == version }) else {
                throw .unknownApplied(version: version, name: record.name)
            }
            guard migration.checksum != record.checksum else { continue }
            guard let earlier = KnownEarlierEdit.find(version: version, checksum: record.checksum) else {
                throw .editedAfterApply(version: version, name: record.name)
            }
            notes.append("migration \(record.name) was applied from an earlier edit of its file (commit \(earlier.commit), \(earlier.day)); "
                         + "accepted as a known earlier edit; differs from the current file: \(earlier.difference)")
        }
        return notes
    }
}
