/// A calendar date without a time or zone, as PostgreSQL's `date` holds it.
public struct PostgresDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD` (the ISO form the server sends with `DateStyle = ISO`; years past 9999 have more
    /// digits). Byte by byte: every date cell of a feed page comes through here.
    public init?(iso text: Substring) {
        var fields = (0, 0, 0)
        var digits = (0, 0, 0)
        var field = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "-") {
                field += 1
                guard field < 3 else { return nil }
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let digit = Int(byte - UInt8(ascii: "0"))
            switch field {
            case 0: fields.0 = fields.0 * 10 + digit; digits.0 += 1
            case 1: fields.1 = fields.1 * 10 + digit; digits.1 += 1
            default: fields.2 = fields.2 * 10 + digit; digits.2 += 1
            }
            guard digits.0 <= 9 else { return nil }
        }
        guard field == 2, digits.0 >= 4, digits.1 == 2, digits.2 == 2, (1...12).contains(fields.1), (1...31).contains(fields.2) else { return nil }
        self.init(year: fields.0, month: fields.1, day: fields.2)
    }

    public var description: String {
        zeroPadded(year, 4) + "-" + zeroPadded(month, 2) + "-" + zeroPadded(day, 2)
    }

    public static func < (lhs: PostgresDate, rhs: PostgresDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}

@inline(__always)
func zeroPadded(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
