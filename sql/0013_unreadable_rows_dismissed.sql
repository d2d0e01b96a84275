-- Unreadable rows (ingest_quarantine) that ops have looked at and dismissed (`banksync unreadable dismiss`):
-- kept, with why, and no longer an interruption. The same row sent again stays dismissed; a different one
-- (another text, a fixed date) is a new row.
ALTER TABLE ingest_quarantine
    ADD COLUMN dismissed_at timestamptz,
    ADD COLUMN dismissed_reason text;
