// SQL conditions on an unaliased `transactions` row for its push state since the push queue (migration 0028,
// Store+PushQueue.swift): queued means in `push_queue`; delivered means push_state 'pushed' and not queued.
// Computed, not stored globals: a lazily initialised global built from another crashed the test process once
// (a race in the one-time initialisation of interpolated string globals under parallel tests).

public var queuedSQL: String {
    "EXISTS (SELECT 1 FROM push_queue pq WHERE pq.customer_id = transactions.customer_id AND pq.transaction_id = transactions.id)"
}

public var deliveredSQL: String { "(push_state = 'pushed' AND NOT " + queuedSQL + ")" }

/// A test's stand-in for Flowpay's 2xx on every row of account `$1` (held rows too, as the tests' shortcut always did).
public var deliverAccountSQL: String {
    "WITH delivered AS (DELETE FROM push_queue WHERE account_id = $1) UPDATE transactions SET push_state = 'pushed' WHERE account_id = $1"
}
