import BankSyncCore
import Foundation
import Postgres

/// One row of the sync-lag report.
public struct LagRow: Sendable, Equatable {
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var source: String
    /// Set for per-account rows.
    public var account: String?
    public var accounts: Int
    public var bookedThrough: String?
    public var lastPullAt: Date?
    public var lastPushAt: Date?
    public var waitingToPush: Int
    public var consentDaysLeft: Int?
    public var status: String
    public var lastError: String?
    public var logref: String?
    /// Seconds since the oldest account's last successful pull (since registration when never pulled).
    public var lagSeconds: Int
    /// Bookings the bank edited after they were stored (recognised, not sent again).
    public var edits: Int = 0
    /// Days of history the first sync asked for, and the days it received (its oldest booked day to its
    /// end): the bank may give less than asked (e.g. more than 90 days only right after authentication).
    public var historyRequestedDays: Int?
    public var historyReceivedDays: Int?
    /// Transactions Flowpay refused, quarantined until requeued or dropped.
    public var quarantined: Int = 0
    /// The oldest last deep re-read of the accounts (or the account's).
    public var lastDeepReadAt: Date?
    /// Bookings deep re-reads found late, in all.
    public var lateBookings: Int = 0
    /// New bookings held (stored, neither sent nor merged) until evidence decides what they are (`Store+Holds`),
    /// and since when the oldest waits.
    public var held: Int = 0
    public var heldSince: Date?
    /// Queued transactions that cannot be sent while their account lacks what Flowpay requires (an IBAN, a BIC):
    /// counted here, not in `waitingToPush`, which then only counts rows the outbox can send.
    public var unsendable: Int = 0
    /// Days of history never read (a window after a long consent lapse started later than the last day read),
    /// in all; and whether one was found in the last 30 days (then also an interruption, `history_gap`).
    public var gapDays: Int = 0
    public var recentGap = false
    /// Reconciliation against the bank's booked balances (`Store+Reconciliation`): the last day through which
    /// every reconcilable account agrees (the earliest of them), and in words: `ok`, `waiting` (one balance day
    /// so far), the difference, or why the bank's balances cannot be used.
    public var reconciledThrough: String?
    public var reconciliation: String = "-"
    /// The earliest disagreement: the bank's balance movement minus the stored booked amounts, its currency and
    /// booking days from…to; accounts that disagree.
    public var differenceMinor: Int64?
    public var differenceCurrency: String?
    public var differenceFrom: String?
    public var differenceTo: String?
    public var unreconciledAccounts: Int = 0
}

/// Where a page of the per-customer report starts: after this key, in worst-first order.
public struct LagPageKey: Sendable, Equatable {
    public var severity: Int
    public var pulledMicroseconds: Int64
    public var flowpayCustomerID: UUID

    public init(severity: Int, pulledMicroseconds: Int64, flowpayCustomerID: UUID) {
        self.severity = severity
        self.pulledMicroseconds = pulledMicroseconds
        self.flowpayCustomerID = flowpayCustomerID
    }

    /// `severity.microseconds.uuid`, for a URL.
    public var text: String { "\(severity).\(pulledMicroseconds).\(flowpayCustomerID.uuidString.lowercased())" }

    public init?(text: String) {
        let parts = text.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, let severity = Int(parts[0]), let micros = Int64(parts[1]), let id = UUID(uuidString: String(parts[2])) else { return nil }
        self.init(severity: severity, pulledMicroseconds: micros, flowpayCustomerID: id)
    }
}

/// One page of the per-customer report: at most `limit` customers after `after`, optionally of one source, one
/// status, and whose merchant id or Flowpay customer id contains `text` (case-insensitive).
public struct LagPage: Sendable {
    public var after: LagPageKey?
    public var limit: Int
    public var source: String?
    public var status: String?
    public var text: String?

    public init(after: LagPageKey? = nil, limit: Int, source: String? = nil, status: String? = nil, text: String? = nil) {
        self.after = after
        self.limit = limit
        self.source = source
        self.status = status
        self.text = text
    }
}

/// Where a page of interruptions starts: after this reason and customer.
public struct InterruptionPageKey: Sendable, Equatable {
    public var reason: String
    public var flowpayCustomerID: UUID

    public init(reason: String, flowpayCustomerID: UUID) {
        self.reason = reason
        self.flowpayCustomerID = flowpayCustomerID
    }

    /// `reason.uuid`, for a URL.
    public var text: String { "\(reason).\(flowpayCustomerID.uuidString.lowercased())" }

    public init?(text: String) {
        guard let dot = text.lastIndex(of: "."), let id = UUID(uuidString: String(text[text.index(after: dot)...])) else { return nil }
        self.init(reason: String(text[..<dot]), flowpayCustomerID: id)
    }
}

/// Customers hit by one kind of interruption, as Flowpay asks partners to report them.
public struct Interruption: Sendable, Equatable {
    public var reason: String
    public var customers: [InterruptedCustomer]
}

/// One customer under one interruption: since when, the latest detail, and what the next step depends on.
public struct InterruptedCustomer: Sendable, Equatable {
    public var flowpayCustomerID: UUID
    public var merchantID: String
    /// `gocardless` or `berlingroup`: the link that renews a consent differs.
    public var source: String
    public var since: Date
    public var message: String
    /// The latest logref, and every distinct one (refused rows carry one per refused batch).
    public var logref: String?
    public var logrefs: [String]
    /// When BankSync tries again by itself, where it knows: a read budget's next day, a parked batch's retry.
    public var retryAt: Date?

    public static func == (lhs: InterruptedCustomer, rhs: InterruptedCustomer) -> Bool {
        lhs.flowpayCustomerID == rhs.flowpayCustomerID && lhs.since == rhs.since && lhs.message == rhs.message
    }
}

extension Store {
    /// Per customer (or per account), worst first: failing and expired before stale before fresh, then by lag.
    /// `flowpayCustomerID`: only that customer's row (the ops console's customer page), planned for it.
    public func lagReport(perAccount: Bool = false, flowpayCustomerID: UUID? = nil) throws -> [LagRow] {
        try lagRows(perAccount: perAccount, flowpayCustomerID: flowpayCustomerID, page: nil).map(\.row)
    }

    /// One keyset page of the per-customer report, worst first (the ops console's Customers): customers after `page.after`
    /// in (severity, oldest last pull, customer id) order, filtered by source, status and merchant or id text. Each
    /// row comes with its key, for the next page's `after`.
    public func lagReportPage(_ page: LagPage) throws -> [(row: LagRow, key: LagPageKey)] {
        try lagRows(perAccount: false, flowpayCustomerID: nil, page: page).map { ($0.row, $0.key) }
    }

    private func lagRows(perAccount: Bool, flowpayCustomerID: UUID?, page: LagPage?) throws -> [(row: LagRow, key: LagPageKey)] {
        let text = page?.text.map { "%" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                                            .replacingOccurrences(of: "_", with: "\\_") + "%" }
        let rows = try connection.query("""
            WITH account_state AS (
                SELECT a.id, a.customer_id, a.active, COALESCE(a.iban, a.source_account_id) AS label, w.booked_through, w.last_pull_at, w.last_push_at,
                       -- Rows of an account without an IBAN or BIC cannot be sent: their own column, not "waiting".
                       CASE WHEN a.iban IS NOT NULL AND a.bic IS NOT NULL THEN q.queued ELSE 0 END AS waiting,
                       CASE WHEN a.iban IS NULL OR a.bic IS NULL THEN q.queued ELSE 0 END AS unsendable,
                       a.iban IS NOT NULL AND a.bic IS NULL AS missing_bic,
                       COALESCE(w.edits, 0) AS edits,
                       (SELECT count(*) FROM transactions t
                        WHERE t.customer_id = a.customer_id AND t.account_id = a.id AND t.push_state = 'quarantined') AS quarantined,
                       w.history_requested_days AS history_requested, w.history_received_days AS history_received,
                       w.last_rescan_at, COALESCE(w.late_bookings, 0) AS late_bookings, hd.held, hd.held_since,
                       COALESCE(w.gap_days, 0) AS gap_days, w.last_gap_at > now() - interval '30 days' AS recent_gap,
                       r.state AS rec_state, r.reason AS rec_reason, r.reconciled_through, r.mismatch_from, r.mismatch_to,
                       r.difference_minor, r.currency AS rec_currency
                FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id
                LEFT JOIN account_reconciliation r ON r.account_id = a.id
                CROSS JOIN LATERAL (SELECT count(*) AS queued FROM push_queue pq
                                    WHERE pq.customer_id = a.customer_id AND pq.account_id = a.id) q
                CROSS JOIN LATERAL (SELECT count(*) AS held, min(h.held_since) AS held_since FROM held_transactions h
                                    WHERE h.account_id = a.id) hd
                -- An account the current consent no longer reports is not lagging, but rows of it still waiting for
                -- Flowpay or refused by it are counted (its freshness is not: FILTER (WHERE s.active) below).
                WHERE ($3::uuid IS NULL OR a.customer_id = (SELECT id FROM customers WHERE flowpay_customer_id = $3))
                  AND (a.active OR hd.held > 0 OR q.queued > 0
                       OR EXISTS (SELECT 1 FROM transactions t WHERE t.customer_id = a.customer_id AND t.account_id = a.id
                                                               AND t.push_state = 'quarantined'))
            ), problem AS (
                SELECT DISTINCT ON (e.customer_id) e.customer_id, e.code, e.message, e.logref
                FROM sync_events e JOIN customers c ON c.id = e.customer_id
                WHERE e.level IN ('warning', 'error') AND e.code NOT IN ('rejected_rows', 'unreadable_rows')   -- quarantines count below
                  AND ($3::uuid IS NULL OR c.flowpay_customer_id = $3)
                  AND (c.last_success_at IS NULL OR e.at > c.last_success_at - interval '1 second')
                  AND e.at >= COALESCE((SELECT max(s.at) FROM sync_events s WHERE s.customer_id = e.customer_id AND s.code = 'synced'), '-infinity')
                ORDER BY e.customer_id, e.at DESC
            ), grouped AS (
                SELECT c.id, c.flowpay_customer_id, c.merchant_id, c.source, c.status, c.created_at, c.consent_expires_at, c.paused_at,
                       CASE WHEN $1 THEN s.label END AS account,
                       count(s.id) FILTER (WHERE s.active) AS accounts, count(s.id) AS listed,
                       min(s.booked_through) FILTER (WHERE s.active) AS booked_through,
                       CASE WHEN bool_or(s.last_pull_at IS NULL) FILTER (WHERE s.active) THEN NULL
                            ELSE min(s.last_pull_at) FILTER (WHERE s.active) END AS last_pull_at,
                       max(s.last_push_at) AS last_push_at, COALESCE(sum(s.waiting), 0) AS waiting,
                       COALESCE(sum(s.edits) FILTER (WHERE s.active), 0) AS edits, COALESCE(sum(s.quarantined), 0) AS quarantined,
                       max(s.history_requested) FILTER (WHERE s.active) AS history_requested,
                       min(s.history_received) FILTER (WHERE s.active) AS history_received,
                       min(s.last_rescan_at) FILTER (WHERE s.active) AS last_rescan_at,
                       COALESCE(sum(s.late_bookings) FILTER (WHERE s.active), 0) AS late_bookings,
                       COALESCE(sum(s.held), 0) AS held, min(s.held_since) AS held_since,
                       COALESCE(sum(s.unsendable), 0) AS unsendable,
                       count(s.id) FILTER (WHERE s.active AND s.missing_bic) AS missing_bic,
                       COALESCE(sum(s.gap_days), 0) AS gap_days, COALESCE(bool_or(s.recent_gap), false) AS recent_gap,
                       min(s.reconciled_through) FILTER (WHERE s.active AND s.rec_state IN ('reconciled', 'mismatch')) AS reconciled_through,
                       count(*) FILTER (WHERE s.active AND s.rec_state = 'mismatch') AS mismatched,
                       count(*) FILTER (WHERE s.active AND s.rec_state = 'not_reconcilable') AS not_reconcilable,
                       count(*) FILTER (WHERE s.active AND s.rec_state = 'waiting') AS waiting_balances,
                       count(*) FILTER (WHERE s.active AND s.rec_state IS NOT NULL) AS checked,
                       (array_agg(s.rec_reason) FILTER (WHERE s.active AND s.rec_state = 'not_reconcilable'))[1] AS rec_reason,
                       (array_agg(s.difference_minor ORDER BY s.mismatch_from) FILTER (WHERE s.active AND s.rec_state = 'mismatch'))[1] AS difference,
                       (array_agg(s.rec_currency ORDER BY s.mismatch_from) FILTER (WHERE s.active AND s.rec_state = 'mismatch'))[1] AS difference_currency,
                       min(s.mismatch_from) FILTER (WHERE s.active AND s.rec_state = 'mismatch') AS mismatch_from,
                       (array_agg(s.mismatch_to ORDER BY s.mismatch_from) FILTER (WHERE s.active AND s.rec_state = 'mismatch'))[1] AS mismatch_to
                FROM customers c LEFT JOIN account_state s ON s.customer_id = c.id
                WHERE $3::uuid IS NULL OR c.flowpay_customer_id = $3
                GROUP BY c.id, CASE WHEN $1 THEN s.label END
            ), report AS (
            SELECT g.flowpay_customer_id, g.merchant_id, g.source, g.account, g.accounts::bigint, g.booked_through::text,
                   g.last_pull_at, g.last_push_at, g.waiting::bigint,
                   CASE WHEN g.consent_expires_at IS NULL THEN NULL
                        ELSE floor(extract(epoch FROM g.consent_expires_at - now()) / 86400)::integer END AS consent_days_left,
                   g.status, p.code, p.message, p.logref,
                   -- An account row (per account) of an account the consent no longer reports, listed for its rows
                   -- waiting for or refused by Flowpay, is not lagging: its rows say what is wrong, not an SLA alarm.
                   CASE WHEN $1 AND g.accounts = 0 AND g.listed > 0 THEN 0
                        ELSE floor(extract(epoch FROM now() - COALESCE(g.last_pull_at, g.created_at)))::bigint END AS lag_seconds,
                   g.edits::bigint, g.history_requested, g.history_received, g.quarantined::bigint,
                   q.message, q.logref, pb.parked, g.last_rescan_at, g.late_bookings::bigint, g.held::bigint, g.held_since,
                   g.held_since < now() - make_interval(secs => $2) AS held_too_long, g.unsendable::bigint, g.missing_bic::bigint,
                   g.gap_days::bigint, g.recent_gap,
                   g.reconciled_through::text, g.mismatched::bigint, g.not_reconcilable::bigint, g.waiting_balances::bigint, g.checked::bigint,
                   g.rec_reason, g.difference, g.difference_currency, (g.mismatch_from + 1)::text, g.mismatch_to::text,
                   g.paused_at IS NOT NULL,
                   -- Worst first: failing and expired before stale before fresh.
                   CASE WHEN g.status <> 'active' OR g.paused_at IS NOT NULL THEN 0
                        WHEN p.code IS NOT NULL OR g.quarantined > 0 OR pb.parked > 0 OR g.held_since < now() - make_interval(secs => $2)
                             OR g.missing_bic > 0 OR g.recent_gap THEN 1
                        ELSE 2 END AS severity,
                   -- The lag's start, exact (microseconds): a page key that does not move as time passes.
                   (extract(epoch FROM COALESCE(g.last_pull_at, g.created_at)) * 1000000)::bigint AS pulled_us,
                   -- The status `lag` shows: a paused customer (ops console) is not synced, whatever was last recorded;
                   -- refused rows keep the customer "rejected" until they are delivered or dropped, clean runs or not.
                   CASE WHEN g.paused_at IS NOT NULL THEN 'paused' WHEN g.status <> 'active' THEN g.status
                        ELSE COALESCE(p.code, CASE WHEN g.quarantined > 0 THEN 'rejected' WHEN pb.parked > 0 THEN 'batch_parked'
                                                   WHEN g.held_since < now() - make_interval(secs => $2) THEN 'held'
                                                   WHEN g.missing_bic > 0 THEN 'missing_bic' WHEN g.recent_gap THEN 'history_gap' END, 'ok') END AS shown_status
            FROM grouped g LEFT JOIN problem p ON p.customer_id = g.id
            LEFT JOIN LATERAL (SELECT count(*) AS parked FROM push_batches WHERE customer_id = g.id AND state = 'parked') pb ON true
            LEFT JOIN LATERAL (SELECT message, logref FROM push_quarantine
                               WHERE customer_id = g.id AND resolved_at IS NULL ORDER BY quarantined_at DESC LIMIT 1) q ON true
            )
            SELECT * FROM report r
            WHERE ($4::integer IS NULL OR (r.severity, r.pulled_us, r.flowpay_customer_id) > ($4, $5::bigint, $6::uuid))
              AND ($7::text IS NULL OR r.source = $7) AND ($9::text IS NULL OR r.shown_status = $9)
              AND ($8::text IS NULL OR r.merchant_id ILIKE $8 OR r.flowpay_customer_id::text ILIKE $8)
            -- `lag`'s order (by the lag in whole seconds, then merchant); a page's order is its key's.
            ORDER BY r.severity, CASE WHEN $10 THEN NULL ELSE r.lag_seconds END DESC, CASE WHEN $10 THEN NULL ELSE r.merchant_id END,
                     CASE WHEN $10 THEN NULL ELSE r.account END, r.pulled_us, r.flowpay_customer_id
            LIMIT $11
            """, [perAccount, Self.holdLimit, flowpayCustomerID, page?.after?.severity, page?.after?.pulledMicroseconds, page?.after?.flowpayCustomerID,
                  page?.source, text, page?.status, page != nil, page?.limit],
            planning: flowpayCustomerID == nil && page == nil ? .cached : .perExecution)
        return try rows.map { row in
            let quarantineMessage = try row.decode(String?.self, at: 19)
            let key = LagPageKey(severity: try row.decode(at: 42), pulledMicroseconds: try row.decode(at: 43), flowpayCustomerID: try row.decode(at: 0))
            return (LagRow(flowpayCustomerID: try row.decode(at: 0), merchantID: try row.decode(at: 1), source: try row.decode(at: 2),
                          account: try row.decode(at: 3), accounts: try row.decode(at: 4), bookedThrough: try row.decode(at: 5),
                          lastPullAt: try row.decode(at: 6), lastPushAt: try row.decode(at: 7), waitingToPush: try row.decode(at: 8),
                          consentDaysLeft: try row.decode(at: 9),
                          status: try row.decode(at: 44),
                          lastError: try row.decode(String?.self, at: 12) ?? quarantineMessage,
                          logref: try row.decode(String?.self, at: 13) ?? row.decode(String?.self, at: 20), lagSeconds: try row.decode(at: 14),
                          edits: try row.decode(at: 15), historyRequestedDays: try row.decode(at: 16), historyReceivedDays: try row.decode(at: 17),
                          quarantined: try row.decode(at: 18), lastDeepReadAt: try row.decode(at: 22), lateBookings: try row.decode(at: 23),
                          held: try row.decode(at: 24), heldSince: try row.decode(at: 25), unsendable: try row.decode(at: 27),
                          gapDays: try row.decode(at: 29), recentGap: try row.decode(at: 30),
                          reconciledThrough: try row.decode(at: 31), reconciliation: try Self.reconciliationWords(row),
                          differenceMinor: try row.decode(at: 37), differenceCurrency: try row.decode(at: 38), differenceFrom: try row.decode(at: 39),
                          differenceTo: try row.decode(at: 40), unreconciledAccounts: try row.decode(at: 32)), key)
        }
    }

    /// The reconciliation column in words: the earliest difference first, then why balances cannot be used, then
    /// `waiting`, else `ok` (`-` when no account was checked yet).
    static func reconciliationWords(_ row: Row) throws -> String {
        let mismatched = try row.decode(Int.self, at: 32)
        let notReconcilable = try row.decode(Int.self, at: 33)
        let waiting = try row.decode(Int.self, at: 34)
        let checked = try row.decode(Int.self, at: 35)
        if mismatched > 0, let difference = try row.decode(Int64?.self, at: 37) {
            let range = "\(try row.decode(String?.self, at: 39) ?? "?")…\(try row.decode(String?.self, at: 40) ?? "?")"
            return "\(Reconciliation.minorText(difference)) \(try row.decode(String?.self, at: 38) ?? "") \(range)"
                + (mismatched > 1 ? " (+\(mismatched - 1) account(s))" : "")
        }
        if checked == 0 { return "-" }
        if notReconcilable == checked { return try row.decode(String?.self, at: 36) ?? Reconciliation.noBookedBalance }
        var words = waiting == checked ? "waiting" : "ok"
        if notReconcilable > 0 { words += " (\(notReconcilable) not reconcilable)" }
        return words
    }

    /// Customers whose data is interrupted, grouped by reason, each with since-when: consent expired, bank
    /// unavailable, rate limited, rejected by Flowpay (and any other recorded problem code).
    public func interruptions() throws -> [Interruption] {
        try interruptions(after: nil, limit: nil).interruptions
    }

    /// One keyset page of the interruptions (the ops console's Needs attention): at most `limit` (reason, customer)
    /// lines after `after`, in (reason, Flowpay customer id) order, and where the next page starts (nil: this is the
    /// last). A nil `limit` gives them all, by reason and since.
    public func interruptions(after: InterruptionPageKey?, limit: Int?) throws -> (interruptions: [Interruption], next: InterruptionPageKey?) {
        let rows = try connection.query("""
            SELECT * FROM (
            WITH current AS (
                SELECT c.id, c.flowpay_customer_id, c.merchant_id, c.status, c.source,
                       COALESCE((SELECT max(s.at) FROM sync_events s WHERE s.customer_id = c.id AND s.code = 'synced'), '-infinity') AS ok_at
                FROM customers c
            )
            SELECT e.code, cur.flowpay_customer_id, cur.merchant_id, cur.source, min(e.at) AS since,
                   (array_agg(e.message ORDER BY e.at DESC))[1] AS message,
                   (array_agg(e.logref ORDER BY e.at DESC) FILTER (WHERE e.logref IS NOT NULL))[1] AS logref,
                   string_agg(DISTINCT e.logref, ' ') AS logrefs,
                   -- an account out of read budget is asked again on its resume day (UTC midnight)
                   CASE WHEN e.code = 'rate_limited' THEN
                       (SELECT min(w.reads_resume_on)::timestamp AT TIME ZONE 'UTC' FROM watermarks w JOIN accounts a ON a.id = w.account_id
                        WHERE a.customer_id = cur.id AND w.reads_resume_on > (now() AT TIME ZONE 'UTC')::date) END AS retry_at
            FROM sync_events e JOIN current cur ON cur.id = e.customer_id
            WHERE e.level IN ('warning', 'error') AND (e.at > cur.ok_at OR (cur.status = 'consent_expired' AND e.code = 'consent_expired'))
              AND e.code NOT IN ('rejected_rows', 'unreadable_rows', 'batch_parked')   -- shown from the tables below
            GROUP BY e.code, cur.id, cur.flowpay_customer_id, cur.merchant_id, cur.source
            UNION ALL
            -- Refused rows stay an interruption until delivered or dropped, whatever ran since.
            SELECT 'rejected', c.flowpay_customer_id, c.merchant_id, c.source, min(q.quarantined_at),
                   count(*) || ' transaction(s) refused by Flowpay, quarantined: ' || (array_agg(q.message ORDER BY q.quarantined_at DESC))[1],
                   (array_agg(q.logref ORDER BY q.quarantined_at DESC) FILTER (WHERE q.logref IS NOT NULL))[1],
                   string_agg(DISTINCT q.logref, ' '), NULL
            FROM push_quarantine q JOIN customers c ON c.id = q.customer_id
            WHERE q.resolved_at IS NULL
            GROUP BY c.flowpay_customer_id, c.merchant_id, c.source
            UNION ALL
            -- Rows a source keeps sending that cannot be read, while they keep coming back.
            SELECT 'unreadable_rows', c.flowpay_customer_id, c.merchant_id, c.source, min(u.first_seen_at),
                   count(*) || ' row(s) the source sent could not be read, quarantined: '
                       || (array_agg(u.field || ': ' || u.reason ORDER BY u.last_seen_at DESC))[1],
                   NULL, NULL, NULL
            FROM ingest_quarantine u JOIN customers c ON c.id = u.customer_id
            WHERE u.last_seen_at > now() - interval '30 days' AND u.dismissed_at IS NULL
            GROUP BY c.flowpay_customer_id, c.merchant_id, c.source
            UNION ALL
            -- Rows held longer than the hold limit: no fetch decided them, ops must (`banksync held`).
            SELECT 'held', c.flowpay_customer_id, c.merchant_id, c.source, min(h.held_since),
                   count(*) || ' new booking(s) held: each may be an edit of a stored booking or another booking, and no fetch has decided',
                   NULL, NULL, NULL
            FROM held_transactions h JOIN customers c ON c.id = h.customer_id
            WHERE h.held_since < now() - make_interval(secs => $1)
            GROUP BY c.flowpay_customer_id, c.merchant_id, c.source
            UNION ALL
            -- Balances that disagree with the transactions after the one deep read of that range: until they agree.
            SELECT 'unreconciled', c.flowpay_customer_id, c.merchant_id, c.source, min(r.mismatch_since),
                   (array_agg('the bank''s balances disagree with its transactions between ' || (r.mismatch_from + 1) || ' and ' || r.mismatch_to
                              || ' by ' || to_char(r.difference_minor / 100.0, 'FM999999999999990.00') || ' ' || COALESCE(r.currency, '')
                              || ' (account ' || COALESCE(a.iban, a.source_account_id) || ')' ORDER BY r.mismatch_from))[1]
                       || CASE WHEN count(*) > 1 THEN ' and ' || (count(*) - 1) || ' more account(s)' ELSE '' END,
                   NULL, NULL, NULL
            FROM account_reconciliation r JOIN accounts a ON a.id = r.account_id JOIN customers c ON c.id = a.customer_id
            WHERE r.state = 'mismatch' AND a.active AND r.deep_read_from = r.mismatch_from + 1 AND r.deep_read_to = r.mismatch_to
            GROUP BY c.flowpay_customer_id, c.merchant_id, c.source
            UNION ALL
            -- Accounts with an IBAN but no BIC (the bank gave none, its bank code is not in BankCodeDirectory): left
            -- out of the accounts call, their transactions waiting with them, until the BIC is known.
            SELECT 'missing_bic', c.flowpay_customer_id, c.merchant_id, c.source, min(COALESCE(o.since, a.updated_at)),
                   count(*) || ' account(s) without a BIC are not sent to Flowpay, ' || COALESCE(sum(o.waiting), 0)
                       || ' transaction(s) wait with them: ' || string_agg(a.iban, ', ' ORDER BY a.iban),
                   NULL, NULL, NULL
            FROM accounts a JOIN customers c ON c.id = a.customer_id
            CROSS JOIN LATERAL (SELECT count(*) AS waiting, min(t.arrived_at) AS since FROM push_queue q \(Self.queuedTransaction)
                                WHERE q.customer_id = a.customer_id AND q.account_id = a.id) o
            WHERE a.active AND a.iban IS NOT NULL AND a.bic IS NULL
            GROUP BY c.flowpay_customer_id, c.merchant_id, c.source
            UNION ALL
            -- Days never read after a long consent lapse (CustomerSync), for 30 days after they were found: the source
            -- allows no further back, so only the customer's bank statements can fill them.
            SELECT 'history_gap', c.flowpay_customer_id, c.merchant_id, c.source, min(w.last_gap_at),
                   string_agg(COALESCE(a.iban, a.source_account_id) || ': ' || (w.last_gap_to - w.last_gap_from + 1) || ' day(s) never read ('
                              || w.last_gap_from || ' to ' || w.last_gap_to || ')', '; ' ORDER BY a.id)
                       || ' — the window after the consent lapse could reach no further back',
                   NULL, NULL, NULL
            FROM watermarks w JOIN accounts a ON a.id = w.account_id JOIN customers c ON c.id = a.customer_id
            WHERE w.last_gap_at > now() - interval '30 days'
            GROUP BY c.flowpay_customer_id, c.merchant_id, c.source
            UNION ALL
            -- Batches that kept failing, or that Flowpay refused for the customer: parked until ops requeue them (or a
            -- day passes and they are tried again); the newest one's reason is shown (Flowpay's, for a refusal).
            SELECT 'batch_parked', c.flowpay_customer_id, c.merchant_id, c.source, min(b.finished_at),
                   count(*) || ' batch(es) parked: ' || (array_agg(coalesce(b.last_error, '?') ORDER BY b.id DESC))[1],
                   -- transaction batches are retried a day after parking; an accounts batch waits for ops
                   NULL, NULL, min(b.finished_at) FILTER (WHERE b.kind <> 'accounts') + interval '1 day'
            FROM push_batches b JOIN customers c ON c.id = b.customer_id
            WHERE b.state = 'parked'
            GROUP BY c.flowpay_customer_id, c.merchant_id, c.source
            ) i
            WHERE $2::text IS NULL OR (i.code, i.flowpay_customer_id) > ($2, $3::uuid)
            ORDER BY i.code, CASE WHEN $4 THEN NULL ELSE i.since END, i.flowpay_customer_id
            LIMIT $5
            """, [Self.holdLimit, after?.reason, after?.flowpayCustomerID, limit != nil, limit])
        var groups: [Interruption] = []
        var last: InterruptionPageKey?
        for row in rows {
            last = InterruptionPageKey(reason: try row.decode(at: 0), flowpayCustomerID: try row.decode(at: 1))
            let reason = try row.decode(String.self, at: 0)
            let logrefs = try row.decode(String?.self, at: 7)?.split(separator: " ").map(String.init) ?? []
            let entry = InterruptedCustomer(flowpayCustomerID: try row.decode(at: 1), merchantID: try row.decode(at: 2), source: try row.decode(at: 3),
                                            since: try row.decode(at: 4), message: try row.decode(at: 5), logref: try row.decode(at: 6),
                                            logrefs: logrefs, retryAt: try row.decode(at: 8))
            if let index = groups.firstIndex(where: { $0.reason == reason }) {
                // One line per customer and reason (a refusal can come both as an event and as quarantined rows).
                if let known = groups[index].customers.firstIndex(where: { $0.flowpayCustomerID == entry.flowpayCustomerID }) {
                    let merged = groups[index].customers[known].logrefs + entry.logrefs.filter { !groups[index].customers[known].logrefs.contains($0) }
                    groups[index].customers[known].logrefs = merged
                    continue
                }
                groups[index].customers.append(entry)
            } else {
                groups.append(Interruption(reason: reason, customers: [entry]))
            }
        }
        return (groups, limit != nil && Int(rows.rowCount) == limit ? last : nil)
    }
}
