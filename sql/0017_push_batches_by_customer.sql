-- Per-customer lookups of push batches by kind, newest first (the last accounts payload sent, a customer's
-- open or parked batches): without it each was a scan of every customer's batches, measured in a 10,000-customer
-- daily run (Benchmarks/fleet) as most of the database's time, ~100 ms a customer.
CREATE INDEX push_batches_customer_kind ON push_batches (customer_id, kind, id);
