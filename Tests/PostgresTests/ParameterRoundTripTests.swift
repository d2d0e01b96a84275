import Foundation
import Postgres
import Testing
import TestSupport

@Suite struct ParameterRoundTripTests {
    @Test func textSurvivesUnicodeEmptyAndSpecialCharacters() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            for text in ["Záloha elektřina 11/2026 — ČEZ a.s.", "☕️🏦💶", "", "tab\there\nnew line \\ back\r", "'; DROP TABLE x; --"] {
                let echoed = try connection.queryValue(String.self, "SELECT $1::text", [text])
                #expect(echoed == text)
            }
        }
    }

    @Test func nullDecodesOnlyIntoOptionals() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let none: String? = nil
            let row = try #require(try connection.query("SELECT $1::text AS missing", [none]).first)
            #expect(try row.decode(String?.self, "missing") == nil)
            #expect(throws: PostgresError.unexpectedNull(column: "missing")) {
                try row.decode(String.self, "missing")
            }
        }
    }

    @Test func byteaKeepsZeroBytesAndEveryValue() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let bytes: [UInt8] = [0, 1, 0, 255, 0x5c, 0x78, 0] + (0...255).map(UInt8.init)
            #expect(try connection.queryValue([UInt8].self, "SELECT $1::bytea", [bytes]) == bytes)
            #expect(try connection.queryValue(Int.self, "SELECT length($1::bytea)", [bytes]) == bytes.count)
            #expect(try connection.queryValue([UInt8].self, "SELECT ''::bytea") == [])
        }
    }

    @Test func integersAtTheirExtremes() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            for value in [Int64.min, Int64.max, 0, -1] {
                #expect(try connection.queryValue(Int64.self, "SELECT $1::bigint", [value]) == value)
            }
            #expect(try connection.queryValue(Int32.self, "SELECT $1::integer", [Int32.min]) == Int32.min)
            #expect(try connection.queryValue(Int16.self, "SELECT $1::smallint", [Int16.max]) == Int16.max)
            #expect(throws: PostgresError.self) {
                try connection.queryValue(Int16.self, "SELECT $1::bigint", [Int64(70_000)])
            }
        }
    }

    @Test func datesAcrossYearsAndLeapDays() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let dates = [
                PostgresDate(year: 1999, month: 12, day: 31), PostgresDate(year: 2000, month: 2, day: 29),
                PostgresDate(year: 2024, month: 12, day: 31), PostgresDate(year: 2025, month: 1, day: 1),
                PostgresDate(year: 2026, month: 11, day: 25),
            ]
            for date in dates {
                #expect(try connection.queryValue(PostgresDate.self, "SELECT $1::date", [date]) == date)
            }
            #expect(try connection.queryValue(PostgresDate.self, "SELECT $1::date + 1", [dates[0]]) == PostgresDate(year: 2000, month: 1, day: 1))
        }
    }

    @Test func timestampsBoolsJSONAndUUIDs() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let instant = Date(timeIntervalSince1970: 1_764_045_136.123456)
            let echoed = try connection.queryValue(Date.self, "SELECT $1::timestamptz", [instant])
            #expect(abs(echoed.timeIntervalSince(instant)) < 0.000_001)
            let epoch = try connection.queryValue(Date.self, "SELECT '2026-11-25 04:32:16+01'::timestamptz")
            #expect(epoch == Date(timeIntervalSince1970: 1_795_577_536))
            #expect(try connection.queryValue(Bool.self, "SELECT $1::boolean", [true]) == true)
            #expect(try connection.queryValue(Bool.self, "SELECT $1::boolean", [false]) == false)
            let json = JSONText(#"{"amount": "-1250.00", "name": "ČEZ"}"#)
            let stored = try connection.queryValue(JSONText.self, "SELECT $1::jsonb", [json])
            #expect(stored.text.contains("ČEZ"))
            let id = UUID()
            #expect(try connection.queryValue(UUID.self, "SELECT $1::uuid", [id]) == id)
        }
    }

    @Test func decodingIntoTheWrongTypeIsAClearError() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let row = try #require(try connection.query("SELECT 'abc'::text AS name, 42 AS answer").first)
            #expect(throws: PostgresError.decoding(column: "name", expected: "Int64", found: "text")) {
                try row.decode(Int64.self, "name")
            }
            #expect(throws: PostgresError.decoding(column: "answer", expected: "String", found: "integer")) {
                try row.decode(String.self, "answer")
            }
            #expect(throws: PostgresError.noSuchColumn("nope")) { try row.decode(Int.self, "nope") }
        }
    }
}
