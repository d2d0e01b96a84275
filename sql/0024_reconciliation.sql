-- banksync: no-transaction
-- The bank's balances are the evidence (issue 30, Store+Reconciliation.swift). Booked balances were already kept
-- per account, type, currency and day in `balances`; each row's balanceAfterTransaction stays in its raw JSON.
-- New here:
-- * how a balance got its day: `referenceDate`, `lastChangeDateTime` (its date), or `fetched` (the bank sent
--   neither: the day it was read stands in for display, and the balance is never used to reconcile). NULL for
--   rows stored before this migration, which cannot tell a bank's date from the day they were read: reconciliation
--   uses only rows stored from now on (one day of balances is enough to start).
-- * one row per account with its reconciliation state: the first reconcilable day, the day through which the
--   bank's booked balances and the stored booked amounts agree, and the earliest disagreeing range with its
--   difference; the range a reconciliation deep read last re-read, so a range is deep-read once.
-- * an index on an account's booked rows by booking day: reconciliation sums the rows between two balance days
--   of one account (the daily window's days) instead of reading every row of the account.
-- Outside a transaction for CREATE INDEX CONCURRENTLY; every statement can run again after a failure. A nullable
-- column without a default is a catalog change only; the table is new (no lock on busy tables beyond the foreign
-- key's brief SHARE ROW EXCLUSIVE on accounts).
ALTER TABLE balances ADD COLUMN IF NOT EXISTS dated_by text;

CREATE TABLE IF NOT EXISTS account_reconciliation (
    account_id          bigint      PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    state               text        NOT NULL CHECK (state IN ('reconciled', 'waiting', 'mismatch', 'not_reconcilable')),
    reason              text,                   -- not_reconcilable / waiting: why, in words
    currency            text,
    first_day           date,                   -- the first day whose end has a booked balance
    reconciled_through  date,                   -- everything agrees from first_day to the end of this day
    mismatch_from       date,                   -- the earliest disagreeing range: booking days (mismatch_from, mismatch_to]
    mismatch_to         date,
    difference_minor    bigint,                 -- the bank's balance movement minus the stored booked amounts
    held_minor          bigint,                 -- of the stored amounts in that range, rows held from Flowpay (Store+Holds)
    chain_break         text,                   -- where a balanceAfterTransaction chain breaks in that range
    mismatch_since      timestamptz,
    deep_read_from      date,                   -- the range the last reconciliation deep read re-read
    deep_read_to        date,
    deep_read_at        timestamptz,
    checked_at          timestamptz NOT NULL DEFAULT now()
);

DROP INDEX CONCURRENTLY IF EXISTS transactions_account_booked;
CREATE INDEX CONCURRENTLY IF NOT EXISTS transactions_account_booked ON transactions (account_id, booking_date) WHERE status = 'booked';
