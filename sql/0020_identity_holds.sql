-- Deterministic Flowpay ids (BankSyncCore/FlowpayTransactionID.swift): a new row's id is derived from the
-- customer, the account's identity and the row's key instead of drawn at random, so a booking stored again
-- (into a database restored from a backup) gets the id Flowpay already has. A stored booking that moves to
-- another key (it adopted a new source id, or took the bank's edit) keeps the id derived from its old key; that
-- key is recorded here, and a new booking arriving later under it gets a reissued id — never the same id as
-- another booking. Small: one row per adoption or edit, never per stored row.
-- A new table only: no lock on any busy table beyond the foreign key's brief SHARE ROW EXCLUSIVE on accounts.
CREATE TABLE retired_tx_keys (
    account_id  bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    tx_key      bytea       NOT NULL,
    times       bigint      NOT NULL DEFAULT 1,   -- bookings that held this key and moved on
    retired_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, tx_key)
);

-- When unsure, hold (Store+Holds.swift): a new booked row that may be an edit of a stored booking the fetch did not
-- return — or another booking, the old one missing from one fetch — or the bank's correction of a booking stored under
-- the same source id on a day the fetch did not cover (Store+Corrections.swift), or one of several bookings stored under an
-- earlier consent or source it may be (Store+SourceSwitch.swift), is stored but neither queued for Flowpay
-- (push_state NULL) nor served by the PULL feeds until a later fetch decides, or ops do (`banksync held`).
CREATE TABLE held_transactions (
    account_id     bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    tx_key         bytea       NOT NULL,      -- the held row
    customer_id    bigint      NOT NULL,
    reason         text        NOT NULL CHECK (reason IN ('possible_edit', 'possible_correction', 'possible_duplicate')),
    candidate_key  bytea,                     -- the stored booking it may be an edit of
    held_since     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, tx_key)
);
CREATE INDEX held_transactions_customer ON held_transactions (customer_id);
