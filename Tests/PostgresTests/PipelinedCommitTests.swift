import Foundation
import Postgres
import Testing
import TestSupport

/// A transaction's last statement may carry its COMMIT (`queryThenCommit`, libpq's pipeline mode): one round trip
/// (the session's own count), and nothing is reported committed that was not — a failing statement or a failing COMMIT throws, commits
/// nothing and leaves the session usable.
@Suite struct PipelinedCommitTests {
    @Test func theLastStatementAndItsCommitAreOneRoundTripAndCommitTogether() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let other = try database.connect()
            defer { other.close() }
            try connection.execute("CREATE TABLE pipelined (id bigint PRIMARY KEY, note text)")
            for planning in [PostgresConnection.Planning.cached, .perExecution, .cached] {
                let before = connection.roundTrips
                let id: Int64 = try await connection.withTransaction {
                    try connection.execute("INSERT INTO pipelined VALUES ((SELECT count(*) + 1 FROM pipelined), 'first')")
                    return try #require(try connection.queryThenCommit("INSERT INTO pipelined SELECT max(id) + 1, $1 FROM pipelined RETURNING id",
                                                                       ["second"], planning: planning).first).decode(Int64.self, at: 0)
                }
                // BEGIN, the first insert, the last with its COMMIT — no COMMIT of its own (a first cached run also
                // prepares the two inserts).
                let roundTrips = connection.roundTrips - before
                #expect(planning == .perExecution ? roundTrips == 3 : (3...5).contains(roundTrips), "\(roundTrips) round trips")
                #expect(try other.queryValue(String.self, "SELECT note FROM pipelined WHERE id = $1", [id]) == "second", "committed")
                #expect(try connection.queryValue(String?.self, "SELECT $1::text || txid_current_if_assigned()::text", ["none:"]) == nil,
                        "no transaction left open")
            }
            #expect(try other.queryValue(Int.self, "SELECT count(*) FROM pipelined") == 6)
        }
    }

    @Test func aFailingStatementOrAFailingCommitCommitsNothingAndTheSessionGoesOn() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE pipelined (id bigint PRIMARY KEY)")
            try connection.execute("""
                CREATE TABLE pipelined_child (parent bigint REFERENCES pipelined (id) DEFERRABLE INITIALLY DEFERRED)
                """)
            // The statement fails: the pipelined COMMIT is skipped, the transaction rolled back.
            await #expect(throws: PostgresError.self) {
                try await connection.withTransaction {
                    try connection.execute("INSERT INTO pipelined VALUES (1)")
                    try connection.queryThenCommit("INSERT INTO pipelined VALUES ($1)", [Int64(1)])
                }
            }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM pipelined") == 0)
            // The statement succeeds, the COMMIT fails (a deferred foreign key): nothing committed.
            await #expect(throws: PostgresError.self) {
                try await connection.withTransaction {
                    try connection.execute("INSERT INTO pipelined VALUES (2)")
                    try connection.queryThenCommit("INSERT INTO pipelined_child VALUES ($1)", [Int64(99)])
                }
            }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM pipelined") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM pipelined_child") == 0)
            // Outside a transaction it refuses and runs nothing.
            #expect(throws: PostgresError.self) { try connection.queryThenCommit("INSERT INTO pipelined VALUES ($1)", [Int64(3)]) }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM pipelined") == 0)
            // And the session is as good as new.
            _ = try await connection.withTransaction { try connection.queryThenCommit("INSERT INTO pipelined VALUES ($1)", [Int64(4)]) }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM pipelined") == 1)
        }
    }

    /// BEGIN, a lock and the first statement in one round trip: the body runs inside that transaction, holding
    /// the lock; a first statement that fails rolls back and leaves the session usable.
    @Test func aTransactionOpensWithItsLockAndFirstStatementTogether() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let other = try database.connect()
            defer { other.close() }
            try connection.execute("CREATE TABLE pipelined (id bigint PRIMARY KEY)")
            try connection.execute("INSERT INTO pipelined VALUES (1)")
            let seen: Int = try await connection.withTransaction(begin: ["BEGIN", "SELECT pg_advisory_xact_lock(4242)"],
                                                                 first: "SELECT count(*)::integer FROM pipelined WHERE id >= $1", [Int64(1)]) { rows in
                #expect(try other.queryValue(Bool.self, "SELECT pg_try_advisory_lock($1)", [Int64(4242)]) == false, "the lock is held")
                try connection.execute("INSERT INTO pipelined VALUES (2)")
                return try #require(rows.first).decode(Int.self, at: 0)
            }
            #expect(seen == 1)
            #expect(try other.queryValue(Int.self, "SELECT count(*) FROM pipelined") == 2, "committed")
            #expect(try other.queryValue(Bool.self, "SELECT pg_try_advisory_lock($1)", [Int64(4242)]) == true, "released at commit")

            await #expect(throws: PostgresError.self) {
                try await connection.withTransaction(first: "SELECT 1 / $1::integer", [0]) { _ in
                    try connection.execute("INSERT INTO pipelined VALUES (3)")
                }
            }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM pipelined") == 2, "nothing of the failed transaction")
        }
    }
}
