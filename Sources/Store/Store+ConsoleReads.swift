import BankSyncCore
import Foundation
import Postgres

/// What the ops console reads that no other report does. Every read is one keyset page (never an OFFSET, never a
/// count over transactions) and runs under `withStatementTimeout`.
public struct ConsoleAccount: Sendable, Equatable {
    public var id: Int64
    public var label: String
    public var currency: String?
    public var name: String?
    public var active: Bool
    public var bookedThrough: String?
    public var lastPullAt: Date?
    public var reconciliation: String?
    public var reconciledThrough: String?
}

public struct ConsoleEvent: Sendable, Equatable {
    public var id: Int64
    public var at: Date
    public var level: String
    public var code: String
    public var message: String
    public var logref: String?
    public var account: String?
}

public struct ConsoleRefusedRow: Sendable, Equatable {
    public var transactionID: Int64
    public var flowpayID: String?
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var batchID: Int64?
    public var httpStatus: Int
    public var logref: String?
    public var message: String
    public var since: Date
}

public struct ConsoleConsent: Sendable, Equatable {
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var source: String
    public var status: String
    public var consentExpiresAt: Date?
    public var pausedAt: Date?
    public var pausedReason: String?
    /// The newest renewal link not used and not expired: its state (the link's token) and expiry.
    public var linkState: String?
    public var linkExpiresAt: Date?
    /// That link's bank address (recorded by `banksync link` from migration 0026 on).
    public var link: String?
    public var readsResumeOn: String?
    /// Berlin Group: transaction reads of the most-read active account today (UTC), as the sync engine counted them.
    public var readsToday: Int = 0
    /// Fio: when the token's next call is allowed, when that is later than now.
    public var fioNextCallAt: Date?

    /// Berlin Group reads left today under the consent's `frequencyPerDay`; nil for other sources.
    public var readsLeftToday: Int? {
        source == "berlingroup" ? max(ReadBudget.berlinGroupReadsPerDay - readsToday, 0) : nil
    }
}

public struct ConsoleBalancePoint: Sendable, Equatable {
    public var day: Day
    /// The bank's booked balance at the end of the day.
    public var bankMinor: Int64
    /// The first balance plus every booked amount stored since: what Flowpay holds implies.
    public var impliedMinor: Int64
}

public struct ConsoleReconciliation: Sendable, Equatable {
    public var accountID: Int64
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var label: String
    public var currency: String?
    public var state: String?
    public var reason: String?
    public var reconciledThrough: Day?
    public var mismatchFrom: Day?
    public var mismatchTo: Day?
    public var differenceMinor: Int64?
    public var acknowledgedBy: String?
    public var points: [ConsoleBalancePoint]
}

public struct ConsoleLastRun: Sendable, Equatable {
    public var id: Int64
    public var startedAt: Date
    public var finishedAt: Date?
    public var status: String
    public var error: String?
}

extension Store {
    /// Runs `body` in a read transaction whose statements are cancelled after `milliseconds`: a console page never
    /// holds a connection longer than that per statement.
    public func withStatementTimeout<T>(milliseconds: Int = 3_000, _ body: () throws -> T) async throws -> T {
        try await connection.withTransaction(begin: "BEGIN READ ONLY; SET LOCAL statement_timeout = \(max(milliseconds, 1))") { try body() }
    }

    public func consoleAccounts(customerID: Int64) throws -> [ConsoleAccount] {
        try connection.query("""
            SELECT a.id, COALESCE(a.iban, a.source_account_id), a.currency, a.name, a.active, w.booked_through::text, w.last_pull_at,
                   r.state, r.reconciled_through::text
            FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id LEFT JOIN account_reconciliation r ON r.account_id = a.id
            WHERE a.customer_id = $1 ORDER BY a.active DESC, a.id LIMIT 200
            """, [customerID]).map { row in
            ConsoleAccount(id: try row.decode(at: 0), label: try row.decode(at: 1), currency: try row.decode(at: 2), name: try row.decode(at: 3),
                           active: try row.decode(at: 4), bookedThrough: try row.decode(at: 5), lastPullAt: try row.decode(at: 6),
                           reconciliation: try row.decode(at: 7), reconciledThrough: try row.decode(at: 8))
        }
    }

    /// One customer's events, newest first, one keyset page below event id `before`: syncs, pushes, consent events,
    /// hold decisions, reconciliation checkpoints and console actions (each recorded as an event too).
    public func consoleTimeline(customerID: Int64, before: Int64?, limit: Int) throws -> [ConsoleEvent] {
        try connection.query("""
            SELECT e.id, e.at, e.level, e.code, e.message, e.logref, COALESCE(a.iban, a.source_account_id)
            FROM sync_events e LEFT JOIN accounts a ON a.id = e.account_id
            WHERE e.customer_id = $1 AND ($2::bigint IS NULL OR e.id < $2) ORDER BY e.id DESC LIMIT $3
            """, [customerID, before, limit]).map { row in
            ConsoleEvent(id: try row.decode(at: 0), at: try row.decode(at: 1), level: try row.decode(at: 2), code: try row.decode(at: 3),
                         message: try row.decode(at: 4), logref: try row.decode(at: 5), account: try row.decode(at: 6))
        }
    }

    /// Rows Flowpay refused and that are still quarantined, oldest first, one keyset page after transaction id `after`.
    public func consoleRefusedRows(after: Int64?, limit: Int) throws -> [ConsoleRefusedRow] {
        try connection.query("""
            SELECT q.transaction_id, t.flowpay_id, c.flowpay_customer_id, c.merchant_id, q.batch_id, q.http_status, q.logref, q.message,
                   q.quarantined_at
            FROM push_quarantine q JOIN customers c ON c.id = q.customer_id
            LEFT JOIN transactions t ON t.customer_id = q.customer_id AND t.id = q.transaction_id
            WHERE q.resolved_at IS NULL AND ($1::bigint IS NULL OR q.transaction_id > $1)
            ORDER BY q.transaction_id LIMIT $2
            """, [after, limit]).map { row in
            ConsoleRefusedRow(transactionID: try row.decode(at: 0), flowpayID: try row.decode(at: 1), flowpayCustomerID: try row.decode(at: 2),
                              merchantID: try row.decode(at: 3), batchID: try row.decode(at: 4), httpStatus: try row.decode(at: 5),
                              logref: try row.decode(at: 6), message: try row.decode(at: 7), since: try row.decode(at: 8))
        }
    }

    /// Customers' consents, soonest expiry first, one keyset page after (expiry, merchant) `after`; `withinDays`
    /// keeps only consents expiring within that many days.
    public func consoleConsents(after: (Date, String)?, withinDays: Int?, limit: Int) throws -> [ConsoleConsent] {
        try connection.query("""
            SELECT c.flowpay_customer_id, c.merchant_id, c.source, c.status, c.consent_expires_at, c.paused_at, c.paused_reason,
                   l.state, l.expires_at, l.link,
                   (SELECT min(w.reads_resume_on)::text FROM watermarks w JOIN accounts a ON a.id = w.account_id
                    WHERE a.customer_id = c.id AND w.reads_resume_on > (now() AT TIME ZONE 'UTC')::date),
                   (SELECT COALESCE(max(w.reads_that_day), 0) FROM watermarks w JOIN accounts a ON a.id = w.account_id
                    WHERE a.customer_id = c.id AND a.active AND w.reads_on = (now() AT TIME ZONE 'UTC')::date)::bigint,
                   (SELECT f.next_allowed_at FROM customer_secrets s JOIN fio_call_slots f ON f.token_key = s.token_key
                    WHERE s.customer_id = c.id AND f.next_allowed_at > now())
            FROM customers c
            LEFT JOIN LATERAL (SELECT state, expires_at, link FROM consent_links k
                               WHERE k.flowpay_customer_id = c.flowpay_customer_id AND k.used_at IS NULL AND k.expires_at > now()
                               ORDER BY k.id DESC LIMIT 1) l ON true
            WHERE ($1::timestamptz IS NULL OR (COALESCE(c.consent_expires_at, 'infinity'), c.merchant_id) > ($1, $2::text))
              AND ($3::integer IS NULL OR c.consent_expires_at < now() + make_interval(days => $3))
            ORDER BY COALESCE(c.consent_expires_at, 'infinity'), c.merchant_id LIMIT $4
            """, [after?.0, after?.1, withinDays, limit]).map { row in
            ConsoleConsent(flowpayCustomerID: try row.decode(at: 0), merchantID: try row.decode(at: 1), source: try row.decode(at: 2),
                           status: try row.decode(at: 3), consentExpiresAt: try row.decode(at: 4), pausedAt: try row.decode(at: 5),
                           pausedReason: try row.decode(at: 6), linkState: try row.decode(at: 7), linkExpiresAt: try row.decode(at: 8),
                           link: try row.decode(at: 9), readsResumeOn: try row.decode(at: 10), readsToday: try row.decode(at: 11),
                           fioNextCallAt: try row.decode(at: 12))
        }
    }

    /// Accounts whose balances disagree with the stored bookings and that no operator acknowledged (at this difference).
    public func consoleDifferences(limit: Int) throws -> [ConsoleReconciliation] {
        try connection.query("""
            SELECT r.account_id FROM account_reconciliation r JOIN accounts a ON a.id = r.account_id
            WHERE r.state = 'mismatch' AND a.active
              AND (r.acknowledged_difference IS NULL OR r.acknowledged_difference <> r.difference_minor)
            ORDER BY r.mismatch_since NULLS LAST, r.account_id LIMIT $1
            """, [limit]).compactMap { row in try consoleReconciliation(accountID: try row.decode(at: 0), days: 0) }
    }

    /// An account's reconciliation with its last `days` days of booked balances beside the balance implied by what
    /// Flowpay holds (the first balance of the range plus every booked amount sent or queued since).
    public func consoleReconciliation(accountID: Int64, days: Int = 90) throws -> ConsoleReconciliation? {
        guard let row = try connection.query("""
            SELECT a.id, c.flowpay_customer_id, c.merchant_id, COALESCE(a.iban, a.source_account_id), COALESCE(r.currency, a.currency),
                   r.state, r.reason, r.reconciled_through, r.mismatch_from + 1, r.mismatch_to, r.difference_minor,
                   CASE WHEN r.acknowledged_difference = r.difference_minor THEN r.acknowledged_by END
            FROM accounts a JOIN customers c ON c.id = a.customer_id LEFT JOIN account_reconciliation r ON r.account_id = a.id
            WHERE a.id = $1
            """, [accountID]).first else { return nil }
        let currency = try row.decode(String?.self, at: 4)
        var points: [ConsoleBalancePoint] = []
        if days > 0, let currency {
            // One booked balance per day (closing before interim before opening), the last `days` of them; the implied
            // balance sums the account's booked rows between consecutive balance days (index on account, booking day).
            points = try connection.query("""
                WITH daily AS (
                    SELECT DISTINCT ON (b.reference_date) b.reference_date AS day, b.amount_minor
                    FROM balances b
                    WHERE b.account_id = $1 AND b.currency = $2 AND b.type IN ('closingBooked', 'interimBooked')
                      AND b.reference_date > (now() AT TIME ZONE 'UTC')::date - $3::integer
                    ORDER BY b.reference_date, CASE b.type WHEN 'closingBooked' THEN 0 ELSE 1 END
                ), first AS (SELECT day, amount_minor FROM daily ORDER BY day LIMIT 1)
                SELECT d.day, d.amount_minor,
                       f.amount_minor + COALESCE((SELECT sum(t.amount_minor) FROM transactions t
                                                  WHERE t.account_id = $1 AND t.status = 'booked' AND t.currency = $2
                                                    AND t.push_state = 'pushed'   -- sent or on its way (Store+PushQueue.swift): held and refused rows are not
                                                    AND t.booking_date > f.day AND t.booking_date <= d.day), 0)::bigint
                FROM daily d CROSS JOIN first f ORDER BY d.day
                """, [accountID, currency, days], planning: .perExecution).map { point in
                ConsoleBalancePoint(day: try point.decode(at: 0), bankMinor: try point.decode(at: 1), impliedMinor: try point.decode(at: 2))
            }
        }
        return ConsoleReconciliation(accountID: try row.decode(at: 0), flowpayCustomerID: try row.decode(at: 1), merchantID: try row.decode(at: 2),
                                     label: try row.decode(at: 3), currency: currency, state: try row.decode(at: 5), reason: try row.decode(at: 6),
                                     reconciledThrough: try row.decode(at: 7), mismatchFrom: try row.decode(at: 8), mismatchTo: try row.decode(at: 9),
                                     differenceMinor: try row.decode(at: 10), acknowledgedBy: try row.decode(at: 11), points: points)
    }

    public func consoleLastRun() throws -> ConsoleLastRun? {
        try connection.query("SELECT id, started_at, finished_at, status, error FROM sync_runs ORDER BY id DESC LIMIT 1").first.map { row in
            ConsoleLastRun(id: try row.decode(at: 0), startedAt: try row.decode(at: 1), finishedAt: try row.decode(at: 2),
                           status: try row.decode(at: 3), error: try row.decode(at: 4))
        }
    }

    /// The outbox backlog from the push queue: rows waiting and the oldest one's arrival.
    public func consoleOutboxBacklog() throws -> (waiting: Int, oldest: Date?) {
        guard let row = try connection.query("""
            SELECT count(*), min(arrived_at) FROM (SELECT t.arrived_at FROM push_queue q \(Self.queuedTransaction) LIMIT 100001) w
            """).first else { return (0, nil) }
        return (try row.decode(at: 0), try row.decode(at: 1))
    }
}
