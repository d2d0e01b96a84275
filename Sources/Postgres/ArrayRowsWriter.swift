/// Gathers rows as one array literal per column (text format, every element quoted), to bind as the parameters of
/// `INSERT INTO t (…) SELECT * FROM unnest($1::type[], $2::type[], …)`: a handful of rows in one round trip, where a
/// COPY takes two (its start, then its data and end) and keeps the server waiting between them.
public final class ArrayRowsWriter: RowWriter {
    private var columns: [String] = []
    private var column = 0
    public private(set) var rowsWritten = 0

    public init() {}

    public func null() { append(nil) }

    public func field(_ text: String?) { append(text.map(Self.quoted)) }

    public func field(_ value: Int64?) { append(value.map { "\"\($0)\"" }) }

    public func field(_ date: PostgresDate?) { append(date.map { "\"\($0.description)\"" }) }

    /// bytea in hex form (`\x…`), its backslash escaped for the array literal.
    public func field<Bytes: Collection<UInt8>>(bytes: Bytes?) {
        guard let bytes else { return append(nil) }
        var hex = "\"\\\\x"
        hex.reserveCapacity(5 + bytes.count * 2)
        for byte in bytes {
            hex.unicodeScalars.append(Self.hexDigits[Int(byte >> 4)])
            hex.unicodeScalars.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        append(hex + "\"")
    }

    /// Ends the row: every row must have as many fields as the first.
    public func endRow() throws {
        guard column == columns.count else {
            throw PostgresError.copy(message: "row \(rowsWritten + 1) has \(column) fields, the first had \(columns.count)")
        }
        column = 0
        rowsWritten += 1
    }

    /// One array literal per column, `$1`, `$2`, … of the insert.
    public var parameters: [String] { columns.map { "{" + $0 + "}" } }

    private func append(_ element: String?) {
        if rowsWritten == 0 { columns.append("") }
        guard column < columns.count else { column += 1; return }   // endRow reports the row's length
        if rowsWritten > 0 { columns[column] += "," }
        columns[column] += element ?? "NULL"
        column += 1
    }

    private static func quoted(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") }) else { return "\"" + text + "\"" }
        var escaped = "\""
        for character in text.unicodeScalars {
            if character == "\\" || character == "\"" { escaped.unicodeScalars.append("\\") }
            escaped.unicodeScalars.append(character)
        }
        return escaped + "\""
    }

    private static let hexDigits: [Unicode.Scalar] = Array("0123456789abcdef".unicodeScalars)
}
