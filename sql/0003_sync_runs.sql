-- Claiming customers for `banksync sync`.
-- last_sync_at: when a worker last claimed the customer; a run only claims customers not claimed since it
-- started, so concurrent workers sync each customer once. lease_pid: the database session holding the
-- customer's advisory lock, so a worker that hangs while connected can be terminated after its lease.
ALTER TABLE customers ADD COLUMN last_sync_at timestamptz;
ALTER TABLE customers ADD COLUMN lease_pid integer;
ALTER TABLE customers ADD COLUMN last_success_at timestamptz;
CREATE INDEX customers_claim ON customers (priority_sync_at NULLS LAST, last_sync_at NULLS FIRST) WHERE status <> 'disabled';
