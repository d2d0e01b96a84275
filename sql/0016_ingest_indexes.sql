-- Fingerprint-keyed rows (tx_key = content_key: every row of a source without stable ids) are found by content
-- through the primary key; only rows keyed by a source id need their own content-key entry.
DROP INDEX transactions_content;
CREATE INDEX transactions_content ON transactions (account_id, content_key) WHERE tx_key <> content_key;
-- Reused-source-id detection (Store+Edits.swift reusedSourceIDs): stored rows by source id, only where one exists.
CREATE INDEX transactions_source_id ON transactions (account_id, source_tx_id) WHERE source_tx_id IS NOT NULL;
