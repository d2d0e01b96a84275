-- `updatedAt` by visibility (README "PULL cursors"): a row's feed time is when the feed could first serve it,
-- not when its inserting transaction started (`arrived_at`). An ingest that started before a poll but
-- committed after it, or one held back by an older transaction still running, would otherwise carry a time
-- earlier than the poll and never be served to a poller that resumes by `updatedAt`. Feed requests stamp the
-- rows that have become visible (`ingest_xid` below every running transaction) with the time of that request.
ALTER TABLE transactions ADD COLUMN visible_at timestamptz;
-- Rows stored before this migration are long visible: their arrival is their feed time.
UPDATE transactions SET visible_at = arrived_at WHERE status = 'booked';
CREATE INDEX transactions_unstamped ON transactions (customer_id) WHERE visible_at IS NULL AND status = 'booked';
