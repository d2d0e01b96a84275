import CLibPQ

extension PostgresConnection {
    /// Runs the last statement of a transaction and its COMMIT in one round trip, and returns the statement's rows
    /// once the COMMIT succeeded. The transaction must be open (`withTransaction`, which then sends no COMMIT of its
    /// own). A statement that fails leaves the transaction aborted (the server skips the pipelined COMMIT) and
    /// throws: `withTransaction` rolls back. A COMMIT that fails (a deferred constraint, a serialization failure)
    /// throws the same way, its transaction already ended. Either way nothing is reported committed that was not.
    ///
    /// `thenRead`: a read sent after the COMMIT in the same round trip. Once the COMMIT succeeded, its rows are kept
    /// under `key` for `takeReadAhead(key)` until the next statement on this session (whatever it is: a statement in
    /// between may have changed what the read saw). A failing read is not an error of the transaction: nothing is
    /// kept, and the caller's own read runs it again.
    @discardableResult
    public func queryThenCommit(_ sql: String, _ parameters: [any PostgresEncodable] = [], planning: Planning = .cached,
                                thenRead read: (statement: PipelinedStatement, key: String)? = nil) throws -> QueryResult {
        guard PQtransactionStatus(handle) == PQTRANS_INTRANS else {
            throw PostgresError.server(ServerError(sqlState: "25000", severity: "ERROR",
                                                   message: "queryThenCommit outside an open transaction (the statement was not run)"))
        }
        let outcomes = try pipeline([PipelinedStatement(sql, parameters, planning: planning), PipelinedStatement("COMMIT", planning: .perExecution)]
                                    + (read.map { [$0.statement] } ?? []))
        let rows = try outcomes[0].get()
        _ = try outcomes[1].get()
        committedByLastStatement = true
        if let read, case .success(let readRows) = outcomes[2] { readAhead = ReadAhead(key: read.key, rows: readRows, roundTrips: roundTrips) }
        return rows
    }

    /// Opens a transaction with `begin` (trusted statements without parameters: BEGIN, a transaction-scoped lock)
    /// and runs its first statement, in one round trip; `body` gets that statement's rows. Commits when `body`
    /// returns, rolls back when it (or the first statement) throws.
    public func withTransaction<T>(
        begin: [String] = ["BEGIN"],
        first sql: String,
        _ parameters: [any PostgresEncodable] = [],
        planning: Planning = .cached,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (QueryResult) async throws -> T
    ) async throws -> T {
        try await withTransaction(begin: begin, first: [PipelinedStatement(sql, parameters, planning: planning)]) { try await body($0[0]) }
    }

    /// The rows a `queryThenCommit(…, thenRead:)` kept under `key`, when no statement ran on this session since;
    /// nil otherwise. Taken once.
    public func takeReadAhead(_ key: String) -> QueryResult? {
        guard let kept = readAhead, kept.key == key else { return nil }
        readAhead = nil
        return kept.roundTrips == roundTrips ? kept.rows : nil
    }

    /// Opens a transaction with `begin` (trusted statements without parameters) and runs `statements` after it, all
    /// in one round trip; `body` gets their rows, in order. Commits when `body` returns, rolls back when it (or any of
    /// the statements) throws. `before`: statements of their own (outside the transaction, a sync after them) sent first
    /// in the same round trip; their rows come first. Any of them failing throws too (the transaction rolled back).
    public func withTransaction<T>(
        before leading: [PipelinedStatement] = [],
        begin: [String] = ["BEGIN"],
        first statements: [PipelinedStatement],
        isolation: isolated (any Actor)? = #isolation,
        _ body: ([QueryResult]) async throws -> T
    ) async throws -> T {
        committedByLastStatement = false
        let results: [QueryResult]
        do {
            let rows = try pipelinedRows(leading + begin.map { PipelinedStatement($0, planning: .perExecution) } + statements,
                                         syncAfter: leading.isEmpty ? [] : [leading.count - 1])
            results = Array(rows.prefix(leading.count)) + Array(rows.dropFirst(leading.count + begin.count))
        } catch {
            rollbackQuietly()
            throw error
        }
        let value: T
        do {
            value = try await body(results)
        } catch {
            rollbackQuietly()
            throw error
        }
        try commitUnlessCommitted()
        return value
    }

    /// Every statement's rows, or the first failure in order.
    func pipelinedRows(_ statements: [PipelinedStatement], syncAfter: Set<Int> = []) throws -> [QueryResult] {
        try pipeline(statements, syncAfter: syncAfter).map { try $0.get() }
    }

    /// Sends `statements` and one sync in one round trip (libpq's pipeline mode) and returns each statement's outcome,
    /// in order: its rows or its error. After a statement fails the server skips the rest up to the sync: they fail
    /// with `PostgresError.skippedInPipeline`. Inside an open transaction a failure leaves it aborted; outside one the
    /// statements up to the sync are one implicit transaction (a failure rolls back those before it too), unless a
    /// statement is a COMMIT or BEGIN. Throws only when the session failed (the connection broke, a send was refused).
    /// `syncAfter`: statements (by index) followed by a sync of their own, so a failure before it skips nothing after it
    /// and, outside a transaction, the statements after it are an implicit transaction of their own.
    /// Writes deferred with `sendWithNextStatement` go first, each with a sync of its own; their outcomes go to them.
    public func pipeline(_ statements: [PipelinedStatement], syncAfter: Set<Int> = []) throws -> [Result<QueryResult, PostgresError>] {
        var carried = takeDeferredWrites()
        // A deferred write that cannot even be prepared is reported and left out, never failing what it rides with.
        carried.removeAll { write in
            guard write.statement.planning == .cached else { return false }
            do {
                _ = try preparedName(write.statement.sql, types: try withParameters(write.statement.parameters) { _, types, _, _, _ in types })
                return false
            } catch {
                write.ifItFails(error as? PostgresError ?? .connectionLost(message: "\(error)"))
                return true
            }
        }
        guard !carried.isEmpty else { return try pipelineNow(statements, syncAfter: syncAfter) }
        // The riders are prepared first: one that cannot be (a column a migration has not added yet) must not take the
        // deferred writes down with it — they go alone, then its error is thrown.
        do {
            for statement in statements where statement.planning == .cached {
                _ = try preparedName(statement.sql, types: try withParameters(statement.parameters) { _, types, _, _, _ in types })
            }
        } catch {
            deferredWrites = carried + deferredWrites
            flushDeferredWrites()
            throw error
        }
        let outcomes: [Result<QueryResult, PostgresError>]
        do {
            outcomes = try pipelineNow(carried.map(\.statement) + statements,
                                       syncAfter: Set(0..<carried.count).union(syncAfter.map { $0 + carried.count }))
        } catch {
            for write in carried { write.ifItFails(error as? PostgresError ?? .connectionLost(message: "\(error)")) }
            throw error
        }
        report(carried, outcomes.prefix(carried.count))
        return Array(outcomes.dropFirst(carried.count))
    }

    private func pipelineNow(_ statements: [PipelinedStatement], syncAfter: Set<Int>) throws -> [Result<QueryResult, PostgresError>] {
        guard !statements.isEmpty else { return [] }
        return try withParameterLists(statements.map(\.parameters)[...]) { encoded in
            var names: [String?] = []
            for (statement, parameters) in zip(statements, encoded) {
                names.append(statement.planning == .cached ? try preparedName(statement.sql, types: parameters.types) : nil)
            }
            noteRoundTrip()
            guard PQenterPipelineMode(handle) == 1 else { throw lostOrServerError(nil) }
            var sent = true
            var syncs = 0
            for (index, ((statement, parameters), name)) in zip(zip(statements, encoded), names).enumerated() where sent {
                sent = (name.map { PQsendQueryPrepared(handle, $0, parameters.count, parameters.values, parameters.lengths, parameters.formats, 0) }
                            ?? PQsendQueryParams(handle, statement.sql, parameters.count, parameters.types, parameters.values,
                                                 parameters.lengths, parameters.formats, 0)) == 1
                if sent, syncAfter.contains(index), index < statements.count - 1 {
                    sent = PQpipelineSync(handle) == 1
                    if sent { syncs += 1 }
                }
            }
            // Whatever was queued ends at a sync and is read back, so the pipeline can be left (a send that failed
            // midway still syncs what went before it).
            let synced = PQpipelineSync(handle) == 1
            var results: [OpaquePointer?] = []
            if synced {
                for _ in 0...syncs { results += pipelineResults() }
            }
            if PQexitPipelineMode(handle) != 1 {
                // Still in pipeline mode (results pending that never came): every later statement would be refused.
                // `isHealthy` now says false, so the session is given up and a new one opened.
                for result in results { PQclear(result) }
                throw lostOrServerError(nil)
            }
            guard sent, synced, results.count == statements.count else {
                for result in results { PQclear(result) }
                throw lostOrServerError(nil)
            }
            var outcomes: [Result<QueryResult, PostgresError>] = []
            for (index, result) in results.enumerated() {
                if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    outcomes.append(.failure(.skippedInPipeline))
                    continue
                }
                do {
                    outcomes.append(.success(try check(result, sql: statements[index].sql)))
                } catch let error as PostgresError {
                    // "cached plan must not change result type" (a migration changed its columns): prepared anew next time.
                    if names[index] != nil, error.sqlState == SQLState.featureNotSupported {
                        forgetPrepared(statements[index].sql, types: encoded[index].types)
                    }
                    outcomes.append(.failure(error))
                }
            }
            return outcomes
        }
    }

    /// The results of a pipeline's queries (the first result of each; NULL ends a query's results), up to and
    /// including its sync point, which is not returned. Short when the connection was lost on the way.
    private func pipelineResults() -> [OpaquePointer?] {
        var results: [OpaquePointer?] = []
        var current: OpaquePointer??
        var nullsInARow = 0
        while true {
            guard let result = PQgetResult(handle) else {
                // The end of one query's results; two in a row: nothing more is coming (the connection broke).
                nullsInARow += 1
                if let finished = current { results.append(finished); current = nil; continue }
                if nullsInARow > 1 || PQstatus(handle) != CONNECTION_OK { return results }
                continue
            }
            nullsInARow = 0
            if PQresultStatus(result) == PGRES_PIPELINE_SYNC {
                PQclear(result)
                if let finished = current { results.append(finished) }
                return results
            }
            if current == nil { current = .some(result) } else { PQclear(result) }
        }
    }
}

/// One statement of a pipeline (`PostgresConnection.pipeline`).
public struct PipelinedStatement {
    public var sql: String
    public var parameters: [any PostgresEncodable]
    public var planning: PostgresConnection.Planning

    public init(_ sql: String, _ parameters: [any PostgresEncodable] = [], planning: PostgresConnection.Planning = .cached) {
        self.sql = sql
        self.parameters = parameters
        self.planning = planning
    }
}

/// A read sent ahead with an earlier round trip (`queryThenCommit(…, thenRead:)`).
struct ReadAhead {
    let key: String
    let rows: QueryResult
    /// The session's round-trip count just after it: any later statement makes it stale.
    let roundTrips: Int
}
