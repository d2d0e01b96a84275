-- banksync: no-transaction
-- Mapping versions (docs/IDENTITY.md, "Mapping versions"): a stored row's keys come from its raw JSON through the
-- mapping of one version (Aggregators/TransactionMapping.swift). A release that changes the mapping bumps the
-- version; the worker then maps the rows of an older version again from `raw` and recomputes their keys, keeping
-- their Flowpay ids (SyncEngine/MappingUpgrade.swift), a batch per transaction, so it resumes where it stopped.
-- Outside a transaction, each statement safe to repeat: the CHECK below is replaced online (dropped, added NOT VALID
-- under a brief lock, then validated without blocking writes), which must not share one transaction with its validation.

-- transactions.mapping_version: the version that keyed the row; NULL for rows stored before this migration (mapped
-- again once). accounts.mapping_version: every row of the account with a raw JSON is of this version (NULL: not known
-- yet), so a daily sync asks one question per customer, not one per row.
-- Nullable columns without defaults: no table rewrite, only a brief lock (under the migrator's lock_timeout).
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS mapping_version bigint;
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS mapping_version bigint;

-- Rows from before the window that match a booking stored under an earlier consent's or source's id are held until a
-- read of their whole day decides (Store+WholeDayHolds.swift), no longer dropped.
-- squawk-ignore ban-drop-constraint -- replaced at once by a wider CHECK (it admits 'awaiting_whole_day'); the old values stay valid
ALTER TABLE held_transactions DROP CONSTRAINT IF EXISTS held_transactions_reason_check;
ALTER TABLE held_transactions ADD CONSTRAINT held_transactions_reason_check
    CHECK (reason IN ('possible_edit', 'possible_correction', 'possible_duplicate', 'awaiting_whole_day')) NOT VALID;
ALTER TABLE held_transactions VALIDATE CONSTRAINT held_transactions_reason_check;
