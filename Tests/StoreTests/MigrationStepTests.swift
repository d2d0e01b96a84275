import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// Migration files written as steps (`-- banksync: steps`): how they are read, and a batched step run to its end.
@Suite struct MigrationStepTests {
    static func migration(_ sql: String) -> Migration { Migration(version: 2, name: "0002_steps", sql: sql) }

    static func load(_ files: [String: String]) throws -> [Migration] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-steps-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, sql) in files { try sql.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return try Migration.load(from: directory)
    }

    @Test func stepsAreReadFromTheFile() throws {
        let steps = Self.migration("""
            -- banksync: steps
            -- step: transaction
            ALTER TABLE t ADD COLUMN doubled bigint;
            -- step: batched doubled over t.id by 7
            UPDATE t SET doubled = v * 2 WHERE id > $1 AND id <= $2 AND doubled IS NULL;
            -- step: no-transaction
            CREATE INDEX CONCURRENTLY IF NOT EXISTS t_doubled ON t (doubled);
            ALTER TABLE t VALIDATE CONSTRAINT t_check;
            """).steps
        #expect(steps?.count == 3)
        guard case .batched(let batched)? = steps?[1] else { Issue.record("no batched step"); return }
        #expect(batched.name == "doubled" && batched.table == "t" && batched.column == "id" && batched.rowsPerBatch == 7)
        guard case .noTransaction(let statements)? = steps?[2] else { Issue.record("no no-transaction step"); return }
        #expect(statements.count == 2)
    }

    @Test func badStepsAreRefusedWhenLoaded() throws {
        let bad = [
            "-- step: batched b over t.id\nUPDATE t SET v = 1 WHERE id > $1 AND id <= $2;\n": "write `batched <name> over <table>.<column> by <rows>`",
            "-- step: batched b over \"T\".id by 5\nUPDATE t SET v = 1 WHERE id > $1 AND id <= $2;\n": "`over` takes <table>.<column>",
            "-- step: batched b over t.id by 5\nUPDATE t SET v = 1;\nUPDATE t SET v = 2;\n": "must hold exactly one statement",
            "-- step: sometimes\nSELECT 1;\n": "unknown step",
            "SELECT 1;\n-- step: transaction\nSELECT 1;\n": "statements before the first",
        ]
        for (body, problem) in bad {
            let error = #expect(throws: MigrationError.self) {
                _ = try Self.load(["0001_t.sql": "CREATE TABLE t (id bigint PRIMARY KEY, v bigint);\n", "0002_steps.sql": "-- banksync: steps\n" + body])
            }
            guard case .badStep(_, let found)? = error else { Issue.record("\(String(describing: error)) for \(body)"); continue }
            #expect(found.contains(problem), "\(found)")
        }
    }

    @Test func aBatchedStepWalksTheTableAndIsRecorded() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            defer { connection.close() }
            let migrations = try Self.load([
                "0001_t.sql": "CREATE TABLE t (id bigint PRIMARY KEY, v bigint NOT NULL);\nINSERT INTO t SELECT g, g FROM generate_series(1, 100) g;\n",
                "0002_steps.sql": """
                    -- banksync: steps
                    -- step: transaction
                    ALTER TABLE t ADD COLUMN doubled bigint;
                    -- step: batched doubled over t.id by 7
                    UPDATE t SET doubled = v * 2 WHERE id > $1 AND id <= $2 AND doubled IS NULL;
                    -- step: transaction
                    ALTER TABLE t ADD CONSTRAINT t_doubled_present CHECK (doubled IS NOT NULL) NOT VALID;
                    -- step: no-transaction
                    ALTER TABLE t VALIDATE CONSTRAINT t_doubled_present;
                    """,
            ])
            #expect(migrations.last?.runsInTransaction == false)
            let report = try await Migrator(migrations: migrations).migrate(connection)
            #expect(report.applied == ["0001_t", "0002_steps"])
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM t WHERE doubled = v * 2") == 100)
            let batched = try connection.query("SELECT batches, rows, walked_to FROM schema_migration_steps WHERE version = 2 AND step = 1")
            #expect(try batched.first?.decode(Int.self, "batches") == 15, "100 rows, 7 a batch")
            #expect(try batched.first?.decode(Int64.self, "rows") == 100)
            #expect(try batched.first?.decode(Int64.self, "walked_to") == 100)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM schema_migration_steps WHERE version = 2 AND finished_at IS NOT NULL") == 4)
            #expect(try await Migrator(migrations: migrations).migrate(connection).applied.isEmpty)
        }
    }
}
