-- A transactions batch keeps the ids of its rows itself. Before, recording a batch wrote every row once more
-- (push_batch_id) and Flowpay's 2xx a third time (push_state): each a non-HOT update of a wide row that writes
-- every index again, measured in Benchmarks/fleet as most of PostgreSQL's work in a backfill. Now a row is
-- written once when Flowpay accepts it. Rows of unfinished batches ('sending', 'parked') are held by the batch:
-- a new batch skips them. Rows refused on their own (quarantined) still name their batch in push_batch_id.
--
-- Batches recorded before this migration have no row_ids; their rows keep push_batch_id, which new batches
-- also skip, and they finish through it.
ALTER TABLE push_batches ADD COLUMN row_ids bigint[];
