-- Deep re-reads (README "Windows"): besides the daily window, each account's window periodically reaches
-- further back, so bookings that reach the bank late (card clearing abroad, corrections, chargebacks) are
-- found even when they are older than the overlap. Dedup makes the re-read free on our side.
ALTER TABLE watermarks
    ADD COLUMN last_rescan_at timestamptz,
    -- bookings a deep re-read found that the daily window had missed, and the latest one's lateness in days
    ADD COLUMN late_bookings bigint NOT NULL DEFAULT 0,
    ADD COLUMN latest_late_days integer;
