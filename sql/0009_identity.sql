-- Identity that survives consent renewals and source switches (see README "Account and transaction identity").
--
-- 1. An account is the customer's bank account, found by its normalised IBAN when the source gives one: a new
--    requisition or consent that reports the same IBAN under a new resource id attaches to the existing row
--    (watermark, stored keys, totals and PULL position stay). The resource ids an account had are kept.
-- 2. Every transaction keeps its content key (fingerprint + occurrence ordinal, BankSyncCore/DedupKey.swift)
--    beside its source-id key, so a row whose source id changed is recognised by its content.
-- 3. The id Flowpay sees is stored when the row is first stored and never recomputed. Rows stored before this
--    migration keep the id they were (or would have been) sent with.

ALTER TABLE accounts
    ADD COLUMN iban_key text,                           -- upper-case IBAN without spaces: the account's identity
    ADD COLUMN active boolean NOT NULL DEFAULT true,    -- false: the current consent no longer reports it
    ADD COLUMN inactive_since timestamptz;
UPDATE accounts SET iban_key = upper(regexp_replace(iban, '[[:space:]-]', '', 'g')) WHERE iban IS NOT NULL AND iban <> '';
CREATE INDEX accounts_customer_iban ON accounts (customer_id, iban_key) WHERE iban_key IS NOT NULL;
-- Before this migration a renewed consent made a second row for the same bank account. Of each such group
-- (same customer, IBAN and currency) the row synced last carries on; the others become inactive, their data kept.
WITH ranked AS (
    SELECT a.id, row_number() OVER (PARTITION BY a.customer_id, a.iban_key, a.currency
                                    ORDER BY w.last_pull_at DESC NULLS LAST, a.updated_at DESC, a.id DESC) AS n
    FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id
    WHERE a.iban_key IS NOT NULL
)
UPDATE accounts a SET active = false, inactive_since = now() FROM ranked r WHERE r.id = a.id AND r.n > 1;

CREATE TABLE account_source_ids (
    account_id         bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    source             text        NOT NULL,
    source_ref         text        NOT NULL,            -- the requisition / consent that reported it
    source_account_id  text        NOT NULL,
    first_seen_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, source_ref, source_account_id)
);
INSERT INTO account_source_ids (account_id, source, source_ref, source_account_id, first_seen_at, last_seen_at)
SELECT a.id, c.source, c.source_ref, a.source_account_id, a.updated_at, a.updated_at
FROM accounts a JOIN customers c ON c.id = a.customer_id;

-- A customer's key generation moves whenever its source, consent or source settings change: stored rows keyed
-- by source ids of an earlier generation may be adopted by content (their ids will not come back).
ALTER TABLE customers ADD COLUMN key_generation integer NOT NULL DEFAULT 1;
CREATE FUNCTION customers_key_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.source IS DISTINCT FROM OLD.source OR NEW.source_ref IS DISTINCT FROM OLD.source_ref
       OR NEW.source_config IS DISTINCT FROM OLD.source_config THEN
        NEW.key_generation := OLD.key_generation + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER customers_key_generation BEFORE UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_key_generation();
-- Source-id keys now include the booking date and amount (DedupKey): every stored row is of the first
-- generation, so the first ingest after this migration recognises re-read rows by content, not as new.
UPDATE customers SET key_generation = 2;

ALTER TABLE transactions
    ADD COLUMN content_key bytea,
    ADD COLUMN key_generation integer NOT NULL DEFAULT 1,
    ADD COLUMN flowpay_id text;

-- One pass over the table: ids as sent so far ("bs_" + the first 16 bytes of the key, in hex), and content keys
-- as DedupKey computes them: SHA-256 over the normalised fields (stored normalised), then
-- SHA-256(fingerprint || ordinal) with ordinals counted per account in arrival (id) order.
WITH fingerprinted AS (
    SELECT account_id, tx_key, id,
           sha256('\x667000'::bytea
                  || convert_to(status, 'UTF8') || '\x1f'::bytea
                  || convert_to(coalesce(to_char(booking_date, 'YYYY-MM-DD'), ''), 'UTF8') || '\x1f'::bytea
                  || convert_to(coalesce(to_char(value_date, 'YYYY-MM-DD'), ''), 'UTF8') || '\x1f'::bytea
                  || convert_to(amount_minor::text, 'UTF8') || '\x1f'::bytea
                  || convert_to(currency, 'UTF8') || '\x1f'::bytea
                  || convert_to(coalesce(counterparty_iban, ''), 'UTF8') || '\x1f'::bytea
                  || convert_to(coalesce(counterparty_name, ''), 'UTF8') || '\x1f'::bytea
                  || convert_to(coalesce(remittance, ''), 'UTF8') || '\x1f'::bytea
                  || convert_to(coalesce(bank_tx_code, ''), 'UTF8')) AS fingerprint
    FROM transactions
), ordered AS (
    SELECT account_id, tx_key,
           sha256(fingerprint || int4send(row_number() OVER (PARTITION BY account_id, fingerprint ORDER BY id)::integer)) AS content_key
    FROM fingerprinted
)
UPDATE transactions t SET content_key = o.content_key, flowpay_id = 'bs_' || encode(substring(t.tx_key FROM 1 FOR 16), 'hex')
FROM ordered o WHERE o.account_id = t.account_id AND o.tx_key = t.tx_key;

-- New rows get a random id when they are stored (kept for ever, whatever their key becomes later): unique
-- across accounts and customers, and never reissued when an edited row's old key comes back for a new booking.
ALTER TABLE transactions ALTER COLUMN flowpay_id SET DEFAULT 'bs_' || replace(gen_random_uuid()::text, '-', '');

ALTER TABLE transactions ALTER COLUMN content_key SET NOT NULL, ALTER COLUMN flowpay_id SET NOT NULL;
CREATE INDEX transactions_content ON transactions (account_id, content_key);

-- Bookings the bank edited (recognised by the ingest, not re-sent) and source ids reused for another booking,
-- per account, for the lag report and /metrics.
ALTER TABLE watermarks
    ADD COLUMN edits bigint NOT NULL DEFAULT 0,
    ADD COLUMN ids_reused bigint NOT NULL DEFAULT 0,
    -- the first sync: days of history asked for, and days back to the oldest booking the source returned
    ADD COLUMN history_requested_days integer,
    ADD COLUMN history_received_days integer;
