-- banksync: steps
-- The push queue (issue 32, docs/WHERE-THE-TIME-GOES.md): "waiting for Flowpay" leaves the `transactions` row. Until
-- now a delivered row was written twice: inserted with push_state 'queued', then updated to 'pushed' when Flowpay
-- accepted its batch — and since push_state is in the predicates of partial indexes, that update was never HOT: a
-- second wide heap tuple (raw JSON included) and every index entry again, about a third of PostgreSQL's time in a
-- backfill. From this migration on:
--   - a row waiting for Flowpay is a narrow row of `push_queue` (customer, transaction id, account, ingest_xid),
--     written in the transaction that stores, releases, corrects or requeues the transaction;
--   - delivery deletes it from the queue (in markSent's statement, with the batch's state and the watermarks); the
--     `transactions` row is not touched, so it is written once;
--   - transactions.push_state keeps its other meanings: NULL held (or pending), 'quarantined', 'dropped'. Every
--     booked row meant for Flowpay holds 'pushed' from the moment it is stored: "pushed" there reads "released to
--     Flowpay", delivered unless its id is in `push_queue`. 'queued' is no longer written (the CHECK of the
--     released schema still admits it; this migration moves every queued row to the queue).
-- Readers: queued = in `push_queue`; delivered = push_state 'pushed' and not in `push_queue`. Inside an ingest,
-- the rows it stored are queued at its end (finishIngest), so there "queued" also covers push_state 'pushed' rows
-- of the current transaction (Store+PushQueue.swift).
-- The queue's rows join their transaction through `transactions_feed (customer_id, ingest_xid, id)` — every
-- statement that moves a queued row's ingest_xid writes the queue's copy too — and are read in id order through the
-- primary key. `transactions_outbox (customer_id, id) WHERE push_state = 'queued'` stays: no new row matches its
-- predicate, so it is empty and free, and it finds at once any row an older release still stored as 'queued'
-- (the outbox moves such rows into the queue: Store.recordTransactionBatch). No foreign keys: a key check per
-- queued row would cost more than the join they would guard (deleting a customer deletes its queue rows,
-- Store+Customers.swift).
-- Live-safe: old workers are stopped during an upgrade (they check the schema version; stop serve's priority syncs
-- too, or serve); the PULL feeds keep reading and do not read push_state 'queued' vs 'pushed' (only NULL: held).
-- The queued rows move in batches of 50 customers (BANKSYNC_MIGRATE_BATCH_ROWS for fewer), each batch one short
-- transaction that marks them 'pushed' and queues them (repeatable: a row moved is no longer 'queued').

-- step: transaction
CREATE TABLE IF NOT EXISTS push_queue (
    customer_id    bigint NOT NULL,
    transaction_id bigint NOT NULL,   -- transactions.id
    account_id     bigint NOT NULL,   -- the lag report's and the watermarks' per-account counts, without the row
    ingest_xid     xid8   NOT NULL,   -- transactions.ingest_xid: the join through transactions_feed
    PRIMARY KEY (customer_id, transaction_id)
);

-- step: batched queue_queued_rows over customers.id by 50
WITH moved AS (
    UPDATE transactions t SET push_state = 'pushed'
    WHERE t.customer_id > $1 AND t.customer_id <= $2 AND t.push_state = 'queued'
    RETURNING t.customer_id, t.id, t.account_id, t.ingest_xid
)
INSERT INTO push_queue (customer_id, transaction_id, account_id, ingest_xid)
SELECT customer_id, id, account_id, ingest_xid FROM moved
ON CONFLICT (customer_id, transaction_id) DO UPDATE SET ingest_xid = EXCLUDED.ingest_xid;

