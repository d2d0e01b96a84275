/// The push queue (migration 0028): a booked row waiting for Flowpay is a narrow row of `push_queue`, and delivery
/// deletes it — the `transactions` row is written once and never updated on delivery. `transactions.push_state` is
/// then `'pushed'` for every row meant for Flowpay, from the moment it is stored ("released to Flowpay"): queued
/// means in the queue, delivered means `'pushed'` and not in it. NULL (held, pending), `'quarantined'` and `'dropped'`
/// keep their meaning; a row is never both quarantined and queued.
///
/// Every statement that queues a row, or moves the `ingest_xid` of a queued one, writes the queue in the same
/// statement: the queue's copy of `ingest_xid` is how a queued row is found (`transactions_feed`). Inside an
/// ingest, the rows it stored are queued once at its end (`finishIngest`, no round trip of its own), so until then
/// a row of the current transaction with push_state `'pushed'` is queued too (`queuedInThisTransaction`).
extension Store {
    /// SQL: whether row `row` (an alias of `transactions`) is in the push queue.
    static func isQueued(_ row: String) -> String {
        "EXISTS (SELECT 1 FROM push_queue pq WHERE pq.customer_id = \(row).customer_id AND pq.transaction_id = \(row).id)"
    }

    /// SQL: whether row `row` was delivered (released to Flowpay and out of the queue). Not for use inside an ingest
    /// about rows it stored (`queuedInThisTransaction`).
    static func isDelivered(_ row: String) -> String {
        "(\(row).push_state = 'pushed' AND NOT \(isQueued(row)))"
    }

    /// SQL: whether row `row` is queued, inside an ingest (or anything that may store or release rows): in the
    /// queue, or released by the current transaction and queued at its end.
    static func queuedInThisTransaction(_ row: String) -> String {
        "(\(row).push_state = 'pushed' AND (\(row).ingest_xid = pg_current_xact_id() OR \(isQueued(row))))"
    }

    /// SQL: `transactions t` joined to the queue row `q` through `transactions_feed (customer_id, ingest_xid, id)`.
    static let queuedTransaction = "JOIN transactions t ON t.customer_id = q.customer_id AND t.ingest_xid = q.ingest_xid AND t.id = q.transaction_id"

    /// SQL: queues the rows `source` returns (columns `customer_id, id, account_id, ingest_xid`); a row already
    /// queued takes the new `ingest_xid`.
    static func enqueue(from source: String) -> String {
        """
        INSERT INTO push_queue (customer_id, transaction_id, account_id, ingest_xid)
        SELECT customer_id, id, account_id, ingest_xid FROM \(source)
        ON CONFLICT (customer_id, transaction_id) DO UPDATE SET ingest_xid = EXCLUDED.ingest_xid
        """
    }

    /// SQL: the queue rows `q` of `batch` ($`parameter` is `rowsOfParameter(batch)`): its row list, or for a batch
    /// recorded before migration 0018 the rows that name it.
    /// The row list goes as a parameter, not as a subquery on `push_batches`: a stored list of a few hundred ids
    /// is compressed, and PostgreSQL decompressed it again for every row it tested.
    /// SQL: `t`'s rows of `batch` (same parameter as `queuedRowsOf`).
    static func legacyRowsOf(_ batch: PushBatch, parameter: Int) -> String {
        batch.listsItsRows ? "t.id = ANY ($\(parameter)::bigint[])" : "t.push_batch_id = $\(parameter)::bigint"
    }

    static func queuedRowsOf(_ batch: PushBatch, parameter: Int = 1) -> String {
        batch.listsItsRows ? "q.transaction_id = ANY ($\(parameter)::bigint[])"
            : "q.transaction_id IN (SELECT b.id FROM transactions b WHERE b.push_batch_id = $\(parameter)::bigint)"
    }
}
