import CLibPQ

/// The rows of one statement, decoded lazily from libpq's result (freed when this is released). Sendable: every stored
/// property is a constant and libpq never changes a result after returning it (its accessors only read).
public final class QueryResult: Sequence, @unchecked Sendable {
    private let result: OpaquePointer?
    public let rowCount: Int
    public let columnNames: [String]
    /// Rows inserted, updated, deleted or copied, as the command tag reports.
    public let affectedRows: Int
    private let columnTypes: [PostgresType]

    init(_ result: OpaquePointer?) {
        self.result = result
        rowCount = Int(PQntuples(result))
        let columns = Int(PQnfields(result))
        columnNames = (0..<columns).map { String(cString: PQfname(result, Int32($0))) }
        columnTypes = (0..<columns).map { PostgresType(rawValue: PQftype(result, Int32($0))) }
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    deinit { PQclear(result) }

    public func makeIterator() -> AnyIterator<Row> {
        var index = 0
        return AnyIterator {
            guard index < self.rowCount else { return nil }
            defer { index += 1 }
            return Row(result: self, index: index)
        }
    }

    public subscript(_ index: Int) -> Row { Row(result: self, index: index) }

    public var first: Row? { rowCount > 0 ? Row(result: self, index: 0) : nil }

    func columnIndex(_ name: String) throws -> Int {
        guard let index = columnNames.firstIndex(of: name) else { throw PostgresError.noSuchColumn(name) }
        return index
    }

    func decode<T: PostgresDecodable>(_ type: T.Type, row: Int, column: Int) throws -> T {
        guard column >= 0, column < columnNames.count else { throw PostgresError.noSuchColumn("#\(column)") }
        let name = columnNames[column]
        if PQgetisnull(result, Int32(row), Int32(column)) == 1 { return try T.decodeNull(column: name) }
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        let pointer = PQgetvalue(result, Int32(row), Int32(column))!
        let text = pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
        return try T.decode(PostgresCell(text: text, type: columnTypes[column], column: name))
    }
}

/// One row of a `QueryResult`; decode its columns by position or name.
public struct Row {
    let result: QueryResult
    let index: Int

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at column: Int) throws -> T {
        try result.decode(type, row: index, column: column)
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, _ column: String) throws -> T {
        try result.decode(type, row: index, column: result.columnIndex(column))
    }
}
