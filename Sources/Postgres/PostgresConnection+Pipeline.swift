import CLibPQ

extension PostgresConnection {
    /// Runs the last statement of a transaction and its COMMIT in one round trip, and returns the statement's rows
    /// once the COMMIT succeeded. The transaction must be open (`withTransaction`, which then sends no COMMIT of its
    /// own). A statement that fails leaves the transaction aborted (the server skips the pipelined COMMIT) and
    /// throws: `withTransaction` rolls back. A COMMIT that fails (a deferred constraint, a serialization failure)
    /// throws the same way, its transaction already ended. Either way nothing is reported committed that was not.
    @discardableResult
    public func queryThenCommit(_ sql: String, _ parameters: [any PostgresEncodable] = [], planning: Planning = .cached) throws -> QueryResult {
        guard PQtransactionStatus(handle) == PQTRANS_INTRANS else {
            throw PostgresError.server(ServerError(sqlState: "25000", severity: "ERROR",
                                                   message: "queryThenCommit outside an open transaction (the statement was not run)"))
        }
        let rows = try pipelined(after: [], sql, parameters, planning: planning, before: ["COMMIT"])
        committedByLastStatement = true
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
        committedByLastStatement = false
        let first: QueryResult
        do {
            first = try pipelined(after: begin, sql, parameters, planning: planning, before: [])
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

    /// Sends `leading` (statements without parameters), `sql` with its parameters, then `trailing`, and one sync —
    /// one round trip in libpq's pipeline mode — and returns `sql`'s rows. The first statement that failed is
    /// thrown (the server skips the rest of the pipeline); all results are read before.
    private func pipelined(after leading: [String], _ sql: String, _ parameters: [any PostgresEncodable], planning: Planning,
                           before trailing: [String]) throws -> QueryResult {
        try withParameters(parameters) { count, types, values, lengths, formats in
            let name = planning == .cached ? try preparedName(sql, types: types) : nil
            noteRoundTrip()
            guard PQenterPipelineMode(handle) == 1 else { throw lostOrServerError(nil) }
            var sent = leading.allSatisfy { PQsendQueryParams(handle, $0, 0, nil, nil, nil, nil, 0) == 1 }
            sent = sent && (name.map { PQsendQueryPrepared(handle, $0, count, values, lengths, formats, 0) }
                                ?? PQsendQueryParams(handle, sql, count, types, values, lengths, formats, 0)) == 1
            sent = sent && trailing.allSatisfy { PQsendQueryParams(handle, $0, 0, nil, nil, nil, nil, 0) == 1 }
            // Whatever was queued ends at a sync and is read back, so the pipeline can be left (a send that failed
            // midway still syncs what went before it).
            let synced = PQpipelineSync(handle) == 1
            let results = synced ? pipelineResults() : []
            if PQexitPipelineMode(handle) != 1 {
                // Still in pipeline mode (results pending that never came): every later statement would be refused.
                // `isHealthy` now says false, so the session is given up and a new one opened.
                for result in results { PQclear(result) }
                throw lostOrServerError(nil)
            }
            let statements = leading + [sql] + trailing
            guard sent, synced, results.count == statements.count else {
                for result in results { PQclear(result) }
                throw lostOrServerError(nil)
            }
            var rows: QueryResult?
            for (index, result) in results.enumerated() {
                do {
                    let checked = try check(result, sql: statements[index])
                    if index == leading.count { rows = checked }
                } catch {
                    for later in results[(index + 1)...] { PQclear(later) }
                    // "cached plan must not change result type" (a migration changed its columns): prepared anew next time.
                    if index == leading.count, name != nil, (error as? PostgresError)?.sqlState == SQLState.featureNotSupported {
                        forgetPrepared(sql, types: types)
                    }
                    throw error
                }
            }
            guard let rows else { throw lostOrServerError(nil) }
            return rows
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
