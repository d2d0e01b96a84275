import BankSyncCore
import Postgres

extension Store {
    /// Deletes transactions booked before each customer's history window plus the overlap, in batches of
    /// `batchSize` rows, each batch its own short transaction (no long locks, bounded WAL per commit).
    /// Rows still waiting to be pushed are kept: pruning must never lose data Flowpay has not received.
    /// Returns how many rows were deleted.
    public func prune(today: Day, overlapDays: Int = SyncWindow.defaultOverlapDays, batchSize: Int = 10_000) throws -> Int {
        var total = 0
        while true {
            let deleted = try connection.execute("""
                DELETE FROM transactions d
                USING (SELECT t.account_id, t.tx_key
                       FROM transactions t JOIN customers c ON c.id = t.customer_id
                       WHERE t.booking_date < $1::date - (c.history_days + $2)
                         AND t.push_state IS DISTINCT FROM 'queued'
                       LIMIT $3) old
                WHERE d.account_id = old.account_id AND d.tx_key = old.tx_key
                """, [today, overlapDays, batchSize])
            total += deleted
            if deleted < batchSize { return total }
        }
    }
}
