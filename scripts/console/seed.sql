-- The ops console's browser test (scripts/console-test): a sandbox database whose bookings lie on fixed days
-- (November 2026) and whose consent expiry is relative to now (so "expires within 14 days" holds whenever it runs).
-- Customers: acme (expiring consent, a refused row, a held row, a balance difference), bravo (an unreadable row), and
-- charlie (healthy). Ids are fixed so the test can name them.
BEGIN;
-- acme's consent names its GoCardless institution (stored by the link that made it): a renewal asks the same bank.
INSERT INTO customers (flowpay_customer_id, merchant_id, source, source_ref, source_config, history_days, consent_expires_at, last_sync_at, last_success_at)
VALUES ('0b5c6e2a-1d3f-4c8e-9a7b-0000000000a1', 'acme-<script>', 'gocardless', 'req-acme', '{"institution": "SANDBOXFINANCE_SFIN0000"}', 365,
        now() + interval '5 days 3 hours', now() - interval '2 hours', now() - interval '2 hours'),
       ('0b5c6e2a-1d3f-4c8e-9a7b-0000000000b2', 'bravo', 'berlingroup', 'consent-bravo', '{}', 365, now() + interval '80 days', now() - interval '3 hours', now() - interval '3 hours'),
       ('0b5c6e2a-1d3f-4c8e-9a7b-0000000000c3', 'charlie', 'gocardless', 'req-charlie', '{}', 365, now() + interval '120 days', now() - interval '1 hour', now() - interval '1 hour');

INSERT INTO accounts (customer_id, source_account_id, iban, iban_key, bic, currency, name)
SELECT id, 'acc-' || merchant_id, iban, iban, 'GIBACZPX', 'CZK', 'Business account'
FROM customers JOIN (VALUES ('acme-<script>', 'CZ6508000000192000145399'), ('bravo', 'CZ6907101781240000004159'),
                            ('charlie', 'CZ0708000000001019382023')) v(m, iban) ON v.m = merchant_id;

INSERT INTO watermarks (account_id, booked_through, last_pull_at, last_push_at)
SELECT id, DATE '2026-11-30', now() - interval '2 hours', now() - interval '2 hours' FROM accounts;

-- acme's bookings: 1..30 November, one a day, 100.00 CZK each; the bank's balance is 50.00 higher from 20 November.
INSERT INTO transactions (account_id, customer_id, tx_key, content_key, status, booking_date, value_date, amount_minor, currency,
                          counterparty_name, remittance, push_state, flowpay_id)
SELECT a.id, a.customer_id, sha256(('acme-' || d)::bytea), sha256(('acme-' || d)::bytea), 'booked', DATE '2026-11-01' + d - 1,
       DATE '2026-11-01' + d - 1, 10000, 'CZK', 'Customer ' || d, 'Invoice ' || d, 'pushed', 'bs_acme' || lpad(d::text, 2, '0')
FROM accounts a JOIN customers c ON c.id = a.customer_id, generate_series(1, 30) d WHERE c.merchant_id = 'acme-<script>';

INSERT INTO balances (account_id, type, currency, reference_date, amount_minor, dated_by)
SELECT a.id, 'closingBooked', 'CZK', DATE '2026-11-01' + d - 1, 100000 + d * 10000 + CASE WHEN d >= 20 THEN 5000 ELSE 0 END, 'referenceDate'
FROM accounts a JOIN customers c ON c.id = a.customer_id, generate_series(1, 30) d WHERE c.merchant_id = 'acme-<script>';

INSERT INTO account_reconciliation (account_id, state, currency, first_day, reconciled_through, mismatch_from, mismatch_to, difference_minor,
                                    held_minor, mismatch_since, deep_read_from, deep_read_to, deep_read_at)
SELECT a.id, 'mismatch', 'CZK', DATE '2026-11-01', DATE '2026-11-19', DATE '2026-11-19', DATE '2026-11-20', 5000, 0, now() - interval '1 day',
       DATE '2026-11-20', DATE '2026-11-20', now() - interval '1 day'
FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE c.merchant_id = 'acme-<script>';

-- Two held rows, beside the bookings of 25 and 26 November (a fuller text: maybe the bank's edits of them).
INSERT INTO transactions (account_id, customer_id, tx_key, content_key, status, booking_date, value_date, amount_minor, currency,
                          counterparty_name, remittance, push_state, flowpay_id)
SELECT a.id, a.customer_id, sha256(('acme-held-' || d)::bytea), sha256(('acme-held-' || d)::bytea), 'booked', DATE '2026-11-01' + d - 1,
       DATE '2026-11-01' + d - 1, 10000, 'CZK', 'Customer ' || d || ' s.r.o.', 'Invoice ' || d || ' (paid in full)', NULL, 'bs_acmeheld' || d
FROM accounts a JOIN customers c ON c.id = a.customer_id, generate_series(25, 26) d WHERE c.merchant_id = 'acme-<script>';
INSERT INTO held_transactions (account_id, tx_key, customer_id, reason, candidate_key, held_since)
SELECT a.id, sha256(('acme-held-' || d)::bytea), a.customer_id, 'possible_edit', sha256(('acme-' || d)::bytea), now() - interval '4 days'
FROM accounts a JOIN customers c ON c.id = a.customer_id, generate_series(25, 26) d WHERE c.merchant_id = 'acme-<script>';

-- A row Flowpay refused (422) in its own batch, quarantined.
INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, row_count, state, attempts, http_status, logref, last_error, finished_at)
SELECT id, 'transactions', 'console-test-refused', sha256('refused'::bytea), 1, 'rejected', 1, 422, 'LR-4711', 'amount must not be zero', now() - interval '1 day'
FROM customers WHERE merchant_id = 'acme-<script>';
INSERT INTO transactions (account_id, customer_id, tx_key, content_key, status, booking_date, value_date, amount_minor, currency,
                          counterparty_name, remittance, push_state, push_batch_id, flowpay_id)
SELECT a.id, a.customer_id, sha256('acme-refused'::bytea), sha256('acme-refused'::bytea), 'booked', DATE '2026-11-28', DATE '2026-11-28', 0, 'CZK',
       'Zero <b>Co</b>', 'Fee reversal', 'quarantined', b.id, 'bs_acmerefused'
FROM accounts a JOIN customers c ON c.id = a.customer_id JOIN push_batches b ON b.customer_id = c.id AND b.idempotency_key = 'console-test-refused'
WHERE c.merchant_id = 'acme-<script>';
INSERT INTO push_quarantine (transaction_id, account_id, tx_key, customer_id, batch_id, http_status, logref, message, quarantined_at)
SELECT t.id, t.account_id, t.tx_key, t.customer_id, t.push_batch_id, 422, 'LR-4711', 'amount must not be zero', now() - interval '1 day'
FROM transactions t WHERE t.flowpay_id = 'bs_acmerefused';

-- An unreadable row bravo's bank keeps sending.
INSERT INTO ingest_quarantine (account_id, customer_id, raw_hash, field, reason, raw, first_seen_at, last_seen_at)
SELECT a.id, a.customer_id, sha256('bravo-raw'::bytea), 'transactionAmount.amount', 'not a decimal number: "12,5O"',
       '{"transactionId":"T-77","transactionAmount":{"amount":"12,5O","currency":"CZK"}}', now() - interval '2 days', now() - interval '3 hours'
FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE c.merchant_id = 'bravo';

-- acme's renewal link, sent yesterday and not used yet.
INSERT INTO consent_links (state, flowpay_customer_id, merchant_id, source, source_ref, history_days, created_at, expires_at, link)
VALUES (repeat('ab', 32), '0b5c6e2a-1d3f-4c8e-9a7b-0000000000a1', 'acme-<script>', 'gocardless', 'req-acme-2', 365, now() - interval '1 day',
        now() + interval '6 days', 'https://ob.gocardless.example/psd2/start/req-acme-2/SANDBOXFINANCE_SFIN0000');

-- bravo's Berlin Group consent allows 4 reads a day: all spent today. delta reads Fio banka, whose token's next call
-- (Fio's 30 s rule) is later than now.
UPDATE watermarks w SET reads_on = (now() AT TIME ZONE 'UTC')::date, reads_that_day = 4
FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE a.id = w.account_id AND c.merchant_id = 'bravo';
-- (Registered hours ago: a lag of about a minute would read "59 s" in one report and "1 min" in the next.)
INSERT INTO customers (flowpay_customer_id, merchant_id, source, source_ref, source_config, history_days, created_at, last_sync_at, last_success_at)
VALUES ('0b5c6e2a-1d3f-4c8e-9a7b-0000000000d4', 'delta', 'fio', 'fio-token', '{}', 90, now() - interval '5 hours', now() - interval '10 minutes',
        now() - interval '10 minutes');
INSERT INTO customer_secrets (customer_id, sealed, token_key) SELECT id, '\x00'::bytea, 'fio:console-test' FROM customers WHERE merchant_id = 'delta';
INSERT INTO fio_call_slots (token_key, next_allowed_at, last_call_at, last_status) VALUES ('fio:console-test', now() + interval '1 hour', now(), 409);

INSERT INTO sync_runs (started_at, finished_at, worker, status) VALUES (now() - interval '2 hours 5 minutes', now() - interval '2 hours', 'console-test', 'succeeded');
INSERT INTO sync_events (customer_id, level, code, message, at)
SELECT id, 'info', 'synced', 'synced: 30 new booking(s), 0 edits', now() - interval '2 hours' FROM customers;
INSERT INTO sync_events (customer_id, level, code, message, at)
SELECT id, 'info', 'transactions_held', '1 new booking(s) held: each may be an edit of a stored booking', now() - interval '4 days'
FROM customers WHERE merchant_id = 'acme-<script>';
COMMIT;
