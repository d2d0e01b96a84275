-- The dedup key becomes the primary key and the identity column loses its own B-tree: every ingested row
-- paid for an index nothing reads by `id` alone. `id` stays (assigned by the identity, so still unique) as
-- the order of the outbox and of PULL feeds, which have their own indexes; the few updates by id go through
-- the outbox index, and prune deletes by primary key.
ALTER TABLE transactions DROP CONSTRAINT transactions_pkey;
ALTER TABLE transactions DROP CONSTRAINT transactions_dedup;
ALTER TABLE transactions ADD CONSTRAINT transactions_pkey PRIMARY KEY (account_id, tx_key);
