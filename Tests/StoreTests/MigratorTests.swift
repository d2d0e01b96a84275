import Foundation
import Logging
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

    /// Another session holds ACCESS EXCLUSIVE on the table a migration alters: the migration gives up after its
    /// lock_timeout (so the traffic queued behind it is not blocked), says so in the log, retries, and applies once
    /// the lock is released.
    @Test func aMigrationThatMeetsAHeldLockIsRetriedAndAppliesOnceItIsFree() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE busy (id int)")
            let holder = try database.connect()
            defer { holder.close() }
            try holder.execute("BEGIN")
            try holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")

            let (warnings, sink) = AsyncStream.makeStream(of: String.self)
            var retry = Migrator.LockRetry()
            retry.lockTimeout = .milliseconds(100)
            retry.firstDelay = .milliseconds(20)
            retry.maxDelay = .milliseconds(100)
            retry.maxAttempts = 100_000   // bounded, and never reached: the lock is released after the first retry
            let migrator = Migrator(migrations: [Migration(version: 1, name: "0001_busy_note", sql: "ALTER TABLE busy ADD COLUMN note text;")],
                                    lockRetry: retry, logger: Logger(label: "test.migrate") { _ in CapturingLogHandler(sink: sink) })
            async let applying = withBlockingIOExecutor("test-migrate") { try await migrator.migrate(connection) }
            // The lock is released only after the migrator met its lock timeout and said it will retry.
            for await message in warnings where message == "migration waiting for a lock" { break }
            try holder.execute("ROLLBACK")
            let report = try await applying
            #expect(report.applied == ["0001_busy_note"])
            #expect(report.lockRetries >= 1)
            #expect(try connection.queryValue(Bool.self, """
                SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'busy' AND column_name = 'note')
                """))
            // The session setting of the migration does not outlive it.
            #expect(try connection.queryValue(String.self, "SHOW lock_timeout") == "0")
        }
    }

    /// A `-- banksync: no-transaction` file runs statement by statement outside a transaction:
    /// CREATE INDEX CONCURRENTLY applies, the index is valid, and the migration is recorded.
    @Test func aNoTransactionMigrationCreatesAnIndexConcurrently() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let table = Migration(version: 1, name: "0001_rows", sql: "CREATE TABLE rows (id int, note text); INSERT INTO rows SELECT g, 'n;' || g FROM generate_series(1, 1000) g;")
            let index = Migration(version: 2, name: "0002_rows_note", sql: """
                -- banksync: no-transaction
                -- A semicolon inside a comment; or a string does not split a statement.
                DROP INDEX CONCURRENTLY IF EXISTS rows_note;
                CREATE INDEX CONCURRENTLY IF NOT EXISTS rows_note ON rows (note) WHERE note <> ';';
                DO $$ BEGIN PERFORM 1; END $$;
                """)
            #expect(!index.runsInTransaction)
            #expect(table.runsInTransaction)
            let report = try await Migrator(migrations: [table, index]).migrate(connection)
            #expect(report.applied == ["0001_rows", "0002_rows_note"])
            #expect(try connection.queryValue(Bool.self, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'rows_note'::regclass"))
            #expect(try connection.queryValue(Int.self, "SELECT max(version) FROM schema_migrations") == 2)
        }
    }

    /// CREATE INDEX CONCURRENTLY that waits for a writer's open transaction meets its lock timeout after it made an
    /// (invalid) index: the retry runs the file again from its first statement, whose DROP INDEX CONCURRENTLY IF
    /// EXISTS removes it, and once the writer commits the index is built and valid.
    @Test func aConcurrentIndexThatTimesOutIsBuiltAgainFromTheStartOfItsFile() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE rows (id int, note text)")
            let writer = try database.connect()
            defer { writer.close() }
            try writer.execute("BEGIN")
            try writer.execute("INSERT INTO rows VALUES (1, 'open')")

            let (messages, sink) = AsyncStream.makeStream(of: String.self)
            var retry = Migrator.LockRetry()
            retry.lockTimeout = .milliseconds(100)
            retry.firstDelay = .milliseconds(20)
            retry.maxDelay = .milliseconds(100)
            retry.maxAttempts = 100_000
            let index = Migration(version: 1, name: "0001_rows_note", sql: """
                -- banksync: no-transaction
                DROP INDEX CONCURRENTLY IF EXISTS rows_note;
                CREATE INDEX CONCURRENTLY IF NOT EXISTS rows_note ON rows (note);
                """)
            let migrator = Migrator(migrations: [index], lockRetry: retry,
                                    logger: Logger(label: "test.migrate") { _ in CapturingLogHandler(sink: sink) })
            async let applying = withBlockingIOExecutor("test-migrate") { try await migrator.migrate(connection) }
            for await message in messages where message == "migration waiting for a lock" { break }
            try writer.execute("COMMIT")
            let report = try await applying
            #expect(report.applied == ["0001_rows_note"])
            #expect(report.lockRetries >= 1)
            #expect(try connection.queryValue(Bool.self, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'rows_note'::regclass"))
        }
    }

    /// A no-transaction migration that fails part-way is not recorded: the next run starts it again from its first
    /// statement (which is why its statements must be repeatable).
    @Test func aFailedNoTransactionMigrationIsNotRecorded() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let broken = Migration(version: 1, name: "0001_half", sql: """
                -- banksync: no-transaction
                CREATE TABLE IF NOT EXISTS half (id int);
                SELECT 1/0;
                """)
            await #expect(throws: PostgresError.self) { try await Migrator(migrations: [broken]).migrate(connection) }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM schema_migrations") == 0)
            let fixed = Migration(version: 1, name: "0001_half", sql: """
                -- banksync: no-transaction
                CREATE TABLE IF NOT EXISTS half (id int);
                """)
            #expect(try await Migrator(migrations: [fixed]).migrate(connection).applied == ["0001_half"])
        }
    }

    @Test func anUnknownDirectiveIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-sql-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "-- banksync: no-transactions\nSELECT 1;\n".write(to: directory.appendingPathComponent("0001_typo.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.unknownDirective("0001_typo.sql", "-- banksync: no-transactions")) {
            try Migration.load(from: directory)
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

/// Hands each log message to a stream, so a test can wait for what the code under test says.
struct CapturingLogHandler: LogHandler {
    let sink: AsyncStream<String>.Continuation
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.yield(event.message.description)
    }
}
