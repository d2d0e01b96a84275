import BankSyncCore
import Foundation
import Postgres

/// A stored booking neither sent nor merged because BankSync cannot yet tell what it is.
public struct HeldTransaction: Sendable, Equatable {
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var account: String
    /// The held row's Flowpay id: what `banksync held release|merge` name it by.
    public var flowpayID: String
    public var bookingDate: Day
    public var amountMinor: Int64
    public var currency: String
    public var counterpartyName: String?
    public var remittance: String?
    public var reason: String
    public var since: Date
    /// The stored booking it may be an edit of (sent to Flowpay, or queued), when it still exists.
    public var candidate: Candidate?
    /// Its place in the oldest-first order (held since, in microseconds; its transaction id): a page starts after it.
    public var pageKey = PageKey(sinceMicroseconds: 0, transactionID: 0)

    public struct PageKey: Sendable, Equatable {
        public var sinceMicroseconds: Int64
        public var transactionID: Int64

        public init(sinceMicroseconds: Int64, transactionID: Int64) {
            self.sinceMicroseconds = sinceMicroseconds
            self.transactionID = transactionID
        }

        /// `microseconds.id`, for a URL.
        public var text: String { "\(sinceMicroseconds).\(transactionID)" }

        public init?(text: String) {
            let parts = text.split(separator: ".")
            guard parts.count == 2, let since = Int64(parts[0]), let id = Int64(parts[1]) else { return nil }
            self.init(sinceMicroseconds: since, transactionID: id)
        }
    }

    public struct Candidate: Sendable, Equatable {
        public var flowpayID: String
        public var counterpartyName: String?
        public var remittance: String?
    }
}

/// What reviewing an account's holds against one fetch decided.
struct HoldReview {
    /// The booking it resembled came back too: a new booking, queued for Flowpay.
    var released = 0
    /// Their keys, 32 bytes each: stored "by this transaction" now (for the feeds), yet not this fetch's new rows.
    var releasedKeys: [UInt8] = []
    /// The old version stayed away a second fetch running: the bank edited it; the stored row took the new content.
    var confirmedEdits = 0
    /// Confirmed corrections of delivered bookings: queued again, out of the account's delivered count.
    var redelivered = 0
    /// The bank no longer reports the held row: deleted, never sent (stored again as new if it comes back).
    var withdrawn = 0
}

public enum HoldError: Error, CustomStringConvertible, Equatable {
    case notHeld(flowpayID: String)
    case noCandidate(flowpayID: String)

    public var description: String {
        switch self {
        case .notHeld(let id): "no held transaction has Flowpay id \(id) (banksync held list shows them)"
        case .noCandidate(let id): "held transaction \(id) has no stored booking to merge into (gone, held, or not of its account): "
            + "name one with --into, or release it"
        }
    }
}

extension Store {
    /// How long a row may wait for evidence before it is an interruption ops must decide.
    public static let holdLimit: TimeInterval = 3 * 86_400

    /// Inside an ingest's transaction, after its rows are stored: a booked row of the window that this fetch no longer
    /// returned, and a booked row this ingest stored on the same day with the same amount and currency, both keyed by
    /// content, may be one booking the bank edited (a fuller text, a counterparty added) — or the old row is missing
    /// from this one fetch (a truncated page, a value-date filter) and the new row is another booking. One fetch
    /// cannot tell, so the new row is **held**: stored, not queued for Flowpay, not served by the PULL feeds, shown
    /// in `lag` (`held`). `reviewHolds` decides on a later fetch. Returns how many rows it held.
    /// `released`: keys of rows `reviewHolds` released in this transaction (not new rows of this fetch); `read`:
    /// `editPairs`' rows when already read (`identityReads`).
    func holdPossibleEdits(account: AccountRef, window: SyncWindow, fetchedBookedKeys: [UInt8], released: [UInt8],
                           runID: Int64?, read: QueryResult? = nil) throws -> Int {
        // Planned for its window every time: a generic plan read the whole account (Planning.perExecution).
        let pairs = try (read ?? connection.query(Self.editPairs, [account.id, fetchedBookedKeys, window.from, window.to, account.customerID,
                                                                  released], planning: .perExecution)).map {
            (old: try $0.decode([UInt8].self, at: 0), new: try $0.decode([UInt8].self, at: 1))
        }
        for pair in pairs {
            try connection.execute(Self.holdRow, [account.id, pair.new, account.customerID, pair.old])
        }
        if !pairs.isEmpty {
            try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "transactions_held",
                            message: "\(pairs.count) new booking(s) held: each may be an edit of a stored booking this fetch did not return, "
                                + "or another booking; decided by the next fetch (banksync held list)")
        }
        return pairs.count
    }

    /// Inside an ingest's transaction, before new holds: each held row of the account whose day this fetch covers is
    /// decided by it — the second fetch in a row that agrees.
    func reviewHolds(account: AccountRef, window: SyncWindow, fetchedBookedKeys: [UInt8], runID: Int64?) throws -> HoldReview {
        var review = HoldReview()
        let holds = try connection.query(Self.holdsInWindow, [account.id, fetchedBookedKeys, window.from, window.to, account.customerID],
                                         planning: .perExecution)
        for hold in holds {
            let held = try hold.decode([UInt8].self, at: 0)
            let candidate = try hold.decode([UInt8]?.self, at: 1)
            let heldFetched = try hold.decode(Bool.self, at: 2)
            let candidateFetched = try hold.decode(Bool.self, at: 3)
            // A booking of an earlier consent or source that this fetch returned by its old key after all is not the held
            // row's: that one is new. Otherwise (while the held row is still reported) no fetch decides which it is.
            if try hold.decode(String.self, at: 5) == "possible_duplicate", heldFetched, !candidateFetched { continue }
            // Another delivered booking of the held row's day and amount is missing from this fetch: the held row may be
            // that one's edit, whatever became of its candidate.
            let othersMissing = try hold.decode(Int.self, at: 8)
            let isPossibleEdit = try hold.decode(String.self, at: 5) == "possible_edit"
            switch (heldFetched, candidateFetched, candidate) {
            case (true, false, _?) where try hold.decode(Int.self, at: 6) > 0 || othersMissing > 0:
                break   // another row claims the same stored booking, or it may be another's edit: ops decide
            case (true, false, _?) where try hold.decode(Bool.self, at: 7):
                break   // the stored booking is in a batch being sent: decided once that batch is done
            case (true, false, let old?):
                if try hold.decode(String.self, at: 5) == "possible_correction" {
                    if try applyCorrection(account: account, oldKey: old, newKey: held, runID: runID,
                                           decidedBy: "a fetch covering the old version's day") {
                        review.redelivered += 1
                    }
                } else {
                    try applyEdit(account: account, oldKey: old, newKey: held, runID: runID, decidedBy: "a second fetch without the old version")
                }
                review.confirmedEdits += 1
            case (true, _, _) where othersMissing == 1 && isPossibleEdit:
                // Its candidate is back (or gone), and exactly one other booking of its day and amount is missing: the
                // held row is that one's edit or a new booking — the next fetch decides, as for any possible edit.
                try connection.execute("UPDATE held_transactions SET candidate_key = $3 WHERE account_id = $1 AND tx_key = $2",
                                       [account.id, held, try hold.decode([UInt8].self, at: 9)])
            case (true, _, _) where othersMissing > 0:
                break   // its candidate is back, yet it may be the edit of another one: decided by a later fetch or ops
            case (true, _, _):
                try release(account: account, key: held)
                try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "hold_released",
                                message: "held booking \(try hold.decode(String.self, at: 4)) is a new booking: the booking it resembled "
                                    + "came back (or is gone); queued for Flowpay")
                review.released += 1
                review.releasedKeys += held
            case (false, _, _):
                // The bank no longer reports the held row in a fetch covering its day (an intermediate version of an
                // edit, a row the bank withdrew). It was never sent, so nothing is lost: if the bank reports it
                // again, it is stored as a new row again and judged afresh.
                try connection.execute("DELETE FROM held_transactions WHERE account_id = $1 AND tx_key = $2", [account.id, held])
                try connection.execute("DELETE FROM transactions WHERE account_id = $1 AND tx_key = $2", [account.id, held])
                try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "hold_withdrawn",
                                message: "held booking \(try hold.decode(String.self, at: 4)) withdrawn: the bank no longer reports it; "
                                    + "never sent")
                review.withdrawn += 1
            }
        }
        return review
    }

    /// Applies the bank's edit: the stored booking `oldKey` takes the content of the row `newKey`, which goes; its
    /// Flowpay id and push state stay, and `transaction_changed` records both versions.
    func applyEdit(account: AccountRef, oldKey: [UInt8], newKey: [UInt8], runID: Int64?, decidedBy: String) throws {
        try connection.execute("DELETE FROM held_transactions WHERE account_id = $1 AND tx_key = $2", [account.id, newKey])
        guard let replacement = try connection.query(Self.takeNewVersion, [account.id, newKey]).first else {
            throw PostgresError.decoding(column: "edit of an edited booking", expected: "the new version", found: "no row")
        }
        var parameters: [any PostgresEncodable] = [account.id, oldKey, newKey]
        for column in 0..<8 { parameters.append(try replacement.decode(String?.self, at: column)) }
        guard let change = try connection.query(Self.applyNewVersion, parameters).first else {
            throw PostgresError.decoding(column: "edit of an edited booking", expected: "both versions", found: "a row missing")
        }
        let before = (name: try change.decode(String?.self, at: 0), text: try change.decode(String?.self, at: 1))
        let after = (name: try replacement.decode(String?.self, at: 2), text: try replacement.decode(String?.self, at: 3))
        let flowpayID = try change.decode(String.self, at: 2)
        let day = try change.decode(Day.self, at: 3)
        let amount = try change.decode(Int64.self, at: 4)
        let currency = try change.decode(String.self, at: 5)
        try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "transaction_changed",
                        message: "the bank edited the booking of \(day) (\(amount) minor units \(currency), Flowpay id \(flowpayID)): "
                            + "counterparty \(quoted(before.name)) → \(quoted(after.name)), remittance \(quoted(before.text)) → \(quoted(after.text)); "
                            + "stored with the new content, not sent again (\(decidedBy))")
    }

    /// A held row becomes an ordinary new booking: queued for Flowpay, and for the PULL feeds as of now (a feed
    /// cursor may have passed the transaction that stored it).
    private func release(account: AccountRef, key: [UInt8]) throws {
        try connection.execute("DELETE FROM held_transactions WHERE account_id = $1 AND tx_key = $2", [account.id, key])
        try connection.execute(Self.releaseRow, [account.id, key])
    }

    /// $1 account, $2 key: the row is released to Flowpay and queued (Store+PushQueue.swift), visible to the feeds as
    /// of this transaction.
    static let releaseRow = """
        WITH released AS (
            UPDATE transactions SET push_state = 'pushed', ingest_xid = pg_current_xact_id(), visible_at = NULL
            WHERE account_id = $1 AND tx_key = $2
            RETURNING customer_id, id, account_id, ingest_xid
        )
        \(enqueue(from: "released"))
        """

    private func quoted(_ text: String?) -> String { text.map { "'\($0)'" } ?? "none" }

    // MARK: Operators

    /// Every held row (or the oldest `limit`), oldest first, optionally of one customer; `after`: one keyset page,
    /// the rows after that one.
    public func heldTransactions(flowpayCustomerID: UUID? = nil, after: HeldTransaction.PageKey? = nil, limit: Int? = nil) throws -> [HeldTransaction] {
        try connection.query("""
            SELECT c.flowpay_customer_id, c.merchant_id, COALESCE(a.iban, a.source_account_id), t.flowpay_id, t.booking_date, t.amount_minor,
                   t.currency, t.counterparty_name, t.remittance, h.reason, h.held_since, o.flowpay_id, o.counterparty_name, o.remittance,
                   (extract(epoch FROM h.held_since) * 1000000)::bigint, t.id
            FROM held_transactions h
            JOIN transactions t ON t.account_id = h.account_id AND t.tx_key = h.tx_key
            JOIN accounts a ON a.id = h.account_id JOIN customers c ON c.id = h.customer_id
            LEFT JOIN transactions o ON o.account_id = h.account_id AND o.tx_key = h.candidate_key
            WHERE ($1::uuid IS NULL OR c.flowpay_customer_id = $1::uuid)
              AND ($3::bigint IS NULL OR ((extract(epoch FROM h.held_since) * 1000000)::bigint, t.id) > ($3, $4::bigint))
            ORDER BY h.held_since, t.id LIMIT $2
            """, [flowpayCustomerID, limit, after?.sinceMicroseconds, after?.transactionID]).map { row in
            let candidateID = try row.decode(String?.self, at: 11)
            var held = HeldTransaction(flowpayCustomerID: try row.decode(at: 0), merchantID: try row.decode(at: 1), account: try row.decode(at: 2),
                                   flowpayID: try row.decode(at: 3), bookingDate: try row.decode(at: 4), amountMinor: try row.decode(at: 5),
                                   currency: try row.decode(at: 6), counterpartyName: try row.decode(at: 7), remittance: try row.decode(at: 8),
                                   reason: try row.decode(at: 9), since: try row.decode(at: 10),
                                   candidate: try candidateID.map {
                                       HeldTransaction.Candidate(flowpayID: $0, counterpartyName: try row.decode(at: 12), remittance: try row.decode(at: 13))
                                   })
            held.pageKey = HeldTransaction.PageKey(sinceMicroseconds: try row.decode(at: 14), transactionID: try row.decode(at: 15))
            return held
        }
    }

    /// An operator decides a held row: `merge` makes it the edit of a stored booking (the one it was held beside, or
    /// `mergeInto`, another stored booking of its account named by Flowpay id) and nothing is sent; otherwise it is a
    /// new booking and is queued. Recorded with the reason as a `hold_decided` event.
    public func decideHold(flowpayID: String, merge: Bool, mergeInto: String? = nil, reason: String, operator who: String) async throws {
        try await connection.withTransaction {
            guard let account = try connection.query("""
                SELECT h.account_id, h.customer_id FROM held_transactions h
                JOIN transactions t ON t.account_id = h.account_id AND t.tx_key = h.tx_key WHERE t.flowpay_id = $1
                """, [flowpayID]).first.map({ AccountRef(id: try $0.decode(at: 0), customerID: try $0.decode(at: 1)) }) else {
                throw HoldError.notHeld(flowpayID: flowpayID)
            }
            // The account's ingest lock first, as an ingest takes it: no sync decides this hold meanwhile.
            try connection.execute("SELECT pg_advisory_xact_lock(\(Self.accountLockKey(account.id)))")
            guard let row = try connection.query("""
                SELECT h.tx_key, h.reason, COALESCE(m.tx_key, o.tx_key)
                FROM held_transactions h JOIN transactions t ON t.account_id = h.account_id AND t.tx_key = h.tx_key
                LEFT JOIN transactions o ON o.account_id = h.account_id AND o.tx_key = h.candidate_key AND $2::text IS NULL
                LEFT JOIN transactions m ON m.account_id = h.account_id AND m.flowpay_id = $2::text AND m.status = 'booked'
                                        AND m.push_state IS NOT NULL
                WHERE h.account_id = $3 AND t.flowpay_id = $1
                """, [flowpayID, mergeInto, account.id]).first else { throw HoldError.notHeld(flowpayID: flowpayID) }
            let key = try row.decode([UInt8].self, at: 0)
            if merge {
                guard let target = try row.decode([UInt8]?.self, at: 2) else { throw HoldError.noCandidate(flowpayID: flowpayID) }
                let decided = "merged by \(who): \(reason)"
                switch try row.decode(String.self, at: 1) {
                case "possible_correction":
                    if try applyCorrection(account: account, oldKey: target, newKey: key, runID: nil, decidedBy: decided) {
                        try connection.execute("UPDATE watermarks SET booked_pushed = booked_pushed - 1 WHERE account_id = $1", [account.id])
                    }
                case "possible_duplicate", "awaiting_whole_day":
                    try connection.execute("DELETE FROM held_transactions WHERE account_id = $1 AND tx_key = $2", [account.id, key])
                    try connection.execute(Self.adoptAcrossSources, [account.id, target, key])
                default:
                    try applyEdit(account: account, oldKey: target, newKey: key, runID: nil, decidedBy: decided)
                }
                try connection.execute("""
                    UPDATE watermarks SET edits = edits + 1, booked_stored = booked_stored - 1 WHERE account_id = $1
                    """, [account.id])
            } else {
                try release(account: account, key: key)
            }
            try recordEvent(customerID: account.customerID, accountID: account.id, runID: nil, level: .info, code: "hold_decided",
                            message: "held booking \(flowpayID) "
                                + (merge ? "merged into booking \(mergeInto ?? "it was held beside")" : "released as a new booking")
                                + " by \(who): \(reason)")
        }
    }

    /// $1 account, $2 the new row's key, $3 its customer, $4 the stored booking it may be an edit of.
    static let holdRow = """
        WITH held AS (
            UPDATE transactions t SET push_state = NULL
            WHERE t.account_id = $1 AND t.tx_key = $2 AND \(queuedInThisTransaction("t"))
            RETURNING t.id
        ), dequeued AS (
            DELETE FROM push_queue q USING held WHERE q.customer_id = $3 AND q.transaction_id = held.id
        )
        INSERT INTO held_transactions (account_id, tx_key, customer_id, reason, candidate_key)
        SELECT $1, $2, $3, 'possible_edit', $4 FROM held
        """

    /// $1 account, $2 the keys of the booked rows fetched (32 bytes each), $3…$4 the window, $5 its customer. The account's
    /// holds whose row and candidate lie in the window: whether this fetch returned each; column 4 the held row's Flowpay id,
    /// 5 the reason, 6 how many other rows claim the same stored booking (other holds, this fetch's new rows of its day and
    /// amount): with any, "the old version stayed away" no longer says which of them is its edit; 7 whether the candidate
    /// is in a batch being sent; 8 for a possible edit or duplicate, how many other delivered bookings of its day and
    /// amount this fetch did not return (no other possible edit held for them): with any, neither "the old version
    /// stayed away" nor "it came back" says which booking it is; 9 one of them.
    static let holdsInWindow = """
        WITH fetched AS (
            SELECT substring($2::bytea FROM i * 32 + 1 FOR 32) AS tx_key FROM generate_series(0, length($2::bytea) / 32 - 1) AS i
        )
        SELECT h.tx_key, o.tx_key, h.tx_key IN (SELECT tx_key FROM fetched), COALESCE(o.tx_key IN (SELECT tx_key FROM fetched), false),
               t.flowpay_id, h.reason,
               -- other claims on the same stored booking: rows held for it, and this fetch's new rows of its day and amount
               (SELECT count(*) FROM held_transactions r WHERE r.account_id = h.account_id AND r.candidate_key = h.candidate_key
                                                             AND r.tx_key <> h.tx_key)
               + (SELECT count(*) FROM transactions f
                  WHERE f.customer_id = $5 AND f.ingest_xid = pg_current_xact_id() AND f.account_id = $1 AND f.status = 'booked'
                    AND f.push_state = 'pushed' AND f.booking_date = o.booking_date AND f.amount_minor = o.amount_minor
                    AND f.currency = o.currency) AS rivals,
               COALESCE(\(inFlight.replacingOccurrences(of: "$ROW", with: "o").replacingOccurrences(of: "$CUSTOMER", with: "$5")), false)
                   AS in_flight,
               COALESCE(om.rows, 0) AS others_missing, om.one AS other_missing
        FROM held_transactions h
        JOIN transactions t ON t.account_id = h.account_id AND t.tx_key = h.tx_key
        LEFT JOIN transactions o ON o.account_id = h.account_id AND o.tx_key = h.candidate_key
        -- a possible edit or duplicate: the other delivered bookings of its day and amount this fetch did not return (an
        -- edit's: keyed by content, as editPairs' vanished rows; neither filtered out by value date), but not those
        -- another possible edit is held for (that hold's own decision accounts for them: two edited twins decide
        -- together); how many, and one of them
        LEFT JOIN LATERAL (
            SELECT count(*) AS rows, (array_agg(m.tx_key))[1] AS one FROM transactions m
            WHERE m.account_id = $1 AND m.status = 'booked' AND m.booking_date = t.booking_date
              AND m.amount_minor = t.amount_minor AND m.currency = t.currency
              AND (m.tx_key = m.content_key OR h.reason = 'possible_duplicate') AND m.push_state IS NOT NULL
              AND m.ingest_xid <> pg_current_xact_id() AND COALESCE(m.value_date, m.booking_date) >= $3::date
              AND m.tx_key IS DISTINCT FROM h.candidate_key AND m.tx_key NOT IN (SELECT tx_key FROM fetched)
              AND NOT EXISTS (SELECT 1 FROM held_transactions c WHERE c.account_id = $1 AND c.candidate_key = m.tx_key
                                                                  AND c.reason = 'possible_edit' AND c.tx_key <> h.tx_key)
        ) om ON h.reason IN ('possible_edit', 'possible_duplicate')
        WHERE h.account_id = $1 AND h.reason <> 'awaiting_whole_day' AND t.booking_date BETWEEN $3::date AND $4::date
          AND (o.tx_key IS NULL OR o.booking_date BETWEEN $3::date AND $4::date)
        ORDER BY t.id
        """
}
