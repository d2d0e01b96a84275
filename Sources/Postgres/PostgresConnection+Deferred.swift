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
    /// `ifItFails` gets it, after that round trip — possibly inside the rider's transaction, so `ifItFails` must not run
    /// statements itself (note the failure; act on it once the session is idle, after `sendDeferredWrites`). Inside a
    /// transaction it is sent at once, under a savepoint (a failure leaves the transaction usable); while the session is
    /// unhealthy it fails at once.
    public func sendWithNextStatement(_ statement: PipelinedStatement, ifItFails: @escaping (PostgresError) -> Void) {
        guard isHealthy else {
            ifItFails(.connectionLost(message: "the session is not usable"))
            return
        }
        guard PQtransactionStatus(handle) == PQTRANS_IDLE else {
            do {
                try execute("SAVEPOINT deferred_write")
                do {
                    _ = try query(statement.sql, statement.parameters, planning: statement.planning)
                    try execute("RELEASE SAVEPOINT deferred_write")
                } catch {
                    try execute("ROLLBACK TO SAVEPOINT deferred_write")
                    throw error
                }
            } catch {
                ifItFails(error as? PostgresError ?? .connectionLost(message: "\(error)"))
            }
            return
        }
        deferredWrites.append(DeferredWrite(statement: statement, ifItFails: ifItFails))
    }

    /// Sends the deferred writes now, in a round trip of their own (none when there are none): before the caller acts
    /// on their failures, or where no statement follows.
    public func sendDeferredWrites() {
        flushDeferredWrites()
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
