-- Consent links: one row per bank link sent to a customer. `state` is the one-time value carried by the
-- redirect back to BankSync; the callback looks it up and asks the aggregator for the real status.
CREATE TABLE consent_links (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state                text        NOT NULL UNIQUE,
    flowpay_customer_id  uuid        NOT NULL,
    merchant_id          text        NOT NULL,
    source               text        NOT NULL CHECK (source IN ('gocardless', 'berlingroup')),
    source_ref           text        NOT NULL,          -- requisition id / consent id
    source_config        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    history_days         integer     NOT NULL CHECK (history_days BETWEEN 90 AND 730),
    created_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    used_at              timestamptz,
    outcome              text
);
