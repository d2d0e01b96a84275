/// Everything that can go wrong talking to PostgreSQL, with what a person needs to act on it.
public enum PostgresError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why a connection could not be opened.
    public enum ConnectFailure: String, Sendable {
        case invalidConnectionString = "invalid connection string"
        case unreachable = "server unreachable"
        case authentication = "authentication failed"
        case missingDatabase = "database does not exist"
        case other = "connection failed"
    }

    case connect(ConnectFailure, message: String)
    /// The server rejected a statement; carries its SQLSTATE and fields.
    case server(ServerError)
    /// The connection broke while a statement was running.
    case connectionLost(message: String)
    /// A column could not be decoded into the requested Swift type.
    case decoding(column: String, expected: String, found: String)
    /// A column was NULL where a non-optional value was requested.
    case unexpectedNull(column: String)
    /// A column name or index that the result does not have.
    case noSuchColumn(String)
    /// A COPY stream failed on the client side (write error, or aborted by the caller).
    case copy(message: String)
    /// A statement returned no rows where exactly one was expected.
    case noRows(statement: String)
    /// Not run: an earlier statement of its pipeline failed, and the server skipped the rest up to the sync.
    case skippedInPipeline

    public var sqlState: String? {
        if case .server(let error) = self { return error.sqlState }
        return nil
    }

    public var isUniqueViolation: Bool { sqlState == SQLState.uniqueViolation }

    /// The server could not be reached or went away (a restart, a failover, a terminated session): worth a
    /// new connection. Class 57 (operator intervention, e.g. admin_shutdown) and 08 (connection exception).
    public var isConnectionProblem: Bool {
        switch self {
        case .connect(let failure, _): failure == .unreachable || failure == .other
        case .connectionLost: true
        case .server: sqlState.map { $0.hasPrefix("57") || $0.hasPrefix("08") } ?? false
        default: false
        }
    }

    public var description: String {
        switch self {
        case .connect(let failure, let message): "\(failure.rawValue): \(message)"
        case .server(let error): error.description
        case .connectionLost(let message): "connection to the database was lost: \(message)"
        case .decoding(let column, let expected, let found):
            "column \(column): cannot decode \(found) as \(expected)"
        case .unexpectedNull(let column): "column \(column) is NULL but a value was required"
        case .noSuchColumn(let name): "the result has no column \(name)"
        case .copy(let message): "COPY failed: \(message)"
        case .noRows(let statement): "expected a row, got none: \(statement)"
        case .skippedInPipeline: "not run: an earlier statement of its pipeline failed"
        }
    }
}

/// An error reported by the server, with the fields of its ErrorResponse.
public struct ServerError: Sendable, Equatable, CustomStringConvertible {
    public var sqlState: String
    public var severity: String
    public var message: String
    public var detail: String?
    public var hint: String?
    /// 1-based character position in the statement text, for syntax errors.
    public var position: Int?
    public var constraint: String?
    public var table: String?

    public var description: String {
        var text = "\(severity) \(sqlState): \(message)"
        if let position { text += " (at character \(position))" }
        if let detail { text += " — \(detail)" }
        if let hint { text += " Hint: \(hint)" }
        return text
    }
}

/// SQLSTATE codes the project reacts to.
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let foreignKeyViolation = "23503"
    public static let checkViolation = "23514"
    public static let syntaxError = "42601"
    public static let undefinedTable = "42P01"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let lockNotAvailable = "55P03"
    public static let invalidTextRepresentation = "22P02"
    public static let badCopyFileFormat = "22P04"
    public static let queryCanceled = "57014"
    public static let adminShutdown = "57P01"
    public static let featureNotSupported = "0A000"
}
