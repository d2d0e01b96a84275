import Foundation
import Postgres

/// Figures for `/metrics`, read from what the workers stored.
public struct StoredFigures: Sendable {
    public var transactionsStored = 0
    public var transactionsPushed = 0
    /// Queued rows the outbox can send (their account has an IBAN and a BIC).
    public var transactionsQueued = 0
    /// Queued rows of accounts without an IBAN or a BIC: they cannot be sent until the account has both.
    public var transactionsUnsendable = 0
    /// Seconds since the oldest sendable queued row arrived (0 when none waits): stuck rows show here.
    public var oldestQueuedSeconds: Double = 0
    public var batchesRejected = 0
    /// Bookings the banks edited after they were stored, and stable ids a source reused for another booking.
    public var transactionsEdited = 0
    public var transactionsQuarantined = 0
    public var lateBookings = 0
    public var sourceIDsReused = 0
    /// Push latency over the last 24 hours (batch recorded → accepted), seconds.
    public var pushLatencyP50: Double = 0
    public var pushLatencyP99: Double = 0
    public var customers: [(merchantID: String, lagSeconds: Int, consentDaysLeft: Int?)] = []
    /// Batches parked after failing in every run (retried after a day, or requeued by ops).
    public var batchesParked = 0
    /// Customers with an open interruption, per reason (`lag --interruptions`).
    public var customersInterrupted: [String: Int] = [:]
    /// Active accounts whose bank balances disagree with the stored bookings, those the bank gives no usable booked
    /// balance for, and the absolute differences in minor units per currency.
    public var accountsUnreconciled = 0
    public var accountsNotReconcilable = 0
    public var reconciliationDifferenceMinor: [String: Int64] = [:]
}

extension Store {
    /// Cheap enough for every scrape: account totals kept by the writers (0008_metrics_counts.sql), the
    /// outbox and batch figures through partial indexes. Nothing here scans `transactions`.
    public func storedFigures() throws -> StoredFigures {
        var figures = StoredFigures()
        if let row = try connection.query("""
            SELECT (SELECT COALESCE(sum(booked_stored), 0)::bigint FROM watermarks),
                   (SELECT COALESCE(sum(booked_pushed), 0)::bigint FROM watermarks),
                   (SELECT count(*) FROM push_queue q JOIN accounts a ON a.id = q.account_id   -- the push queue
                    WHERE a.iban IS NOT NULL AND a.bic IS NOT NULL),
                   (SELECT count(*) FROM push_batches WHERE state = 'rejected'),
                   (SELECT COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)), 0)
                      FROM push_batches WHERE state = 'sent' AND finished_at > now() - interval '24 hours'),
                   (SELECT COALESCE(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)), 0)
                      FROM push_batches WHERE state = 'sent' AND finished_at > now() - interval '24 hours'),
                   (SELECT COALESCE(sum(edits), 0)::bigint FROM watermarks),
                   (SELECT COALESCE(sum(ids_reused), 0)::bigint FROM watermarks),
                   (SELECT count(*) FROM transactions WHERE push_state = 'quarantined'),   -- a partial index
                   (SELECT COALESCE(sum(late_bookings), 0)::bigint FROM watermarks),
                   (SELECT count(*) FROM push_batches WHERE state = 'parked'),
                   (SELECT count(*) FROM push_queue q JOIN accounts a ON a.id = q.account_id
                    WHERE a.iban IS NULL OR a.bic IS NULL),
                   -- Per customer, its first sendable queued row in id (arrival) order, through the push queue's key.
                   (SELECT COALESCE(extract(epoch FROM now() - min(o.arrived_at)), 0)::float8
                    FROM customers c CROSS JOIN LATERAL (
                        SELECT t.arrived_at FROM push_queue q \(Self.queuedTransaction) JOIN accounts a ON a.id = q.account_id
                        WHERE q.customer_id = c.id AND a.iban IS NOT NULL AND a.bic IS NOT NULL
                        ORDER BY q.transaction_id LIMIT 1) o)
            """).first {
            figures.transactionsStored = try row.decode(at: 0)
            figures.transactionsPushed = try row.decode(at: 1)
            figures.transactionsQueued = try row.decode(at: 2)
            figures.batchesRejected = try row.decode(at: 3)
            figures.pushLatencyP50 = try row.decode(at: 4)
            figures.pushLatencyP99 = try row.decode(at: 5)
            figures.transactionsEdited = try row.decode(at: 6)
            figures.sourceIDsReused = try row.decode(at: 7)
            figures.transactionsQuarantined = try row.decode(at: 8)
            figures.lateBookings = try row.decode(at: 9)
            figures.batchesParked = try row.decode(at: 10)
            figures.transactionsUnsendable = try row.decode(at: 11)
            figures.oldestQueuedSeconds = try row.decode(at: 12)
        }
        // One row per account (account_reconciliation), the accounts' primary key for `active`.
        for row in try connection.query("""
            SELECT COALESCE(r.currency, '?'), count(*) FILTER (WHERE r.state = 'mismatch'), count(*) FILTER (WHERE r.state = 'not_reconcilable'),
                   COALESCE(sum(abs(r.difference_minor)) FILTER (WHERE r.state = 'mismatch'), 0)::bigint
            FROM account_reconciliation r JOIN accounts a ON a.id = r.account_id
            WHERE a.active GROUP BY 1
            """) {
            figures.accountsUnreconciled += try row.decode(Int.self, at: 1)
            figures.accountsNotReconcilable += try row.decode(Int.self, at: 2)
            figures.reconciliationDifferenceMinor[try row.decode(String.self, at: 0)] = try row.decode(Int64.self, at: 3)
        }
        for interruption in try interruptions() {
            figures.customersInterrupted[interruption.reason] = interruption.customers.count
        }
        figures.customers = try lagReport().map { ($0.merchantID, $0.lagSeconds, $0.consentDaysLeft) }
        return figures
    }
}
