import BankSyncCore
import Postgres

extension Store {
    /// Deletes transactions booked before each customer's history window plus the overlap, in batches of
    /// `batchSize` rows, each batch its own short transaction (no long locks, bounded WAL per commit).
    /// Rows still waiting to be pushed are kept: pruning must never lose data Flowpay has not received.
    /// Returns how many rows were deleted.
    /// Balances older than that go too (the evidence for days whose bookings are gone).
    public func prune(today: Day, overlapDays: Int = SyncWindow.defaultOverlapDays, batchSize: Int = 10_000) throws -> Int {
        var total = 0
        while true {
            // The account totals /metrics reads drop with the rows, in the same statement.
            let deleted = try connection.queryValue(Int.self, """
                WITH doomed AS (
                    SELECT t.account_id, t.tx_key
                    FROM transactions t JOIN customers c ON c.id = t.customer_id
                    WHERE t.booking_date < $1::date - (c.history_days + $2)
                      -- never what still has to reach Flowpay: queued, quarantined, or held (booked, push_state NULL)
                      AND ((t.status = 'pending' AND t.push_state IS NULL) OR t.push_state = 'dropped' OR \(Self.isDelivered("t")))
                    LIMIT $3
                ), deleted AS (
                    DELETE FROM transactions d USING doomed
                    WHERE d.account_id = doomed.account_id AND d.tx_key = doomed.tx_key
                    RETURNING d.account_id, d.status, d.push_state
                ), per_account AS (
                    SELECT account_id, count(*) FILTER (WHERE status = 'booked') AS booked,
                           count(*) FILTER (WHERE push_state = 'pushed') AS pushed
                    FROM deleted GROUP BY account_id
                ), counted AS (
                    UPDATE watermarks w SET booked_stored = w.booked_stored - p.booked, booked_pushed = w.booked_pushed - p.pushed
                    FROM per_account p WHERE w.account_id = p.account_id
                )
                SELECT count(*) FROM deleted
                """, [today, overlapDays, batchSize], planning: .perExecution)
            total += deleted
            if deleted < batchSize { break }
        }
        // Balances go with the transactions they reconcile: a few rows per account and day, one statement.
        try connection.execute("""
            DELETE FROM balances b USING accounts a JOIN customers c ON c.id = a.customer_id
            WHERE b.account_id = a.id AND b.reference_date < $1::date - (c.history_days + $2)
            """, [today, overlapDays], planning: .perExecution)
        return total
    }
}
