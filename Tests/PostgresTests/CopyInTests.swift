import Postgres
import Testing
import TestSupport

@Suite struct CopyInTests {
    @Test func twoHundredThousandRowsAllLand() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE t (id bigint PRIMARY KEY, note text, key bytea, day date, flag boolean)")
            let copied = try await connection.copyIn("COPY t (id, note, key, day, flag) FROM STDIN") { writer in
                for id in 0..<200_000 {
                    writer.field(Int64(id))
                    writer.field(id % 7 == 0 ? nil : "row \(id)\twith\ttabs\\and\nnewlines ☕️")
                    writer.field(bytes: [UInt8(id & 0xff), 0, UInt8((id >> 8) & 0xff)])
                    writer.field(PostgresDate(year: 2024 + id % 3, month: 1 + id % 12, day: 1 + id % 28))
                    writer.field(id % 2 == 0)
                    try writer.endRow()
                }
            }
            #expect(copied == 200_000)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM t") == 200_000)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM t WHERE note IS NULL") == 28_572)
            let row = try #require(try connection.query("SELECT note, key, day FROM t WHERE id = 199999").first)
            #expect(try row.decode(String.self, "note") == "row 199999\twith\ttabs\\and\nnewlines ☕️")
            #expect(try row.decode([UInt8].self, "key") == [0x3f, 0, 0x0d])
            #expect(try row.decode(PostgresDate.self, "day") == PostgresDate(year: 2025, month: 8, day: 24))
        }
    }

    @Test func oneMalformedRowFailsTheWholeCopyAndChangesNothing() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE t (id bigint PRIMARY KEY, day date NOT NULL)")
            try connection.execute("INSERT INTO t VALUES (1, '2026-01-01')")
            do {
                try await connection.copyIn("COPY t (id, day) FROM STDIN") { writer in
                    for id in 2..<50_000 {
                        writer.field(Int64(id))
                        writer.field(id == 40_000 ? "2026-02-30" : "2026-02-01")
                        try writer.endRow()
                    }
                }
                Issue.record("a malformed row was accepted")
            } catch let error as PostgresError {
                #expect(error.sqlState == "22008")
            }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM t") == 1)
            // The connection is usable afterwards.
            #expect(try connection.queryValue(Int.self, "SELECT 1") == 1)
        }
    }

    @Test func aThrowingWriterAbortsTheCopy() async throws {
        struct SourceFailed: Error {}
        try await TestDatabase.with { database in
            let connection = try database.connect()
            try connection.execute("CREATE TABLE t (id bigint)")
            await #expect(throws: SourceFailed.self) {
                try await connection.copyIn("COPY t (id) FROM STDIN") { writer in
                    for id in 0..<100_000 {
                        writer.field(Int64(id))
                        try writer.endRow()
                    }
                    throw SourceFailed()
                }
            }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM t") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT 1") == 1)
        }
    }
}
