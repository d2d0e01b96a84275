import Foundation
import Postgres
import Testing
import TestSupport

/// Data statements are prepared once per session; a schema change under them must not break the session.
@Suite struct PreparedStatementTests {
    @Test func aStatementWhoseColumnsAMigrationChangedRunsAgainAndLaterStatementsStillPrepare() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE prepared_probe (id bigint PRIMARY KEY, note text)")
            try connection.execute("INSERT INTO prepared_probe VALUES ($1, $2)", [Int64(1), "first"])
            let readAll = "SELECT * FROM prepared_probe WHERE id = $1"
            #expect(try connection.query(readAll, [Int64(1)]).rowCount == 1)
            #expect(try connection.queryValue(String.self, "SELECT note FROM prepared_probe WHERE id = $1", [Int64(1)]) == "first")

            // Another session changes the table's columns, as `banksync migrate` would while `serve` runs.
            let migrator = try database.connect()
            defer { migrator.close() }
            try migrator.execute("ALTER TABLE prepared_probe ADD COLUMN added integer DEFAULT 7")

            let row = try #require(try connection.query(readAll, [Int64(1)]).first)
            #expect(try row.decode(Int.self, "added") == 7, "prepared again with the new columns")
            // Statements prepared after that get names of their own (none collides with one still on the server).
            for value in 0..<5 {
                #expect(try connection.queryValue(Int.self, "SELECT $1::integer + \(value)", [10]) == 10 + value)
            }
            #expect(try connection.queryValue(String.self, "SELECT note FROM prepared_probe WHERE id = $1", [Int64(1)]) == "first")

            // Inside a transaction a changed statement cannot be run again unprepared (the transaction may be
            // spoiled); whichever way it ends, the session goes on and sees the new columns after it.
            try migrator.execute("ALTER TABLE prepared_probe ADD COLUMN later integer DEFAULT 8")
            _ = try? await connection.withTransaction { try connection.query(readAll, [Int64(1)]) }
            #expect(try connection.query(readAll, [Int64(1)]).first?.decode(Int.self, "later") == 8)
            #expect(try connection.queryValue(Int.self, "SELECT $1::integer * 2", [21]) == 42)
        }
    }

    @Test func transactionControlAndSettingsAreNeverPrepared() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("BEGIN")
            try connection.execute("SET LOCAL statement_timeout = '5s'")
            try connection.execute("COMMIT")
            let prepared = try connection.queryValue(Int.self, "SELECT count(*) FROM pg_prepared_statements")
            #expect(prepared == 1, "only the count itself")
        }
    }
}
