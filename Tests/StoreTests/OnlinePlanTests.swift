import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The online plans of 0009 and 0010 (`OnlinePlan`) reach the end state of the released files, and a batched step
/// killed mid-way resumes to the same result.
@Suite struct OnlinePlanTests {
    static let migrations: [Migration] = (try? Migration.load(from: MigratorTests.sqlDirectory)) ?? []

    /// A database as release 0008 left it, with customers, accounts (two of them the same bank account: a renewal
    /// before 0009), transactions with identical fingerprints on one day, and a rejected transactions batch.
    /// Every value is written explicitly, so two databases built this way hold the same data.
    static func build0008Database(_ connection: PostgresConnection) async throws {
        _ = try await Migrator(migrations: migrations.filter { $0.version <= 8 }).migrate(connection)
        try connection.executeScript("""
            INSERT INTO customers (flowpay_customer_id, merchant_id, source, source_ref, created_at)
            SELECT md5('customer' || g)::uuid, 'm-' || g, 'gocardless', 'req-' || g, '2026-01-01T00:00:00Z'
            FROM generate_series(1, 8) g;
            INSERT INTO accounts (customer_id, source_account_id, iban, currency, updated_at)
            SELECT c.id, 'acc-' || c.id || '-' || n, 'CZ65 0800 0000 1920 0014 ' || lpad((c.id * 10 + n)::text, 4, '0'), 'CZK',
                   '2026-01-02T00:00:00Z'::timestamptz + n * interval '1 hour'
            FROM customers c, generate_series(1, 3) n ORDER BY c.id, n;
            -- the renewal twin of customer 1's first account (same IBAN and currency, a new resource id)
            INSERT INTO accounts (customer_id, source_account_id, iban, currency, updated_at)
            SELECT customer_id, source_account_id || '-renewed', iban, currency, '2026-02-01T00:00:00Z' FROM accounts ORDER BY id LIMIT 1;
            INSERT INTO watermarks (account_id, booked_through, last_pull_at)
            SELECT id, '2026-03-01', '2026-03-01T06:00:00Z'::timestamptz + id * interval '1 minute' FROM accounts;
            INSERT INTO transactions (account_id, customer_id, tx_key, status, booking_date, value_date, amount_minor, currency,
                                      counterparty_name, remittance, arrived_at, ingest_xid, push_state)
            SELECT a.id, a.customer_id, sha256(convert_to(a.id || '/' || n, 'UTF8')), 'booked',
                   DATE '2026-01-01' + (n / 5), DATE '2026-01-01' + (n / 5),
                   -- every fifth pair of rows is the same coffee twice on one day: ordinals 1 and 2
                   CASE WHEN n % 10 IN (0, 1) THEN -4500 ELSE -100 * n END, 'CZK',
                   CASE WHEN n % 10 IN (0, 1) THEN 'Kavárna' ELSE 'Shop ' || n END, 'text ' || (n / 2),
                   '2026-03-01T00:00:00Z'::timestamptz + n * interval '1 second', (1000 + n)::text::xid8,
                   CASE WHEN n % 3 = 0 THEN 'pushed' ELSE 'queued' END
            FROM accounts a, generate_series(1, 40) n ORDER BY a.id, n;
            INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, row_count, state, created_at)
            SELECT id, 'transactions', 'idem-' || id, sha256(convert_to('p' || id, 'UTF8')), 1,
                   CASE WHEN id % 2 = 0 THEN 'rejected' ELSE 'sent' END, '2026-03-02T00:00:00Z'
            FROM customers;
            """)
    }

    /// Every table's rows (timestamps set by the clock left out: they differ between two runs), one hash each.
    static func dataFingerprint(_ connection: PostgresConnection) throws -> [String: String] {
        var fingerprint: [String: String] = [:]
        let tables = try connection.query("""
            SELECT table_name::text FROM information_schema.tables
            WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'schema_migration%' ORDER BY 1
            """).map { try $0.decode(String.self, at: 0) }
        for table in tables {
            let columns = try connection.query("""
                SELECT quote_ident(column_name::text) FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = $1 AND data_type <> 'timestamp with time zone' ORDER BY ordinal_position
                """, [table]).map { try $0.decode(String.self, at: 0) }
            // Names from the catalog, quoted by quote_ident: no outside value reaches the text.
            fingerprint[table] = try connection.queryValue(String.self, """
                SELECT count(*) || ' rows ' || md5(coalesce(string_agg(r, '|' ORDER BY r), ''))
                FROM (SELECT ROW(\(columns.joined(separator: ", ")))::text AS r FROM \(table)) AS s
                """)
        }
        return fingerprint
    }

    /// `pg_dump --schema-only` of the database, without the lines a dump makes up each time.
    static func schemaDump(_ database: TestDatabase) async throws -> String {
        let pgDump = try PrivatePostgres.binariesDirectory().appendingPathComponent("pg_dump").path
        let dump = try await BankSyncProcess.runTool(pgDump, ["--schema-only", "--no-owner", "-d", database.connectionString], environment: [:])
        #expect(dump.status == 0, "\(dump.stderr)")
        return dump.stdout.split(separator: "\n").filter { !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict") }.joined(separator: "\n")
    }

    @Test func theOnlinePlansReachTheReleasedFilesEndState() async throws {
        try await TestDatabase.with { released in
            try await TestDatabase.with { online in
                let releasedConnection = try released.connect()
                defer { releasedConnection.close() }
                let onlineConnection = try online.connect()
                defer { onlineConnection.close() }
                try await Self.build0008Database(releasedConnection)
                try await Self.build0008Database(onlineConnection)
                #expect(try Self.dataFingerprint(releasedConnection) == (try Self.dataFingerprint(onlineConnection)), "the fixtures are equal")

                _ = try await Migrator(migrations: Self.migrations, usesOnlinePlans: false).migrate(releasedConnection)
                let report = try await Migrator(migrations: Self.migrations, batching: .init(rowsPerBatch: 7)).migrate(onlineConnection)
                #expect(report.applied.contains("0009_identity") && report.version == Self.migrations.last?.version)

                // The plans ran (their steps are recorded) and the migrations are recorded as the released files.
                #expect(try onlineConnection.queryValue(Int.self, "SELECT count(*) FROM schema_migration_steps WHERE version IN (9, 10) AND finished_at IS NOT NULL") == 17)
                #expect(try onlineConnection.queryValue(Int.self, "SELECT batches FROM schema_migration_steps WHERE version = 9 AND kind = 'batched transactions_content_keys'") > 1)
                // Nothing was stored behind the walk here: the catch-up walk keyed no row.
                #expect(try onlineConnection.queryValue(Int64.self, "SELECT rows FROM schema_migration_steps WHERE version = 9 AND kind = 'batched transactions_content_keys_catch_up'") == 0)
                #expect(try onlineConnection.queryValue(Int64.self, "SELECT rows FROM schema_migration_steps WHERE version = 9 AND kind = 'batched transactions_content_keys'")
                        == (try onlineConnection.queryValue(Int64.self, "SELECT count(*) FROM transactions")))
                let checksums = "SELECT string_agg(version || ':' || checksum, ',' ORDER BY version) FROM schema_migrations"
                #expect(try releasedConnection.queryValue(String.self, checksums) == (try onlineConnection.queryValue(String.self, checksums)))
                #expect(try Migrator(migrations: Self.migrations).status(onlineConnection).pending.isEmpty)

                let releasedData = try Self.dataFingerprint(releasedConnection)
                #expect(releasedData == (try Self.dataFingerprint(onlineConnection)))
                #expect(try onlineConnection.queryValue(Int.self, "SELECT count(*) FROM accounts WHERE NOT active") == 1, "the renewal twin")
                #expect(try onlineConnection.queryValue(Int.self, "SELECT count(*) FROM push_batches WHERE state = 'parked'") == 4)
                let releasedSchema = try await Self.schemaDump(released)
                let onlineSchema = try await Self.schemaDump(online)
                #expect(releasedSchema.contains("transactions_content") && releasedSchema == onlineSchema)
            }
        }
    }

    /// A real `banksync migrate` killed (SIGKILL) between batches of 0009's backfill, then run again: the result is
    /// the one an uninterrupted run gives, and no batch ran twice.
    @Test func aKilledMigratorResumesTheBackfillWhereItStopped() async throws {
        try await TestDatabase.with { interrupted in
            try await TestDatabase.with { uninterrupted in
                let connection = try interrupted.connect()
                defer { connection.close() }
                let reference = try uninterrupted.connect()
                defer { reference.close() }
                try await Self.build0008Database(connection)
                try await Self.build0008Database(reference)
                _ = try await Migrator(migrations: Self.migrations).migrate(reference)

                let environment = ["DATABASE_URL": interrupted.connectionString, "BANKSYNC_SQL_DIR": MigratorTests.sqlDirectory.path,
                                   "BANKSYNC_MIGRATE_BATCH_ROWS": "1", "BANKSYNC_MIGRATE_BATCH_PAUSE": "150ms"]
                let (process, out, err) = try BankSyncProcess.start(["migrate"], environment: environment)
                let batchesDone = "SELECT coalesce(max(batches), 0) FROM schema_migration_steps WHERE version = 9 AND kind = 'batched transactions_content_keys'"
                var batches = 0
                while process.isRunning, batches < 4 {
                    try await Task.sleep(for: .milliseconds(20))
                    let exists = try connection.queryValue(Bool.self, "SELECT to_regclass('schema_migration_steps') IS NOT NULL")
                    batches = exists ? try connection.queryValue(Int.self, batchesDone) : 0
                }
                #expect(process.isRunning, "the migrator was still walking when it was killed")
                kill(process.processIdentifier, SIGKILL)
                let killed = await BankSyncProcess.finish(process, out, err)
                #expect(killed.status == SIGKILL)
                #expect(try connection.queryValue(Int.self, "SELECT max(version) FROM schema_migrations") == 8, "0009 is not recorded")
                let stoppedAt = try connection.queryValue(Int.self, batchesDone)
                #expect(stoppedAt >= 4 && stoppedAt < 33)
                #expect(try connection.queryValue(Bool.self, "SELECT finished_at IS NULL FROM schema_migration_steps WHERE version = 9 AND kind = 'batched transactions_content_keys'"))

                let resumed = try await BankSyncProcess.run(["migrate"], environment: ["DATABASE_URL": interrupted.connectionString,
                                                                                        "BANKSYNC_SQL_DIR": MigratorTests.sqlDirectory.path])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                #expect(resumed.stdout.contains("applied 0009_identity, 0010_refusals"), "\(resumed.stdout)")
                // Every row was changed once: the batches of the killed run were not done again.
                #expect(try connection.queryValue(Int64.self, "SELECT rows FROM schema_migration_steps WHERE version = 9 AND kind = 'batched transactions_content_keys'")
                        == (try connection.queryValue(Int64.self, "SELECT count(*) FROM transactions")))
                #expect(try Self.dataFingerprint(connection) == (try Self.dataFingerprint(reference)))
                #expect(try await Self.schemaDump(interrupted) == (try await Self.schemaDump(uninterrupted)))
            }
        }
    }
}
