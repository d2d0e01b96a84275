import Foundation
import Postgres
import Store
import Testing
import TestSupport

@Suite struct MigratorTests {
    static let sqlDirectory = BankSyncProcess.packageRoot.appendingPathComponent("sql")

    @Test func migratingTwiceIsANoOp() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let migrator = Migrator(migrations: try Migration.load(from: Self.sqlDirectory))
            let first = try await migrator.migrate(connection)
            #expect(first.applied.first == "0001_schema")
            #expect(first.version == migrator.migrations.last?.version)
            let second = try await migrator.migrate(connection)
            #expect(second.applied.isEmpty)
            #expect(second.version == first.version)
            let tables = try connection.query("""
                SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1
                """).map { try $0.decode(String.self, at: 0) }
            for table in ["accounts", "api_keys", "balances", "customers", "push_batches", "schema_migrations",
                          "sync_events", "sync_runs", "transactions", "watermarks"] {
                #expect(tables.contains(table), "missing table \(table)")
            }
            #expect(try migrator.status(connection).pending.isEmpty)
        }
    }

    /// The schema version the build's statements are written for is the last migration shipped with it.
    @Test func theBuildsSchemaVersionIsTheLastMigration() throws {
        #expect(Store.schemaVersionOfThisBuild == (try Migration.load(from: Self.sqlDirectory).last?.version))
    }

    @Test func aDatabaseAtAnotherSchemaVersionIsRefusedBeforeAnythingIsWritten() async throws {
        try await TestDatabase.with { database in
            let store = Store(connection: try database.connect())
            _ = try await Migrator(migrations: try Migration.load(from: Self.sqlDirectory)).migrate(store.connection)
            try store.requireSchemaOfThisBuild()
            // A newer banksync migrated it (an old worker left running through the upgrade).
            try store.connection.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, 'a_newer_one', 'x')",
                                         [Store.schemaVersionOfThisBuild + 1])
            #expect(throws: MigrationError.schemaNotOfThisBuild(database: Store.schemaVersionOfThisBuild + 1, build: Store.schemaVersionOfThisBuild)) {
                try store.requireSchemaOfThisBuild()
            }
            let sync = try await BankSyncProcess.run(["sync", "--no-push"], environment: ["DATABASE_URL": database.connectionString])
            #expect(sync.status != 0)
            #expect(sync.stderr.contains("newer than this banksync"), "\(sync.stderr)")
            #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM sync_runs") == 0, "nothing written")
            // Not migrated far enough yet.
            try store.connection.execute("DELETE FROM schema_migrations WHERE version >= $1", [Store.schemaVersionOfThisBuild])
            let push = try await BankSyncProcess.run(["push"], environment: ["DATABASE_URL": database.connectionString,
                                                                            "FLOWPAY_CLIENT_ID": "c", "FLOWPAY_CLIENT_SECRET": "s"])
            #expect(push.status != 0)
            #expect(push.stderr.contains("run `banksync migrate`"), "\(push.stderr)")
        }
    }

    @Test func anEditedAppliedMigrationIsRefused() async throws {
        try await TestDatabase.with { database in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-sql-\(UUID())")
            try FileManager.default.copyItem(at: Self.sqlDirectory, to: directory)
            defer { try? FileManager.default.removeItem(at: directory) }
            let connection = try database.connect()
            _ = try await Migrator(migrations: try Migration.load(from: directory)).migrate(connection)

            let file = directory.appendingPathComponent("0001_schema.sql")
            try (try String(contentsOf: file, encoding: .utf8) + "\n-- a quiet edit\n").write(to: file, atomically: true, encoding: .utf8)
            let edited = Migrator(migrations: try Migration.load(from: directory))
            await #expect(throws: MigrationError.editedAfterApply(version: 1, name: "0001_schema")) {
                try await edited.migrate(connection)
            }
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let good = Migration(version: 1, name: "0001_ok", sql: "CREATE TABLE a (id int);")
            let bad = Migration(version: 2, name: "0002_bad", sql: "CREATE TABLE b (id int); SELECT 1/0;")
            await #expect(throws: PostgresError.self) {
                try await Migrator(migrations: [good, bad]).migrate(connection)
            }
            #expect(try connection.queryValue(Bool.self, "SELECT to_regclass('a') IS NOT NULL"))
            #expect(try connection.queryValue(Bool.self, "SELECT to_regclass('b') IS NULL"))
            #expect(try connection.queryValue(Int.self, "SELECT max(version) FROM schema_migrations") == 1)
        }
    }

    @Test func twoConcurrentMigrateProcessesLeaveOneCorrectSchema() async throws {
        try await TestDatabase.with { database in
            let environment = ["DATABASE_URL": database.connectionString]
            async let first = BankSyncProcess.run(["migrate"], environment: environment)
            async let second = BankSyncProcess.run(["migrate"], environment: environment)
            let outcomes = try await [first, second]
            for outcome in outcomes { #expect(outcome.status == 0, "\(outcome.stderr)") }
            let applied = outcomes.filter { $0.stdout.contains("applied 0001_schema") }
            let upToDate = outcomes.filter { $0.stdout.contains("schema is up to date") }
            #expect(applied.count == 1)
            #expect(upToDate.count == 1)
            let connection = try database.connect()
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM schema_migrations") == Migration.all.count)
        }
    }
}

extension Migration {
    static var all: [Migration] { (try? Migration.load(from: MigratorTests.sqlDirectory)) ?? [] }
}
