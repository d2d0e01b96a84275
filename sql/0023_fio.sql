-- banksync: no-transaction
-- Fio banka as a source (issue 33): a customer reads its own account with a read-only token it made in Fio's
-- Internetbanking. Outside a transaction, each statement safe to repeat: the CHECK is replaced online (dropped,
-- added NOT VALID under a brief lock, then validated without blocking writes), which must not share one
-- transaction with its validation.

-- The token, sealed with AES-GCM under BANKSYNC_SECRETS_KEY (SyncEngine/TokenVault.swift): never stored in
-- clear, never in source_ref or source_config (both are printed by `customers list|show`). `banksync secrets
-- rotate` re-seals every row in one transaction.
CREATE TABLE IF NOT EXISTS customer_secrets (
    customer_id  bigint      PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    sealed       bytea       NOT NULL,            -- nonce || ciphertext || tag (CryptoKit's combined form)
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Fio allows one call per token every 30 s (a faster one gets 409): the next instant a call is allowed, per token
-- (keyed by a fingerprint, never the token), claimed atomically by whichever worker or serve calls next.
CREATE TABLE IF NOT EXISTS fio_call_slots (
    token_key        text        PRIMARY KEY,     -- "fio:" + the first 16 bytes of SHA-256(token), in hex
    next_allowed_at  timestamptz NOT NULL,
    last_call_at     timestamptz,
    last_status      bigint                        -- the HTTP status of the last call (409 recorded when obeyed)
);

-- squawk-ignore ban-drop-constraint -- replaced at once by a wider CHECK (it admits 'fio'); the old values stay valid
ALTER TABLE customers DROP CONSTRAINT IF EXISTS customers_source_check;
ALTER TABLE customers ADD CONSTRAINT customers_source_check CHECK (source IN ('gocardless', 'berlingroup', 'fio')) NOT VALID;
ALTER TABLE customers VALIDATE CONSTRAINT customers_source_check;
