-- Mapping versions (docs/IDENTITY.md, "Mapping versions"): a stored row's keys come from its raw JSON through the
-- mapping of one version (Aggregators/TransactionMapping.swift). A release that changes the mapping bumps the
-- version; the worker then maps the rows of an older version again from `raw` and recomputes their keys, keeping
-- their Flowpay ids (SyncEngine/MappingUpgrade.swift), a batch per transaction, so it resumes where it stopped.
-- transactions.mapping_version: the version that keyed the row; NULL for rows stored before this migration
-- (mapped again once). accounts.mapping_version: every row of the account with a raw JSON is of this version
-- (NULL: not known yet), so a daily sync asks one question per customer, not one per row.
-- Nullable columns without defaults: no table rewrite, only a brief lock (under the migrator's lock_timeout).
ALTER TABLE transactions ADD COLUMN mapping_version bigint;
ALTER TABLE accounts ADD COLUMN mapping_version bigint;
