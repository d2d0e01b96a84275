import CLibPQ
import Foundation

/// One libpq connection: parameterised statements, typed rows, transactions, COPY IN and advisory locks.
///
/// The `Postgres` module is the only code in BankSync that calls libpq. Nothing here builds SQL from
/// values: every value travels as a parameter. A connection runs one statement at a time; use it from one
/// task at a time (a pool hands connections out).
public final class PostgresConnection: @unchecked Sendable {
    let handle: OpaquePointer
    private var isClosed = false
    /// Statements this session has prepared, by text and parameter types (see `query`).
    private var prepared: [PreparedKey: String] = [:]
    /// Names are never reused: one dropped from the cache may still exist on the server (a DEALLOCATE refused
    /// inside a failed transaction).
    private var preparedNamesUsed = 0
    /// Set by `queryThenCommit`: the transaction `withTransaction` opened is committed already.
    var committedByLastStatement = false
    /// See `takeReadAhead`.
    var readAhead: ReadAhead?
    /// See `sendWithNextStatement`.
    var deferredWrites: [DeferredWrite] = []

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        if !isClosed { PQfinish(handle) }
    }

    /// Opens a connection from a libpq conninfo string (`host=… dbname=…`) or a `postgres://` URI.
    /// Sessions run in UTC with ISO dates, so timestamps and dates decode the same everywhere.
    public static func connect(_ connectionString: String, applicationName: String = "banksync") throws -> PostgresConnection {
        let settings = try ConnectionString.parse(connectionString)
        // TCP keepalives: a server that vanished (a failover, a dropped network path) is noticed in about a
        // minute instead of hanging a worker. Values given in the connection string win; Unix sockets ignore them.
        let keepalives = !connectionString.contains("keepalives")
        let keywords = ["dbname", "application_name", "client_encoding", "connect_timeout",
                        "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"]
        let values = [connectionString, applicationName, "UTF8", settings.hasConnectTimeout ? nil : "10",
                      keepalives ? "1" : nil, keepalives ? "30" : nil, keepalives ? "10" : nil, keepalives ? "3" : nil]
        let handle = withCStrings(keywords) { keywordPointers in
            withOptionalCStrings(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let handle else { throw PostgresError.connect(.other, message: "out of memory") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = settings.redact(lastErrorMessage(handle))
            PQfinish(handle)
            throw PostgresError.connect(ConnectionString.classify(message), message: message)
        }
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        let connection = PostgresConnection(handle: handle)
        // The session settings every decoder relies on, in one round trip. Prepared statements may settle on a
        // generic plan (`plan_cache_mode = auto`, PostgreSQL's default, said here so a server default cannot change
        // it); statements whose plan depends on their values are sent with `planning: .perExecution`.
        try connection.executeScript("""
            SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; SET plan_cache_mode = auto
            """)
        return connection
    }

    public func close() {
        guard !isClosed else { return }
        if isHealthy {
            flushDeferredWrites()
        } else {
            // Lost with the session: their callers learn it.
            for write in takeDeferredWrites() { write.ifItFails(.connectionLost(message: "closed before it was sent")) }
        }
        isClosed = true
        PQfinish(handle)
    }

    /// Whether the underlying socket is still usable (false after a server restart or network drop).
    /// A connection left in pipeline mode (a pipeline whose sending failed midway) is not: statements are refused.
    public var isHealthy: Bool { !isClosed && PQstatus(handle) == CONNECTION_OK && PQpipelineStatus(handle) == PQ_PIPELINE_OFF }

    /// Round trips this session has made (statements, scripts, prepares, pipelines, COPYs' ends).
    public private(set) var roundTrips = 0

    /// Counts a round trip for this session and for the process (`PostgresStatistics`).
    func noteRoundTrip(_ count: Int = 1) {
        roundTrips += count
        PostgresStatistics.noteRoundTrip(count)
    }

    /// Forgets this session's prepared statement for `sql` (its result columns changed under it): the next use
    /// prepares it again under a new name.
    func forgetPrepared(_ sql: String, types: [Oid]) {
        prepared[PreparedKey(sql: sql, types: types)] = nil
    }

    /// Server process id of this session (useful to cancel or terminate it from another session).
    public var backendPID: Int32 { PQbackendPID(handle) }

    // MARK: statements

    /// How a statement is planned.
    public enum Planning: Sendable {
        /// Prepared once per session and then only executed. PostgreSQL plans the first five executions for their
        /// parameters, then keeps one generic plan if it is estimated no dearer: planning each execution was the
        /// larger half of the server's work in a fleet's daily run.
        case cached
        /// Sent unprepared and planned for its parameters every time: for statements whose best plan depends on the
        /// values (optional filters, ranges over skewed data), where a generic plan's estimate can be far off — a
        /// generic plan turned the edit recognition's window read into a scan of the account.
        case perExecution
    }

    /// Runs one statement with parameters `$1…$n` and returns its rows.
    ///
    /// Data statements (SELECT, INSERT, UPDATE, DELETE, WITH) are prepared once per session (see `Planning`).
    /// PostgreSQL re-analyses a prepared statement when the tables under it change; one whose result columns a
    /// migration changed is prepared again.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = [], planning: Planning = .cached) throws -> QueryResult {
        if !deferredWrites.isEmpty {   // they ride in this statement's round trip
            let outcome = try pipeline([PipelinedStatement(sql, parameters, planning: planning)])[0]
            if case .failure(let error) = outcome, planning == .cached, error.sqlState == SQLState.featureNotSupported,
               PQtransactionStatus(handle) == PQTRANS_IDLE {
                // "cached plan must not change result type": `pipeline` forgot the statement; prepared anew, as below.
                return try query(sql, parameters, planning: planning)
            }
            return try outcome.get()
        }
        noteRoundTrip()
        return try withParameters(parameters) { count, types, values, lengths, formats in
            guard planning == .cached, let name = try preparedName(sql, types: types) else {
                return try check(PQexecParams(handle, sql, count, types, values, lengths, formats, 0), sql: sql)
            }
            do {
                return try check(PQexecPrepared(handle, name, count, values, lengths, formats, 0), sql: sql)
            } catch let error as PostgresError where error.sqlState == SQLState.featureNotSupported {
                // "cached plan must not change result type": a migration changed the columns under it.
                prepared[PreparedKey(sql: sql, types: types)] = nil
                PQclear(PQexec(handle, "DEALLOCATE \(name)"))
                guard PQtransactionStatus(handle) == PQTRANS_IDLE else { throw error }
                return try check(PQexecParams(handle, sql, count, types, values, lengths, formats, 0), sql: sql)
            }
        }
    }

    /// The session's name for `sql` with these parameter types, preparing it first if needed; nil for statements
    /// not worth preparing (transaction control, settings) or once the session holds `maxPreparedStatements`.
    func preparedName(_ sql: String, types: [Oid]) throws -> String? {
        let key = PreparedKey(sql: sql, types: types)
        if let name = prepared[key] { return name }
        guard Self.preparationEnabled, preparedNamesUsed < Self.maxPreparedStatements, Self.isDataStatement(sql) else { return nil }
        preparedNamesUsed += 1
        let name = "banksync_\(preparedNamesUsed)"
        noteRoundTrip()
        try check(PQprepare(handle, name, sql, Int32(types.count), types), sql: sql)
        prepared[key] = name
        return name
    }

    static let maxPreparedStatements = 512

    /// `BANKSYNC_PREPARED_STATEMENTS=off` sends every statement unprepared (for a connection pooler in
    /// transaction mode, which cannot keep a session's prepared statements).
    static let preparationEnabled = ProcessInfo.processInfo.environment["BANKSYNC_PREPARED_STATEMENTS"] != "off"

    static func isDataStatement(_ sql: String) -> Bool {
        let word = sql.utf8.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }.prefix(6)
        let upper = String(decoding: word.map { $0 & 0xDF }, as: UTF8.self)
        return upper.hasPrefix("SELECT") || upper.hasPrefix("INSERT") || upper.hasPrefix("UPDATE") || upper.hasPrefix("DELETE")
            || upper.hasPrefix("WITH")
    }

    /// Runs one statement and returns how many rows it touched.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [any PostgresEncodable] = [], planning: Planning = .cached) throws -> Int {
        try query(sql, parameters, planning: planning).affectedRows
    }

    /// Runs a statement expected to return exactly one row and decodes its first column.
    public func queryValue<T: PostgresDecodable>(_ type: T.Type = T.self, _ sql: String, _ parameters: [any PostgresEncodable] = [],
                                                 planning: Planning = .cached) throws -> T {
        guard let row = try query(sql, parameters, planning: planning).first else { throw PostgresError.noRows(statement: sql) }
        return try row.decode(T.self, at: 0)
    }

    /// Runs a trusted multi-statement script (a migration file) with the simple query protocol.
    /// Never pass text containing outside values here: it takes no parameters by design.
    public func executeScript(_ script: String) throws {
        flushDeferredWrites()
        noteRoundTrip()
        try check(PQexec(handle, script), sql: "script")
    }

    // MARK: transactions

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws. `begin` may add
    /// trusted statements to the BEGIN's round trip (no outside values: it is sent as a script).
    public func withTransaction<T>(
        begin: String = "BEGIN",
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws -> T {
        committedByLastStatement = false
        if begin == "BEGIN" {
            try execute("BEGIN")
        } else {
            do { try executeScript(begin) } catch { rollbackQuietly(); throw error }
        }
        let value: T
        do {
            value = try await body()
        } catch {
            rollbackQuietly()
            throw error
        }
        // A transaction that failed inside `body` (an error swallowed there) makes COMMIT roll back
        // silently; `check` turns that into an error instead of reporting success.
        try commitUnlessCommitted()
        return value
    }

    /// Runs `body` in a transaction opened by a trusted script (no outside values: it is sent as one simple query
    /// with the BEGIN) whose last statement's rows `body` receives: the transaction's first read costs no round
    /// trip of its own. Commits when `body` returns, rolls back when it throws.
    public func withTransaction<T>(
        beginningWith script: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (QueryResult) async throws -> T
    ) async throws -> T {
        let first: QueryResult
        committedByLastStatement = false
        do {
            flushDeferredWrites()
            noteRoundTrip()
            first = try check(PQexec(handle, script), sql: script)
        } catch {
            rollbackQuietly()
            throw error
        }
        let value: T
        do {
            value = try await body(first)
        } catch {
            rollbackQuietly()
            throw error
        }
        try commitUnlessCommitted()
        return value
    }

    /// The COMMIT of `withTransaction`, unless the body's last statement carried it (`queryThenCommit`).
    func commitUnlessCommitted() throws {
        if committedByLastStatement {
            committedByLastStatement = false
            return
        }
        try execute("COMMIT")
    }

    func rollbackQuietly() {
        guard isHealthy else { return }
        noteRoundTrip()
        PQclear(PQexec(handle, "ROLLBACK"))
    }

    // MARK: advisory locks

    /// Holds a session-level advisory lock on `key` while `body` runs, waiting for it if needed.
    public func withAdvisoryLock<T>(
        _ key: Int64,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws -> T {
        try execute("SELECT pg_advisory_lock($1)", [key])
        defer { _ = try? execute("SELECT pg_advisory_unlock($1)", [key]) }
        return try await body()
    }

    /// Takes a session-level advisory lock if it is free; returns whether it was taken.
    public func tryAdvisoryLock(_ key: Int64) throws -> Bool {
        try queryValue(Bool.self, "SELECT pg_try_advisory_lock($1)", [key])
    }

    public func advisoryUnlock(_ key: Int64) throws {
        try execute("SELECT pg_advisory_unlock($1)", [key])
    }

    // MARK: results and errors

    @discardableResult
    func check(_ result: OpaquePointer?, sql: String) throws -> QueryResult {
        guard let result else { throw lostOrServerError(nil) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            if sql == "COMMIT" {
                let status = String(cString: PQcmdStatus(result))
                if status == "ROLLBACK" {
                    PQclear(result)
                    throw PostgresError.server(ServerError(
                        sqlState: "25P02", severity: "ERROR",
                        message: "the transaction was aborted by an earlier error and has been rolled back"))
                }
            }
            return QueryResult(result)
        default:
            let error = lostOrServerError(result)
            PQclear(result)
            throw error
        }
    }

    func lostOrServerError(_ result: OpaquePointer?) -> PostgresError {
        if let result, let state = field(result, "C") {
            return .server(ServerError(
                sqlState: state,
                severity: field(result, "V") ?? field(result, "S") ?? "ERROR",
                message: field(result, "M") ?? "unknown error",
                detail: field(result, "D"),
                hint: field(result, "H"),
                position: field(result, "P").flatMap { Int($0) },
                constraint: field(result, "n"),
                table: field(result, "t")))
        }
        return .connectionLost(message: Self.lastErrorMessage(handle))
    }

    private func field(_ result: OpaquePointer, _ code: Character) -> String? {
        guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
        return String(cString: value)
    }

    static func lastErrorMessage(_ handle: OpaquePointer) -> String {
        guard let message = PQerrorMessage(handle) else { return "unknown error" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

// MARK: C string plumbing

private func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    withOptionalCStrings(strings, body)
}

private func withOptionalCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers = strings.map { $0.map { UnsafePointer(strdup($0)!) } } + [nil]
    defer { pointers.forEach { free(UnsafeMutableRawPointer(mutating: $0)) } }
    return body(pointers)
}

/// A prepared statement is kept per text and parameter types (a NULL parameter leaves its type to the server).
private struct PreparedKey: Hashable {
    let sql: String
    let types: [Oid]
}

/// One statement's parameters as libpq takes them (valid inside `withParameterLists`' body only).
struct EncodedParameters {
    let count: Int32
    let types: [Oid]
    let values: [UnsafePointer<CChar>?]
    let lengths: [Int32]
    let formats: [Int32]
}

/// `withParameters` for several statements at once.
func withParameterLists<R>(_ lists: ArraySlice<[any PostgresEncodable]>, encoded: [EncodedParameters] = [],
                           _ body: ([EncodedParameters]) throws -> R) throws -> R {
    guard let first = lists.first else { return try body(encoded) }
    return try withParameters(first) { count, types, values, lengths, formats in
        try withParameterLists(lists.dropFirst(), encoded: encoded + [EncodedParameters(count: count, types: types, values: values,
                                                                                        lengths: lengths, formats: formats)], body)
    }
}

func withParameters<R>(
    _ parameters: [any PostgresEncodable],
    _ body: (Int32, [Oid], [UnsafePointer<CChar>?], [Int32], [Int32]) throws -> R
) throws -> R {
    var types = [Oid]()
    var values = [UnsafePointer<CChar>?]()
    var lengths = [Int32]()
    var formats = [Int32]()
    var owned = [UnsafeMutableRawPointer]()
    defer { owned.forEach { free($0) } }
    for parameter in parameters {
        switch parameter.postgresParameter {
        case .null:
            types.append(0); values.append(nil); lengths.append(0); formats.append(0)
        case .text(let text):
            let copy = strdup(text)!
            owned.append(UnsafeMutableRawPointer(copy))
            types.append(0); values.append(UnsafePointer(copy)); lengths.append(0); formats.append(0)
        case .binary(let bytes, let type):
            let buffer = malloc(max(bytes.count, 1))!
            bytes.withUnsafeBytes { source in
                if let base = source.baseAddress { buffer.copyMemory(from: base, byteCount: bytes.count) }
            }
            owned.append(buffer)
            types.append(type.rawValue)
            values.append(UnsafePointer(buffer.assumingMemoryBound(to: CChar.self)))
            lengths.append(Int32(bytes.count)); formats.append(1)
        }
    }
    return try body(Int32(parameters.count), types, values, lengths, formats)
}
