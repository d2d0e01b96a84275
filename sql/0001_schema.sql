-- BankSync schema, version 1. See ../shared/design/ARCHITECTURE.md ("Data model").
-- Money is integer minor units plus an ISO 4217 code; booking/value dates are `date`; instants are UTC timestamptz.

CREATE TABLE customers (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flowpay_customer_id  uuid        NOT NULL UNIQUE,   -- Flowpay's id, used in PUSH paths
    merchant_id          text        NOT NULL UNIQUE,   -- the partner's own id, used by PULL feeds
    source               text        NOT NULL CHECK (source IN ('gocardless', 'berlingroup')),
    source_ref           text        NOT NULL,          -- GoCardless requisition id / Berlin Group consent id
    source_config        jsonb       NOT NULL DEFAULT '{}'::jsonb, -- e.g. a Berlin Group bank's base URL
    history_days         integer     NOT NULL DEFAULT 730 CHECK (history_days BETWEEN 90 AND 730),
    history_days_cap     integer,                       -- what the source allows, when it allows less
    consent_expires_at   timestamptz,
    status               text        NOT NULL DEFAULT 'active'
                                     CHECK (status IN ('active', 'consent_expired', 'disabled')),
    priority_sync_at     timestamptz,                   -- set by a webhook: sync this customer first
    lease_until          timestamptz,                   -- backstop for a worker that hangs while connected
    leased_by            text,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id        bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    source_account_id  text        NOT NULL,
    iban               text,
    bic                text,
    currency           text,
    name               text,
    product            text,
    owner_name         text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    pushed_hash        bytea,                           -- content hash last accepted by Flowpay
    UNIQUE (customer_id, source_account_id)
);

CREATE TABLE balances (
    account_id      bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    type            text        NOT NULL,               -- Berlin Group balance type
    currency        text        NOT NULL,
    reference_date  date        NOT NULL,
    amount_minor    bigint      NOT NULL,
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, type, currency, reference_date)
);

CREATE TABLE transactions (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id         bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    customer_id        bigint      NOT NULL,            -- denormalised for push batching and PULL feeds
    tx_key             bytea       NOT NULL,            -- dedup key, see BankSyncCore/DedupKey.swift
    status             text        NOT NULL CHECK (status IN ('booked', 'pending')),
    booking_date       date,
    value_date         date,
    amount_minor       bigint      NOT NULL,
    currency           text        NOT NULL,
    counterparty_iban  text,
    counterparty_name  text,
    remittance         text,
    bank_tx_code       text,
    source_tx_id       text,
    raw                jsonb,
    first_seen_run     bigint,
    arrived_at         timestamptz NOT NULL DEFAULT now(),
    -- the inserting transaction: PULL cursors only ever read past committed work (see PullFeed)
    ingest_xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    push_state         text        CHECK (push_state IN ('queued', 'pushed')), -- NULL: never pushed (pending)
    push_batch_id      bigint,
    CONSTRAINT transactions_dedup UNIQUE (account_id, tx_key),
    CONSTRAINT booked_has_date CHECK (status <> 'booked' OR booking_date IS NOT NULL),
    CONSTRAINT pending_never_queued CHECK (status = 'booked' OR push_state IS NULL)
);
CREATE INDEX transactions_outbox ON transactions (customer_id, id) WHERE push_state = 'queued';
CREATE INDEX transactions_feed ON transactions (customer_id, ingest_xid, id);
CREATE INDEX transactions_booking_date ON transactions USING brin (booking_date);

CREATE TABLE watermarks (
    account_id     bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    booked_through date,        -- every booked transaction up to this day is stored
    last_pull_at   timestamptz,
    last_push_at   timestamptz
);

CREATE TABLE push_batches (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id      bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind             text        NOT NULL CHECK (kind IN ('accounts', 'transactions', 'updated')),
    idempotency_key  text        NOT NULL UNIQUE,
    payload_hash     bytea       NOT NULL,
    row_count        integer     NOT NULL DEFAULT 0,
    state            text        NOT NULL DEFAULT 'sending' CHECK (state IN ('sending', 'sent', 'rejected')),
    attempts         integer     NOT NULL DEFAULT 0,
    http_status      integer,
    logref           text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX push_batches_open ON push_batches (customer_id) WHERE state = 'sending';

CREATE TABLE sync_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    worker       text        NOT NULL,
    status       text        NOT NULL DEFAULT 'running'
                             CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
    counts       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error        text
);

CREATE TABLE sync_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint REFERENCES customers (id) ON DELETE CASCADE,
    account_id   bigint REFERENCES accounts (id) ON DELETE CASCADE,
    run_id       bigint REFERENCES sync_runs (id) ON DELETE SET NULL,
    level        text        NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    code         text        NOT NULL,   -- synced, consent_expired, bank_unavailable, rate_limited, rejected, …
    message      text        NOT NULL,
    logref       text,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_events_customer ON sync_events (customer_id, at DESC);

CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash        bytea       NOT NULL UNIQUE,
    label       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
