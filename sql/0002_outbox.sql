-- Outbox refinements for crash-safe push.
-- An accounts batch keeps the exact bytes it sends, so a resend after a crash is byte-identical under the
-- same Idempotency-Key even if balances changed meanwhile. (Transaction batches are rebuilt from their
-- rows, which never change once stored.) "Changed since the last successful push" compares with the
-- payload_hash of the customer's last sent accounts batch, so accounts.pushed_hash is not needed.
ALTER TABLE accounts DROP COLUMN pushed_hash;
ALTER TABLE push_batches ADD COLUMN payload bytea;

-- At most one owed bank-accounts-updated signal per customer: it is created in the same transaction that
-- marks data accepted by Flowpay, and sent after the customer's data batches.
CREATE UNIQUE INDEX push_batches_owed_signal ON push_batches (customer_id) WHERE kind = 'updated' AND state = 'sending';
CREATE INDEX transactions_batch ON transactions (push_batch_id) WHERE push_batch_id IS NOT NULL;

-- Ingest speed: the account foreign key of transactions costs a trigger per inserted row on the hottest
-- path. Accounts are only deleted with their customer, and `Store.removeCustomer` deletes the customer's
-- transactions in the same transaction, so the constraint buys nothing the code does not already do.
ALTER TABLE transactions DROP CONSTRAINT transactions_account_id_fkey;
