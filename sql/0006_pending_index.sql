-- Every ingest removes the pending rows its fetch no longer returns (they were booked or dropped). Without
-- an index on pending rows that check read every stored row of the account on every ingest; pending rows are
-- few, so this partial index is small and is written only when a pending row is.
CREATE INDEX transactions_pending ON transactions (account_id) WHERE status = 'pending';
