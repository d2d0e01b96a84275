-- banksync: no-transaction
-- Each statement commits on its own (every one is IF NOT EXISTS, so a rerun finishes what an interrupted one began):
-- no transaction holds the lock of one busy table (customers, watermarks) while it waits for the next.
-- The ops console (issue 34, Sources/OpsConsole). All new state, no rewrite of a busy table:
-- * console_sessions: a break-glass sign-in (the console API key exchanged on the sign-in form) becomes a session
--   whose cookie value is kept only as its SHA-256; each session has its own form token (every POST carries it).
-- * console_audit: one row per console action, refused or done: who, with which role, why, the state before and
--   after, and the equivalent `banksync …` command. Append-only by the console; keyset-paged by id.
-- * customers.paused_at/paused_by/paused_reason: an approver pauses a customer; sync claims skip a paused customer
--   and `lag` shows it as `paused`. Nullable columns without a default: a catalog change only.
-- * watermarks.deep_read_from: an operator asked for a deep read of the account back to this day; the next sync of
--   the customer (a priority sync, asked at the same time) reads from there and clears it.
-- * consent_links.link: the bank link `banksync link` printed, kept so the console shows the current renewal link to
--   copy (it is what ops send the customer anyway; pages carry Referrer-Policy: no-referrer).
-- * account_reconciliation.acknowledged_*: an operator acknowledged the current difference (its range and amount),
--   so Needs attention stops listing it until the difference changes.
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash  bytea       PRIMARY KEY,          -- SHA-256 of the cookie value; the value itself is never stored
    who         text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('viewer', 'operator', 'approver')),
    form_token  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS console_audit (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    who         text        NOT NULL,
    role        text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    reason      text,
    before      text,
    after       text,
    outcome     text        NOT NULL,             -- done, or why it was refused
    command     text        NOT NULL              -- the equivalent CLI command
);

ALTER TABLE customers ADD COLUMN IF NOT EXISTS paused_at timestamptz;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS paused_by text;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS paused_reason text;

ALTER TABLE account_reconciliation ADD COLUMN IF NOT EXISTS acknowledged_at timestamptz;
ALTER TABLE account_reconciliation ADD COLUMN IF NOT EXISTS acknowledged_by text;
ALTER TABLE account_reconciliation ADD COLUMN IF NOT EXISTS acknowledged_difference bigint;

ALTER TABLE watermarks ADD COLUMN IF NOT EXISTS deep_read_from date;
ALTER TABLE consent_links ADD COLUMN IF NOT EXISTS link text;
