-- Days of an account's history no read covered (CustomerSync): after a long consent lapse the renewed consent's
-- window starts no earlier than the source's maximum history (or the customer's), which can be later than the
-- day after the last one read, and the watermark then moves past those days for good. They are recorded here,
-- shown by `banksync lag` (column gap) and by `lag --interruptions` (history_gap) for 30 days.
-- Nullable columns without defaults: no table rewrite, only a brief lock (under the migrator's lock_timeout).
ALTER TABLE watermarks
    ADD COLUMN gap_days bigint,             -- every day never read, in all
    ADD COLUMN last_gap_from date,          -- the latest gap's first and last day
    ADD COLUMN last_gap_to date,
    ADD COLUMN last_gap_at timestamptz;     -- when it was found
