import Foundation
import Testing
import TestSupport

/// `scripts/lint-migrations` (squawk with `.squawk.toml`, run by scripts/test) refuses the migrations that would
/// block a live database, and passes their online forms. Needs squawk: scripts/test installs it and sets SQUAWK_BIN.
@Suite struct MigrationLintTests {
    static let script = BankSyncProcess.packageRoot.appendingPathComponent("scripts/lint-migrations").path

    static func lint(_ files: [String: String]) async throws -> BankSyncProcess.Outcome {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-lint-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, sql) in files { try sql.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        var environment: [String: String] = [:]
        environment["SQUAWK_BIN"] = ProcessInfo.processInfo.environment["SQUAWK_BIN"]
        return try await BankSyncProcess.runTool(script, [directory.path], environment: environment)
    }

    @Test func migrationsThatBlockTransactionsFailTheLint() async throws {
        let cases = [
            ("0021_volatile_default.sql", "ALTER TABLE transactions ADD COLUMN seen_id uuid NOT NULL DEFAULT gen_random_uuid();\n",
             "adding-field-with-default"),
            ("0021_check_scan.sql", "ALTER TABLE transactions ADD CONSTRAINT amount_bounded CHECK (amount_minor < 100000000000);\n",
             "constraint-missing-not-valid"),
            ("0021_blocking_index.sql", "CREATE INDEX transactions_booked ON transactions (account_id, booking_date);\n",
             "require-concurrent-index-creation"),
            ("0021_validate_same_transaction.sql", """
                ALTER TABLE transactions ADD CONSTRAINT amount_bounded CHECK (amount_minor < 100000000000) NOT VALID;
                ALTER TABLE transactions VALIDATE CONSTRAINT amount_bounded;

                """, "constraint-missing-not-valid"),
        ]
        for (name, sql, rule) in cases {
            let outcome = try await Self.lint([name: sql])
            #expect(outcome.status == 1, "\(name): \(outcome.stdout) \(outcome.stderr)")
            #expect(outcome.stdout.contains(rule), "\(name) should fail \(rule): \(outcome.stdout) \(outcome.stderr)")
        }
    }

    @Test func theOnlineFormsPassAndReleasedMigrationsAreNotLinted() async throws {
        let outcome = try await Self.lint([
            "0019_released.sql": "CREATE INDEX transactions_booked ON transactions (account_id, booking_date);\n",
            "0021_nullable_column.sql": """
                ALTER TABLE transactions ADD COLUMN seen_id uuid;
                ALTER TABLE transactions ADD CONSTRAINT amount_bounded CHECK (amount_minor < 100000000000) NOT VALID;

                """,
            "0022_validate.sql": "ALTER TABLE transactions VALIDATE CONSTRAINT amount_bounded;\n",
            "0023_index.sql": """
                -- banksync: no-transaction
                DROP INDEX CONCURRENTLY IF EXISTS transactions_booked;
                CREATE INDEX CONCURRENTLY IF NOT EXISTS transactions_booked ON transactions (account_id, booking_date);

                """,
            "0024_excepted.sql": """
                CREATE TABLE IF NOT EXISTS lint_probe (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
                -- squawk-ignore require-concurrent-index-creation -- lint_probe is created empty by this same migration
                CREATE INDEX lint_probe_note ON lint_probe (note);

                """,
        ])
        #expect(outcome.status == 0, "\(outcome.stdout) \(outcome.stderr)")
        #expect(outcome.stderr.contains("4 migration(s) after 0019 linted"), "\(outcome.stderr)")
    }

    @Test func anExceptionWithoutItsReasonFailsTheLint() async throws {
        let outcome = try await Self.lint(["0021_no_reason.sql": """
            CREATE TABLE IF NOT EXISTS lint_probe (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
            -- squawk-ignore require-concurrent-index-creation
            CREATE INDEX lint_probe_note ON lint_probe (note);

            """])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("squawk-ignore without a reason"), "\(outcome.stderr)")
    }
}
