import Postgres
import Testing
import TestSupport

@Suite struct ServerErrorTests {
    @Test func uniqueViolationCarriesSQLStateAndDetail() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
            try connection.execute("INSERT INTO t VALUES ($1)", [1])
            do {
                try connection.execute("INSERT INTO t VALUES ($1)", [1])
                Issue.record("a duplicate key was accepted")
            } catch let error as PostgresError {
                #expect(error.sqlState == SQLState.uniqueViolation)
                #expect(error.isUniqueViolation)
                guard case .server(let server) = error else { Issue.record("not a server error"); return }
                #expect(server.constraint == "t_pkey")
                #expect(server.detail?.contains("(id)=(1)") == true)
            }
        }
    }

    @Test func syntaxErrorNamesThePosition() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            do {
                try connection.execute("SELECT 1 FROMM nowhere")
                Issue.record("bad SQL was accepted")
            } catch let PostgresError.server(error) {
                #expect(error.sqlState == SQLState.syntaxError)
                #expect(error.position == 16) // "FROMM" reads as an alias; "nowhere" is the error
                #expect(error.description.contains("at character 16"))
            }
        }
    }

    @Test func transactionRollsBackOnAThrownSwiftError() async throws {
        struct Boom: Error {}
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE t (id integer)")
            await #expect(throws: Boom.self) {
                try await connection.withTransaction {
                    try connection.execute("INSERT INTO t VALUES (1), (2)")
                    throw Boom()
                }
            }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM t") == 0)
            _ = try await connection.withTransaction { try connection.execute("INSERT INTO t VALUES (3)") }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM t") == 1)
        }
    }

    @Test func aSwallowedServerErrorMakesCommitFail() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
            await #expect(throws: PostgresError.self) {
                try await connection.withTransaction {
                    try connection.execute("INSERT INTO t VALUES (1)")
                    _ = try? connection.execute("INSERT INTO t VALUES (1)")
                }
            }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM t") == 0)
        }
    }

    @Test func advisoryLocksExcludeOtherSessions() async throws {
        try await TestDatabase.with { database in
            let first = try database.connect()
            let second = try database.connect()
            #expect(try first.tryAdvisoryLock(42))
            #expect(try second.tryAdvisoryLock(42) == false)
            try first.advisoryUnlock(42)
            #expect(try second.tryAdvisoryLock(42))
        }
    }
}
