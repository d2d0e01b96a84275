-- `updatedAt` by visibility (README "updatedAt is visibility"): a row's feed time is when the feed first served
-- it, not when its inserting transaction started (`arrived_at`). An ingest that started before a poll but
-- committed after it, or one held back by an older transaction still running, would otherwise carry a time
-- earlier than the poll and never be served to a poller that resumes by `updatedAt`.
-- Rows stored before this migration have long been servable: they read as '-infinity' (a constant default
-- costs no table rewrite and no long lock); rows stored from now on start NULL and are stamped by the first
-- feed request that can serve them.
ALTER TABLE transactions ADD COLUMN visible_at timestamptz DEFAULT '-infinity';
ALTER TABLE transactions ALTER COLUMN visible_at SET DEFAULT NULL;
CREATE INDEX transactions_unstamped ON transactions (customer_id) WHERE visible_at IS NULL AND status = 'booked';
