import Foundation
import Postgres
import Testing
import TestSupport

/// Statements sent together (`PostgresConnection.pipeline`) and a read sent after a COMMIT in its round trip
/// (`queryThenCommit(…, thenRead:)`): one round trip; the read sees what was committed; it is used only by the
/// next statement asking for it, never after any other statement; a failing read costs the transaction nothing.
@Suite struct ReadAheadTests {
    @Test func aReadSentWithTheCommitSeesTheCommitAndIsTakenOnceByTheNextStatement() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE ahead (id bigint PRIMARY KEY, note text)")
            let read = PipelinedStatement("SELECT string_agg(note, ',' ORDER BY id) FROM ahead WHERE id >= $1", [Int64(1)], planning: .perExecution)
            let before = connection.roundTrips
            try await connection.withTransaction {
                try connection.execute("INSERT INTO ahead VALUES (1, 'one')", planning: .perExecution)
                try connection.queryThenCommit("INSERT INTO ahead VALUES ($1, 'two')", [Int64(2)], planning: .perExecution,
                                               thenRead: (read, "notes"))
            }
            // BEGIN, the first insert, then the last insert, its COMMIT and the read together.
            #expect(connection.roundTrips - before == 3)
            #expect(connection.takeReadAhead("another key") == nil, "kept under its own key only")
            let notes = try #require(connection.takeReadAhead("notes")?.first).decode(String.self, at: 0)
            #expect(notes == "one,two", "the read ran after the COMMIT")
            #expect(connection.takeReadAhead("notes") == nil, "taken once")

            // Any statement in between makes it stale: it is not used.
            try await connection.withTransaction {
                _ = try connection.queryThenCommit("INSERT INTO ahead VALUES ($1, 'three')", [Int64(3)], thenRead: (read, "notes"))
            }
            try connection.execute("UPDATE ahead SET note = 'changed' WHERE id = 3")
            #expect(connection.takeReadAhead("notes") == nil, "a statement ran since the read")
        }
    }

    @Test func aFailingReadCostsTheTransactionNothingAndAFailingStatementKeepsNoRead() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE ahead (id bigint PRIMARY KEY)")
            let failingRead = PipelinedStatement("SELECT 1 / (count(*) - count(*)) FROM ahead", planning: .perExecution)
            try await connection.withTransaction {
                _ = try connection.queryThenCommit("INSERT INTO ahead VALUES ($1)", [Int64(1)], thenRead: (failingRead, "broken"))
            }
            #expect(connection.takeReadAhead("broken") == nil)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM ahead") == 1, "committed although the read after it failed")

            let read = PipelinedStatement("SELECT count(*) FROM ahead", planning: .perExecution)
            await #expect(throws: PostgresError.self) {
                try await connection.withTransaction {
                    try connection.execute("INSERT INTO ahead VALUES (2)")
                    try connection.queryThenCommit("INSERT INTO ahead VALUES ($1)", [Int64(1)], thenRead: (read, "count"))
                }
            }
            #expect(connection.takeReadAhead("count") == nil)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM ahead") == 1, "nothing of the failed transaction committed")
            #expect(connection.isHealthy)
        }
    }

    @Test func statementsSentTogetherReportEachOutcomeAndSkipWhatFollowsAFailure() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE ahead (id bigint PRIMARY KEY)")
            let before = connection.roundTrips
            let outcomes = try connection.pipeline([
                PipelinedStatement("INSERT INTO ahead VALUES ($1) RETURNING id", [Int64(1)], planning: .perExecution),
                PipelinedStatement("INSERT INTO ahead VALUES ($1)", [Int64(1)], planning: .perExecution),
                PipelinedStatement("SELECT count(*) FROM ahead", planning: .perExecution),
            ])
            #expect(connection.roundTrips - before == 1)
            #expect(try outcomes[0].get().first?.decode(Int64.self, at: 0) == 1)
            #expect(throws: PostgresError.self) { try outcomes[1].get() }
            #expect((try? outcomes[1].get()) == nil && outcomes[1].error?.isUniqueViolation == true)
            #expect(outcomes[2].error == .skippedInPipeline)
            // Outside a transaction the statements up to the sync were one implicit transaction: the failure rolled back the first.
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM ahead") == 0)
            #expect(connection.isHealthy)
        }
    }
}

extension Result {
    fileprivate var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
