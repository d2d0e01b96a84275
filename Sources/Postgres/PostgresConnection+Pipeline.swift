import CLibPQ

extension PostgresConnection {
    /// Runs the last statement of a transaction and its COMMIT in one round trip (libpq's pipeline mode: both
    /// sent, then one sync), and returns the statement's rows once the COMMIT succeeded. The transaction must be
    /// open (`withTransaction`, which then sends no COMMIT of its own). A statement that fails leaves the
    /// transaction aborted (the pipelined COMMIT is skipped by the server) and throws: `withTransaction` rolls
    /// back. A COMMIT that fails (a deferred constraint, a serialization failure) throws the same way, its
    /// transaction already ended. Either way nothing is reported committed that was not.
    @discardableResult
    public func queryThenCommit(_ sql: String, _ parameters: [any PostgresEncodable] = [], planning: Planning = .cached) throws -> QueryResult {
        guard PQtransactionStatus(handle) == PQTRANS_INTRANS else {
            throw PostgresError.server(ServerError(sqlState: "25000", severity: "ERROR",
                                                   message: "queryThenCommit outside an open transaction (the statement was not run)"))
        }
        return try withParameters(parameters) { count, types, values, lengths, formats in
            let name = planning == .cached ? try preparedName(sql, types: types) : nil
            PostgresStatistics.noteRoundTrip()
            guard PQenterPipelineMode(handle) == 1 else { throw lostOrServerError(nil) }
            let sent = (name.map { PQsendQueryPrepared(handle, $0, count, values, lengths, formats, 0) }
                            ?? PQsendQueryParams(handle, sql, count, types, values, lengths, formats, 0)) == 1
                && PQsendQueryParams(handle, "COMMIT", 0, nil, nil, nil, nil, 0) == 1
                && PQpipelineSync(handle) == 1
            let results = sent ? pipelineResults() : []
            PQexitPipelineMode(handle)
            guard sent, results.count == 2 else {
                for result in results { PQclear(result) }
                throw lostOrServerError(nil)
            }
            let rows: QueryResult
            do {
                rows = try check(results[0], sql: sql)
            } catch {
                PQclear(results[1])
                throw error
            }
            _ = try check(results[1], sql: "COMMIT")
            committedByLastStatement = true
            return rows
        }
    }

    /// The results of a pipeline's queries (the first result of each; NULL ends a query's results), up to and
    /// including its sync point, which is not returned. Empty when the connection was lost on the way.
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
