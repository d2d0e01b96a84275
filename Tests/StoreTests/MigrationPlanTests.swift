import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// `banksync migrate --plan`: the locks, rewrites and scans of each pending statement, with rows from the live
/// database's statistics.
@Suite struct MigrationPlanTests {
    @Test func statementKindsAndTheirLocks() {
        let cases: [(String, String, StatementLocks.Lock, StatementLocks.Work)] = [
            ("CREATE TABLE t (id bigint PRIMARY KEY, c bigint REFERENCES customers (id))", "CREATE TABLE", .accessExclusive, .catalogOnly),
            ("ALTER TABLE transactions ADD COLUMN note text", "ALTER TABLE ADD COLUMN", .accessExclusive, .catalogOnly),
            ("ALTER TABLE transactions ADD COLUMN n integer NOT NULL DEFAULT 1", "ALTER TABLE ADD COLUMN DEFAULT", .accessExclusive, .catalogOnly),
            ("ALTER TABLE transactions ADD COLUMN u uuid NOT NULL DEFAULT gen_random_uuid()", "ALTER TABLE ADD COLUMN DEFAULT (volatile)",
             .accessExclusive, .rewrite),
            ("CREATE INDEX t_i ON transactions (account_id)", "CREATE INDEX", .share, .scan),
            ("CREATE INDEX CONCURRENTLY t_i ON transactions (account_id)", "CREATE INDEX CONCURRENTLY", .shareUpdateExclusive, .scan),
            ("ALTER TABLE transactions ADD CONSTRAINT c CHECK (amount_minor < 10)", "ALTER TABLE ADD CHECK", .accessExclusive, .scan),
            ("ALTER TABLE transactions ADD CONSTRAINT c CHECK (amount_minor < 10) NOT VALID", "ALTER TABLE ADD CHECK NOT VALID",
             .accessExclusive, .catalogOnly),
            ("ALTER TABLE transactions ADD CONSTRAINT f FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID",
             "ALTER TABLE ADD FOREIGN KEY NOT VALID", .shareRowExclusive, .catalogOnly),
            ("ALTER TABLE transactions VALIDATE CONSTRAINT c", "ALTER TABLE VALIDATE CONSTRAINT", .shareUpdateExclusive, .scan),
            ("ALTER TABLE transactions ALTER COLUMN remittance SET NOT NULL", "ALTER TABLE SET NOT NULL", .accessExclusive, .scan),
            ("ALTER TABLE transactions ALTER COLUMN amount_minor TYPE numeric", "ALTER TABLE ALTER COLUMN TYPE", .accessExclusive, .rewrite),
            ("UPDATE transactions SET remittance = '' WHERE remittance IS NULL", "UPDATE", .rowExclusive, .writesRows),
            ("DELETE FROM transactions WHERE account_id = 1", "DELETE", .rowExclusive, .writesRows),
            ("WITH x AS (SELECT 1) UPDATE transactions t SET remittance = '' FROM x", "WITH … UPDATE", .rowExclusive, .writesRows),
        ]
        for (sql, kind, lock, work) in cases {
            let locks = StatementLocks.of(sql)
            #expect(locks.kind == kind, "\(sql)")
            #expect(locks.lock == lock, "\(sql)")
            #expect(locks.work == work, "\(sql)")
            #expect(locks.table == (kind == "CREATE TABLE" ? "t" : "transactions"), "\(sql)")
        }
        #expect(StatementLocks.of("ALTER TABLE t ADD COLUMN a text, ALTER COLUMN b SET NOT NULL").lock == .accessExclusive)
        #expect(StatementLocks.of("ALTER TABLE t ADD COLUMN a text, ALTER COLUMN b SET NOT NULL").work == .scan)
        #expect(StatementLocks.of("DO $$ BEGIN END $$").work == .unknown, "an unknown kind is never reported safe")
    }

    @Test func thePlanOfA0008DatabaseReadsTheLiveTables() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            defer { connection.close() }
            try await OnlinePlanTests.build0008Database(connection)
            try connection.execute("ANALYZE")
            let transactions = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions")
            // Estimates from the statistics: within a tenth of the count.
            func estimate(_ line: Substring?) -> Int? {
                guard let line, let match = line.firstMatch(of: /~([0-9]+)/) else { return nil }
                return Int(match.1)
            }
            func isNear(_ value: Int?) -> Bool { value.map { abs($0 - transactions) * 10 <= transactions } ?? false }

            let outcome = try await BankSyncProcess.run(["migrate", "--plan"], environment: [
                "DATABASE_URL": database.connectionString, "BANKSYNC_SQL_DIR": MigratorTests.sqlDirectory.path])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let text = outcome.stdout
            #expect(text.contains("0009_identity: online plan in place of the released file, 11 steps"), "\(text)")
            #expect(text.contains("0010_refusals: online plan in place of the released file, 6 steps"), "\(text)")
            let lines = text.split(separator: "\n")
            let backfill = lines.first { $0.contains("batched transactions_content_keys") }
            #expect(backfill?.contains(", 2000 per transaction") == true && isNear(estimate(backfill)), "\(backfill ?? "")")
            let index = lines.first { $0.contains("CREATE INDEX CONCURRENTLY transactions_content") }
            #expect(index?.contains("SHARE UPDATE EXCLUSIVE") == true && isNear(estimate(index)), "\(index ?? "")")
            let validate = lines.first { $0.contains("VALIDATE CONSTRAINT transactions_content_key") }
            #expect(validate?.contains("scans the table") == true && validate?.contains("nothing") == true, "\(validate ?? "")")
            #expect(text.contains("0024_reconciliation"), "every pending migration is listed")
            #expect(try connection.queryValue(Int.self, "SELECT max(version) FROM schema_migrations") == 8, "--plan changes nothing")

            // The released 0009, for comparison: one transaction that holds ACCESS EXCLUSIVE on transactions while it rewrites it.
            let released = try Migrator(migrations: OnlinePlanTests.migrations, usesOnlinePlans: false).plan(connection)
            #expect(released.first?.runsAs == "one transaction")
            let verdict = released.first?.verdict ?? ""
            #expect(verdict.hasPrefix("holds ACCESS EXCLUSIVE on transactions (blocks reads and writes) while WITH … UPDATE on transactions writes rows (~")
                    && isNear(estimate(verdict[...])), "\(verdict)")
            // The online plan: its longest blocking lock is on the small accounts table; SET NOT NULL is proven, no scan.
            let online = try Migrator(migrations: OnlinePlanTests.migrations).plan(connection)
            #expect(online.first?.verdict.hasPrefix("holds ACCESS EXCLUSIVE on accounts") == true, "\(online.first?.verdict ?? "")")
            let setNotNull = online.first?.entries.first { $0.locks.kind == "ALTER TABLE SET NOT NULL" }
            #expect(setNotNull?.locks.work == .catalogOnly, "\(String(describing: setNotNull))")
        }
    }
}
