-- A batch's stored body (tens of KB for a backfill batch) and row list were compressed with pglz: measured in a
-- 2,000-customer backfill (Benchmarks/fleet) as 3.7% of PostgreSQL's CPU. lz4 takes a fifth of the time for
-- about the same size (1,000 backfill bodies: 885 → 161 ms, 20.4 → 21.6 MB). Only values written from now on
-- are compressed with it; nothing is rewritten. A server without lz4 (built without it, or PostgreSQL 13, which
-- has no per-column compression) keeps pglz: the statement is only parsed where it can run.
DO $$
BEGIN
    IF current_setting('server_version_num')::integer >= 140000 THEN
        EXECUTE 'ALTER TABLE push_batches ALTER COLUMN payload SET COMPRESSION lz4, ALTER COLUMN row_ids SET COMPRESSION lz4';
    END IF;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: push batch bodies stay compressed with pglz';
END
$$;
