-- Nothing stranded by a refusal (README "How it works": refused rows).
--
-- A batch Flowpay refuses with 400/422 is split until the refused rows are isolated: the batch becomes
-- 'split' (its rows move to two new batches in the same transaction), a refused single row becomes
-- 'quarantined' with Flowpay's answer in push_quarantine, and every other row is delivered. A batch that
-- keeps failing for other reasons is 'parked' after a bounded number of runs, so later batches flow; ops
-- reopen it (`push --requeue-rejected`). A quarantined row is sent again by `push --requeue-rejected` or
-- given up by `push --drop-rejected --reason …` ('dropped', the reason recorded).
ALTER TABLE transactions DROP CONSTRAINT transactions_push_state_check;
ALTER TABLE transactions ADD CONSTRAINT transactions_push_state_check
    CHECK (push_state IN ('queued', 'pushed', 'quarantined', 'dropped'));

ALTER TABLE push_batches DROP CONSTRAINT push_batches_state_check;
ALTER TABLE push_batches ADD CONSTRAINT push_batches_state_check
    CHECK (state IN ('sending', 'sent', 'rejected', 'split', 'parked', 'superseded'));
-- 'superseded': a bank-accounts-updated signal already attempted when more data was marked sent after it; a
-- new signal (new Idempotency-Key) is owed, so Flowpay is told about the later data too.
-- Transaction batches keep the exact body they send (like accounts batches): a resend after a crash is
-- byte-identical under the same Idempotency-Key even if a row was edited or its account lost its IBAN since.
CREATE INDEX push_batches_parked ON push_batches (customer_id) WHERE state = 'parked';
-- Transaction batches earlier releases marked rejected (any 4xx, a 403 too) left their rows queued and
-- assigned to them, never to be sent: they become parked, so they are tried again (and split if refused).
UPDATE push_batches SET state = 'parked' WHERE kind = 'transactions' AND state = 'rejected';

CREATE TABLE push_quarantine (
    transaction_id bigint      NOT NULL,         -- transactions.id: stays when an edit or a renewal re-keys the row
    account_id     bigint      NOT NULL,
    tx_key         bytea       NOT NULL,
    customer_id    bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    batch_id       bigint,                      -- the single-row batch Flowpay refused
    http_status    integer     NOT NULL,
    logref         text,
    message        text        NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolution     text,                        -- 'requeued' or 'dropped: <reason>'
    PRIMARY KEY (transaction_id, quarantined_at)
);
CREATE INDEX push_quarantine_open ON push_quarantine (customer_id) WHERE resolved_at IS NULL;
CREATE INDEX transactions_quarantined ON transactions (customer_id) WHERE push_state = 'quarantined';

-- Rows a source sent that cannot be read (an impossible date, more decimals than the currency has) or stored:
-- kept raw with the account, field and reason while the rest of the window is stored. One entry per distinct
-- row; a row a later fetch sends again only moves last_seen_at. Shown by `lag --interruptions` while it keeps
-- coming back (seen within the last two days).
CREATE TABLE ingest_quarantine (
    account_id     bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    customer_id    bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    raw_hash       bytea       NOT NULL,
    field          text        NOT NULL,
    reason         text        NOT NULL,
    raw            text        NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    first_seen_run bigint,
    PRIMARY KEY (account_id, raw_hash)
);
CREATE INDEX ingest_quarantine_recent ON ingest_quarantine (customer_id, last_seen_at);

-- When the worker holding a customer claimed it: its sync counts as of then, so a priority sync asked while
-- it runs (a webhook, a new consent) stays pending for the next run instead of being cleared by this one.
ALTER TABLE customers ADD COLUMN claimed_at timestamptz;
