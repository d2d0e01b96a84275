import Postgres
import Testing
import TestSupport

/// Rows bound as one array per column (`ArrayRowsWriter`) land exactly as the same rows COPYed.
@Suite struct ArrayRowsWriterTests {
    static let awkwardTexts: [String?] = [
        nil, "", "NULL", "null", "plain", "tab\tnew\nline\rreturn", "back\\slash", "\"quoted\"", "{braces},commas, spaces ",
        "☕️ ünïcödé", "\\x00", "\\N", "a\"b\\c\"", " leading and trailing ",
    ]

    static func write(_ writer: some RowWriter, rows: Int) throws {
        for id in 0..<rows {
            writer.field(Int64(id))
            writer.field(awkwardTexts[id % awkwardTexts.count])
            writer.field(bytes: id % 5 == 0 ? nil : [UInt8(id & 0xff), 0, 0x5c, 0x22, 0xff] as [UInt8])
            writer.field(id % 6 == 0 ? nil : PostgresDate(year: 2024 + id % 3, month: 1 + id % 12, day: 1 + id % 28))
            writer.field(id % 4 == 0 ? nil : Int64(-id * 1_000_003))
            writer.field(id % 7 == 0 ? nil : #"{"text": "\"\\ \u00e9 \t", "n": \#(id), "list": [null, "{,}"]}"#)
            try writer.endRow()
        }
    }

    @Test func rowsBoundAsColumnArraysEqualTheSameRowsCopied() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            for table in ["copied", "inserted"] {
                try connection.execute("CREATE TABLE \(table) (id bigint PRIMARY KEY, note text, key bytea, day date, amount bigint, raw jsonb)")
            }
            try await connection.copyIn("COPY copied (id, note, key, day, amount, raw) FROM STDIN") { try Self.write($0, rows: 60) }
            let writer = ArrayRowsWriter()
            try Self.write(writer, rows: 60)
            #expect(writer.rowsWritten == 60)
            let inserted = try connection.execute("""
                INSERT INTO inserted SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::date[], $5::bigint[], $6::jsonb[])
                """, writer.parameters)
            #expect(inserted == 60)
            let differing = try connection.queryValue(Int.self, """
                SELECT count(*) FROM ((TABLE copied EXCEPT TABLE inserted) UNION ALL (TABLE inserted EXCEPT TABLE copied)) d
                """)
            #expect(differing == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM inserted WHERE note IS NULL") == 5)
            #expect(try connection.queryValue(String.self, "SELECT note FROM inserted WHERE id = 2") == "NULL")
            #expect(try connection.queryValue([UInt8].self, "SELECT key FROM inserted WHERE id = 1") == [1, 0, 0x5c, 0x22, 0xff])
        }
    }

    @Test func aRowShorterThanTheFirstIsRefused() throws {
        let writer = ArrayRowsWriter()
        writer.field(Int64(1))
        writer.field("one")
        try writer.endRow()
        writer.field(Int64(2))
        #expect(throws: PostgresError.self) { try writer.endRow() }
    }
}
