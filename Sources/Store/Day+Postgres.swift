import BankSyncCore
import Postgres

extension Day: PostgresEncodable, PostgresDecodable {
    public var postgresParameter: PostgresParameter { .text(description) }

    public static func decode(_ cell: PostgresCell) throws -> Day {
        let date = try PostgresDate.decode(cell)
        guard let day = Day(year: date.year, month: date.month, day: date.day) else {
            throw PostgresError.decoding(column: cell.column, expected: "Day", found: date.description)
        }
        return day
    }

    var postgresDate: PostgresDate {
        let (year, month, day) = civil
        return PostgresDate(year: year, month: month, day: day)
    }
}
