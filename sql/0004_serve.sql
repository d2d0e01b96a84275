-- PULL API and webhooks.
-- Every Flowpay webhook is recorded, verified or not, for ops. A verified signature can only be used once
-- (replay protection).
CREATE TABLE webhooks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    signature     text,
    sent_at       text,
    verified      boolean     NOT NULL,
    failure       text,
    event_type    text,
    payload       text        NOT NULL,
    customer_id   bigint REFERENCES customers (id) ON DELETE SET NULL,
    outcome       text
);
CREATE UNIQUE INDEX webhooks_replay ON webhooks (signature) WHERE verified;
CREATE INDEX api_keys_active ON api_keys (hash) WHERE revoked_at IS NULL;
