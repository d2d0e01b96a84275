import Foundation
import Postgres
import Synchronization
import Testing
import TestSupport

/// A write sent with the session's next statement (`sendWithNextStatement`): no round trip of its own, the order of
/// statements kept (the next one sees it), its failure given to its caller and never to the statement it rode with,
/// sent on its own before a script or a COPY, at once inside a transaction, and by `close`.
@Suite struct DeferredWriteTests {
    @Test func aWriteRidesWithTheNextStatementWhichSeesIt() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let observer = try database.connect()
            defer { observer.close() }
            try connection.execute("CREATE TABLE deferred (id bigint PRIMARY KEY)")
            let failures = Failures()
            let before = connection.roundTrips
            connection.sendWithNextStatement(PipelinedStatement("INSERT INTO deferred VALUES ($1)", [Int64(1)]), ifItFails: failures.note)
            #expect(try observer.queryValue(Int.self, "SELECT count(*) FROM deferred") == 0, "not sent yet")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM deferred", planning: .perExecution) == 1, "the next statement sees it")
            #expect(connection.roundTrips - before <= 2, "one round trip, and the insert's prepare")
            #expect(try observer.queryValue(Int.self, "SELECT count(*) FROM deferred") == 1, "committed on its own")

            // Its failure goes to its caller; the statement it rode with succeeds.
            connection.sendWithNextStatement(PipelinedStatement("INSERT INTO deferred VALUES ($1)", [Int64(1)]), ifItFails: failures.note)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) + 0 FROM deferred", planning: .perExecution) == 1)
            #expect(failures.errors.count == 1 && failures.errors.first?.isUniqueViolation == true, "\(failures.errors)")

            // Before a script and before a COPY it is sent on its own, first.
            connection.sendWithNextStatement(PipelinedStatement("INSERT INTO deferred VALUES ($1)", [Int64(2)]), ifItFails: failures.note)
            try connection.executeScript("UPDATE deferred SET id = 20 WHERE id = 2")
            connection.sendWithNextStatement(PipelinedStatement("INSERT INTO deferred VALUES ($1)", [Int64(3)]), ifItFails: failures.note)
            _ = try await connection.copyIn("COPY deferred (id) FROM STDIN") { writer in
                writer.field(Int64(4))
                try writer.endRow()
            }
            #expect(try observer.queryValue(String.self, "SELECT string_agg(id::text, ',' ORDER BY id) FROM deferred") == "1,3,4,20")

            // Inside a transaction it is sent at once, in the transaction.
            let seenBeforeCommit: Int = try await connection.withTransaction {
                connection.sendWithNextStatement(PipelinedStatement("INSERT INTO deferred VALUES ($1)", [Int64(5)]), ifItFails: failures.note)
                return try observer.queryValue(Int.self, "SELECT count(*) FROM deferred WHERE id = 5")
            }
            #expect(seenBeforeCommit == 0, "sent in the transaction, not committed before it")
            #expect(try observer.queryValue(Int.self, "SELECT count(*) FROM deferred WHERE id = 5") == 1)

            // `close` sends what is left.
            connection.sendWithNextStatement(PipelinedStatement("INSERT INTO deferred VALUES ($1)", [Int64(6)]), ifItFails: failures.note)
            connection.close()
            #expect(try observer.queryValue(Int.self, "SELECT count(*) FROM deferred WHERE id = 6") == 1)
            #expect(failures.errors.count == 1)
        }
    }
}

/// The errors deferred writes reported.
private final class Failures: Sendable {
    private let list = Mutex<[PostgresError]>([])
    var errors: [PostgresError] { list.withLock { $0 } }
    func note(_ error: PostgresError) { list.withLock { $0.append(error) } }
}
