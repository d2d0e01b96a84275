import BankSyncCore
import Foundation
import Postgres

/// An account's reconciliation against the bank's booked balances, as stored (`account_reconciliation`).
public struct StoredReconciliation: Sendable, Equatable {
    public var outcome: Reconciliation.Outcome
    public var currency: String?
    /// The range the last reconciliation deep read re-read: booking days from…to.
    public var deepRead: ClosedRange<Day>?
}

/// What one reconciliation found, and what the account had before it.
public struct ReconciliationResult: Sendable, Equatable {
    public var now: StoredReconciliation
    public var before: StoredReconciliation?
    /// Statements sent (all in one round trip each): for the cost report.
    public var roundTrips = 2
}

extension Store {
    /// Reconciles one account after its ingest: two round trips (one when the ingest read ahead) — one statement reads the account's state, its
    /// booked balances and its stored booked rows (amount, the bank's balanceAfterTransaction from the raw row,
    /// held or not) from `checkFrom` (the day before the window just stored) or the earliest day still unsettled,
    /// whichever is earlier, through the `transactions_account_booked` index; one statement stores the verdict.
    /// Days before that were settled by earlier runs and are not read again.
    ///
    /// `verdictIfItFails`: the verdict goes with the session's next statement (`sendWithNextStatement`: one round trip
    /// fewer), and this gets its failure; without it the verdict is written before this returns.
    public func reconcile(account: AccountRef, checkFrom: Day, today: Day,
                          verdictIfItFails: ((any Error) -> Void)? = nil) throws -> ReconciliationResult {
        // Read with the ingest's COMMIT when nothing ran on the session since (`ingest(…, readForReconciliationFrom:)`).
        let readAhead = connection.takeReadAhead(Self.reconciliationReadKey(account: account.id, checkFrom: checkFrom))
        let rows = try readAhead ?? connection.query(Self.reconciliationRead, [account.id, checkFrom], planning: .perExecution)
        var accountCurrency: String?
        var before: StoredReconciliation?
        var balances: [Balance] = []
        var bookings: [(booking: Reconciliation.Booking, currency: String)] = []
        for row in rows {
            switch try row.decode(Int.self, at: 0) {
            case 0:
                accountCurrency = try row.decode(String?.self, at: 4)
                before = try row.decode(String?.self, at: 6).flatMap(Self.storedReconciliation(json:))
            case 1:
                guard let kind = Balance.Kind(rawValue: try row.decode(String.self, at: 3)),
                      let currency = try? Currency(code: try row.decode(String.self, at: 4)),
                      let datedBy = Balance.DatedBy(rawValue: try row.decode(String.self, at: 5)) else { continue }
                balances.append(Balance(kind: kind, amount: Money(minorUnits: try row.decode(Int64.self, at: 2), currency: currency),
                                        referenceDate: try row.decode(Day.self, at: 1), datedBy: datedBy))
            default:
                let currency = try row.decode(String.self, at: 4)
                let after = try row.decode(String?.self, at: 6).flatMap { try? Money(parsing: $0, currencyCode: currency).minorUnits }
                bookings.append((Reconciliation.Booking(day: try row.decode(Day.self, at: 1), amountMinor: try row.decode(Int64.self, at: 2),
                                                        balanceAfterMinor: after, held: try row.decode(Bool.self, at: 7),
                                                        label: try row.decode(String?.self, at: 3)), currency))
            }
        }
        let (balanceAnchors, whyNone) = Reconciliation.anchors(balances, currency: accountCurrency, today: today)
        let currency = accountCurrency ?? balances.first(where: \.isBooked)?.amount.currency.code
        // Rows in another currency than the account's cannot move its balance as stored: left out (and then the
        // balances disagree, which is what ops should see).
        let ledger = bookings.filter { currency == nil || $0.currency == currency }.map(\.booking)
        var chain = Reconciliation.chainAnchors(ledger)
        if before?.outcome.firstDay != nil {
            // The chain's opening (the end of the day before its first day) only starts an account's first check.
            chain.anchors.removeAll { $0.rank == Reconciliation.chainOpeningRank }
        }
        var outcome = Reconciliation.check(anchors: balanceAnchors + chain.anchors, bookings: ledger, chainBreaks: chain.breaks,
                                           whyNone: whyNone ?? Reconciliation.noBookedBalance)
        if let before, outcome.state == .waiting || outcome.state == .notReconcilable,
           before.outcome.state == .reconciled || before.outcome.state == .mismatch {
            // Fewer than two balance days in the days read: nothing new to say; the earlier verdict stands.
            outcome = before.outcome
        }
        if let first = before?.outcome.firstDay, outcome.firstDay.map({ first < $0 }) ?? false { outcome.firstDay = first }
        let verdict = PipelinedStatement("""
            INSERT INTO account_reconciliation AS r (account_id, state, reason, currency, first_day, reconciled_through, mismatch_from,
                                                     mismatch_to, difference_minor, held_minor, chain_break, mismatch_since, checked_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $7::date IS NOT NULL THEN now() END, now())
            ON CONFLICT (account_id) DO UPDATE SET
                state = EXCLUDED.state, reason = EXCLUDED.reason, currency = EXCLUDED.currency, first_day = EXCLUDED.first_day,
                reconciled_through = EXCLUDED.reconciled_through, mismatch_from = EXCLUDED.mismatch_from, mismatch_to = EXCLUDED.mismatch_to,
                difference_minor = EXCLUDED.difference_minor, held_minor = EXCLUDED.held_minor, chain_break = EXCLUDED.chain_break,
                -- the same range disagreeing again keeps its since-when
                mismatch_since = CASE WHEN EXCLUDED.mismatch_from IS NULL THEN NULL
                                      WHEN r.mismatch_from = EXCLUDED.mismatch_from AND r.mismatch_to = EXCLUDED.mismatch_to
                                      THEN r.mismatch_since ELSE now() END,
                checked_at = now()
            """, [account.id, outcome.state.rawValue, outcome.reason, currency, outcome.firstDay, outcome.reconciledThrough,
                  outcome.mismatch?.from, outcome.mismatch?.to, outcome.mismatch?.differenceMinor,
                  outcome.mismatch?.heldMinor ?? outcome.heldMinor, outcome.mismatch?.chainBreak])
        if let verdictIfItFails {
            connection.sendWithNextStatement(verdict) { verdictIfItFails($0) }
        } else {
            _ = try connection.query(verdict.sql, verdict.parameters)
        }
        return ReconciliationResult(now: StoredReconciliation(outcome: outcome, currency: currency, deepRead: before?.deepRead), before: before,
                                    roundTrips: (readAhead == nil ? 1 : 0) + (verdictIfItFails == nil ? 1 : 0))
    }

    /// `reconcile`'s read of one account ($1) from a day ($2), to send ahead with the ingest's COMMIT.
    static func reconciliationRead(account: Int64, checkFrom: Day) -> (statement: PipelinedStatement, key: String) {
        (PipelinedStatement(reconciliationRead, [account, checkFrom], planning: .perExecution),
         reconciliationReadKey(account: account, checkFrom: checkFrom))
    }

    static func reconciliationReadKey(account: Int64, checkFrom: Day) -> String { "reconcile \(account) from \(checkFrom)" }

    /// $1 account, $2 the day to check from (see `reconcile`).
    static let reconciliationRead = """
            WITH prev AS (SELECT * FROM account_reconciliation WHERE account_id = $1),
            s AS (SELECT LEAST($2::date, (SELECT reconciled_through FROM prev), (SELECT mismatch_from FROM prev)) AS day)
            SELECT 0 AS kind, NULL::date, NULL::bigint, NULL::text, (SELECT currency FROM accounts WHERE id = $1), NULL::text,
                   (SELECT row_to_json(prev)::text FROM prev), false, (SELECT day FROM s)
            UNION ALL
            SELECT 1, b.reference_date, b.amount_minor, b.type, b.currency, b.dated_by, NULL, false, NULL
            FROM balances b, s
            WHERE b.account_id = $1 AND b.dated_by IS NOT NULL AND b.reference_date >= s.day
              AND b.type IN ('closingBooked', 'openingBooked', 'interimBooked')
            UNION ALL
            SELECT 2, t.booking_date, t.amount_minor, COALESCE('source id ' || t.source_tx_id, 'booking ' || t.flowpay_id), t.currency, NULL,
                   t.raw #>> '{balanceAfterTransaction,balanceAmount,amount}',
                   t.push_state IS NULL AND EXISTS (SELECT 1 FROM held_transactions h WHERE h.account_id = t.account_id AND h.tx_key = t.tx_key),
                   NULL
            FROM transactions t, s
            WHERE t.account_id = $1 AND t.status = 'booked' AND t.booking_date >= s.day
            """

    /// A reconciliation deep read of `range` is done: the same range is not deep-read again while it disagrees.
    public func noteReconciliationDeepRead(accountID: Int64, range: ClosedRange<Day>) throws {
        try connection.execute("""
            UPDATE account_reconciliation SET deep_read_from = $2, deep_read_to = $3, deep_read_at = now() WHERE account_id = $1
            """, [accountID, range.lowerBound, range.upperBound])
    }

    /// The account's stored reconciliation, nil before its first.
    public func reconciliation(accountID: Int64) throws -> StoredReconciliation? {
        guard let row = try connection.query("SELECT row_to_json(r)::text FROM account_reconciliation r WHERE account_id = $1", [accountID]).first
        else { return nil }
        return Self.storedReconciliation(json: try row.decode(String.self, at: 0))
    }

    /// The reconciliation of each of the customer's active accounts, by account id (the PULL bank-accounts feed).
    public func reconciliations(customerID: Int64) throws -> [Int64: StoredReconciliation] {
        var result: [Int64: StoredReconciliation] = [:]
        for row in try connection.query("""
            SELECT r.account_id, row_to_json(r)::text FROM account_reconciliation r JOIN accounts a ON a.id = r.account_id
            WHERE a.customer_id = $1 AND a.active
            """, [customerID]) {
            if let stored = Self.storedReconciliation(json: try row.decode(String.self, at: 1)) { result[try row.decode(Int64.self, at: 0)] = stored }
        }
        return result
    }

    static func storedReconciliation(json: String) -> StoredReconciliation? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
              let state = (object["state"] as? String).flatMap(Reconciliation.Outcome.State.init(rawValue:)) else { return nil }
        func day(_ key: String) -> Day? { (object[key] as? String).flatMap { Day(iso: $0) } }
        func minor(_ key: String) -> Int64? { (object[key] as? NSNumber)?.int64Value }
        var mismatch: Reconciliation.Mismatch?
        if let from = day("mismatch_from"), let to = day("mismatch_to") {
            mismatch = Reconciliation.Mismatch(from: from, to: to, differenceMinor: minor("difference_minor") ?? 0, heldMinor: minor("held_minor") ?? 0,
                                               chainBreak: object["chain_break"] as? String)
        }
        var deepRead: ClosedRange<Day>?
        if let from = day("deep_read_from"), let to = day("deep_read_to"), from <= to { deepRead = from...to }
        return StoredReconciliation(outcome: Reconciliation.Outcome(state: state, reason: object["reason"] as? String, firstDay: day("first_day"),
                                                                    reconciledThrough: day("reconciled_through"), mismatch: mismatch,
                                                                    heldMinor: mismatch == nil ? minor("held_minor") ?? 0 : 0),
                                    currency: object["currency"] as? String, deepRead: deepRead)
    }
}
