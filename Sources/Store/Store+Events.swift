import Postgres

/// How serious a recorded event is.
public enum EventLevel: String, Sendable {
    case info, warning, error
}

extension Store {
    /// Records what happened to a customer (or one of its accounts) for the lag and interruption reports.
    public func recordEvent(customerID: Int64?, accountID: Int64? = nil, runID: Int64?, level: EventLevel,
                            code: String, message: String, logref: String? = nil) throws {
        try connection.execute("""
            INSERT INTO sync_events (customer_id, account_id, run_id, level, code, message, logref)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """, [customerID, accountID, runID, level.rawValue, code, message, logref])
    }
}
