-- /metrics used to count `transactions` (and scan `push_batches`) on every scrape: a full scan that grows with
-- the table. Each account's booked and pushed rows are now running totals, kept by the statements that change
-- them (ingest, markSent, prune) in their own transactions; the batch figures read through small indexes.
ALTER TABLE watermarks
    ADD COLUMN booked_stored bigint NOT NULL DEFAULT 0,
    ADD COLUMN booked_pushed bigint NOT NULL DEFAULT 0;

UPDATE watermarks w SET booked_stored = c.booked, booked_pushed = c.pushed
FROM (SELECT account_id, count(*) FILTER (WHERE status = 'booked') AS booked,
             count(*) FILTER (WHERE push_state = 'pushed') AS pushed
      FROM transactions GROUP BY account_id) c
WHERE c.account_id = w.account_id;

CREATE INDEX push_batches_rejected ON push_batches (customer_id) WHERE state = 'rejected';
CREATE INDEX push_batches_sent ON push_batches (finished_at) WHERE state = 'sent';
