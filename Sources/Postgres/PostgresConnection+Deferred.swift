import CLibPQ

/// A write that needs no answer before the session's next statement: sent in that statement's round trip.
struct DeferredWrite {
    let statement: PipelinedStatement
    let ifItFails: (PostgresError) -> Void
}

extension PostgresConnection {
    /// Sends `statement` (a write whose result nobody waits for) in the round trip of this session's next statement,
    /// before it and in a transaction of its own (a sync between them); `close` sends it too. The order of statements
    /// on the session is kept: whatever runs next sees its effect. Its failure never fails the statement it rides with:
    /// `ifItFails` gets it, after that round trip. Inside a transaction, or while the session is unhealthy, it is sent
    /// at once (and a failure is still given to `ifItFails`).
    public func sendWithNextStatement(_ statement: PipelinedStatement, ifItFails: @escaping (PostgresError) -> Void) {
        guard PQtransactionStatus(handle) == PQTRANS_IDLE, isHealthy else {
            do { _ = try query(statement.sql, statement.parameters, planning: statement.planning) } catch let error as PostgresError {
                ifItFails(error)
            } catch {
                ifItFails(.connectionLost(message: "\(error)"))
            }
            return
        }
        deferredWrites.append(DeferredWrite(statement: statement, ifItFails: ifItFails))
    }

    /// The deferred writes, taken for the round trip about to be sent (each with a sync after it).
    func takeDeferredWrites() -> [DeferredWrite] {
        defer { deferredWrites = [] }
        return deferredWrites
    }

    /// Reports the deferred writes' outcomes (after the round trip that carried them).
    func report(_ writes: [DeferredWrite], _ outcomes: ArraySlice<Result<QueryResult, PostgresError>>) {
        for (write, outcome) in zip(writes, outcomes) {
            if case .failure(let error) = outcome { write.ifItFails(error) }
        }
    }

    /// Sends the deferred writes now, alone (before a statement that cannot carry them: a script, a COPY).
    func flushDeferredWrites() {
        guard !deferredWrites.isEmpty else { return }
        do {
            _ = try pipeline([])
        } catch {
            // The session broke: they were lost with it (their callers learn it from `ifItFails`).
        }
    }
}
