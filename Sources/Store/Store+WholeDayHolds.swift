import BankSyncCore
import Postgres

/// What reviewing an account's rows held for a whole-day read decided.
struct WholeDayReview {
    /// No stored booking of an earlier consent or source has its content: new bookings, queued for Flowpay.
    var released = 0
    var releasedKeys: [UInt8] = []
    /// The stored booking it matched by content took its key (keeps its Flowpay id); the held row went.
    var merged = 0
    /// The bank no longer reports it on a day the fetch covered: deleted, never sent.
    var withdrawn = 0
}

extension Store {
    /// Inside an ingest's transaction, after the chunk's rows are stored: rows from before the window (only part of
    /// their day came back) that are new by key but match by content a booking stored under an earlier consent's or
    /// source's id. The stored booking, or an identical twin the bank has just booked? Only a read of the whole day
    /// tells, so each is **held** (`awaiting_whole_day`): stored, not queued, not served by the feeds, shown in `lag`,
    /// an interruption after `holdLimit` when no deep read comes. `keys`: the rows' keys, 32 bytes each.
    func holdForWholeDay(account: AccountRef, keys: [UInt8], runID: Int64?) throws -> Int {
        guard !keys.isEmpty else { return 0 }
        let held = try connection.execute(Self.holdForWholeDayRows, [account.id, keys, account.customerID])
        if held > 0 {
            try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "transactions_held",
                            message: "\(held) booking(s) from before the window held: each matches a booking stored under an earlier "
                                + "consent's or source's id, or is an identical twin of it; decided by the next read of its whole day "
                                + "(banksync held list)")
        }
        return held
    }

    /// Inside an ingest's transaction: each row held for a whole-day read whose day this fetch covered whole is decided.
    /// Fetched again → its content key is now exact: a stored booking of an earlier generation (or keyed by content)
    /// with that content key, not itself fetched by its key, takes the held row's key and source id and keeps its
    /// Flowpay id (merged); none → a new booking (released). Not fetched → the bank no longer reports it (withdrawn).
    func reviewWholeDayHolds(account: AccountRef, window: SyncWindow, fetchedBookedKeys: [UInt8], runID: Int64?) throws -> WholeDayReview {
        var review = WholeDayReview()
        let holds = try connection.query(Self.wholeDayHoldsInWindow, [account.id, fetchedBookedKeys, window.from, window.to], planning: .perExecution)
        var taken: Set<[UInt8]> = []
        for hold in holds {
            let held = try hold.decode([UInt8].self, at: 0)
            let match = try hold.decode([UInt8]?.self, at: 3).flatMap { taken.insert($0).inserted ? $0 : nil }
            let flowpayID = try hold.decode(String.self, at: 1)
            try connection.execute("DELETE FROM held_transactions WHERE account_id = $1 AND tx_key = $2", [account.id, held])
            if !(try hold.decode(Bool.self, at: 2)) {
                try connection.execute("DELETE FROM transactions WHERE account_id = $1 AND tx_key = $2", [account.id, held])
                try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "hold_withdrawn",
                                message: "held booking \(flowpayID) withdrawn: a read of its whole day no longer returned it; never sent")
                review.withdrawn += 1
            } else if let stored = match {
                try connection.execute(Self.adoptAcrossSources, [account.id, stored, held])
                try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "hold_merged",
                                message: "held booking \(flowpayID) is booking \(try hold.decode(String.self, at: 4)) under a new id (a read of "
                                    + "its whole day matched it): the stored booking took the new id, keeps its Flowpay id, not sent again")
                review.merged += 1
            } else {
                try connection.execute(Self.releaseRow, [account.id, held])
                try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "hold_released",
                                message: "held booking \(flowpayID) is a new booking (a read of its whole day matched no stored booking); "
                                    + "queued for Flowpay")
                review.released += 1
                review.releasedKeys += held
            }
        }
        return review
    }

    /// $1 account, $2 the rows' keys (32 bytes each), $3 its customer. Holds the new rows (queued by this ingest),
    /// beside the stored booking each matched by content.
    static let holdForWholeDayRows = """
        WITH held AS (
            UPDATE transactions t SET push_state = NULL
            FROM generate_series(0, length($2::bytea) / 32 - 1) AS i
            WHERE t.account_id = $1 AND t.tx_key = substring($2::bytea FROM i * 32 + 1 FOR 32) AND \(queuedInThisTransaction("t"))
            RETURNING t.id, t.tx_key, t.content_key, t.key_generation
        ), dequeued AS (
            DELETE FROM push_queue q USING held WHERE q.customer_id = $3 AND q.transaction_id = held.id
        )
        INSERT INTO held_transactions (account_id, tx_key, customer_id, reason, candidate_key)
        SELECT $1, held.tx_key, $3, 'awaiting_whole_day',
               (SELECT s.tx_key FROM transactions s
                WHERE s.account_id = $1 AND s.content_key = held.content_key AND s.tx_key <> held.tx_key AND s.push_state IS NOT NULL
                ORDER BY s.id LIMIT 1)
        FROM held
        """

    /// $1 account, $2 the keys of the booked rows fetched (32 bytes each), $3…$4 the window. The rows held for a whole-day
    /// read whose day lies in the window: key, Flowpay id, whether fetched, the stored booking now matching it by content
    /// (earlier generation or keyed by content, delivered or queued, not fetched by its own key) and its Flowpay id.
    static let wholeDayHoldsInWindow = """
        WITH fetched AS (
            SELECT substring($2::bytea FROM i * 32 + 1 FOR 32) AS tx_key FROM generate_series(0, length($2::bytea) / 32 - 1) AS i
        )
        SELECT h.tx_key, t.flowpay_id, h.tx_key IN (SELECT tx_key FROM fetched), m.tx_key, m.flowpay_id
        FROM held_transactions h
        JOIN transactions t ON t.account_id = h.account_id AND t.tx_key = h.tx_key
        LEFT JOIN LATERAL (
            SELECT s.tx_key, s.flowpay_id FROM transactions s
            WHERE s.account_id = $1 AND s.content_key = t.content_key AND s.tx_key <> t.tx_key AND s.push_state IS NOT NULL
              AND (s.key_generation < t.key_generation OR s.tx_key = s.content_key)
              AND s.tx_key NOT IN (SELECT tx_key FROM fetched)
            ORDER BY s.id LIMIT 1
        ) m ON true
        WHERE h.account_id = $1 AND h.reason = 'awaiting_whole_day' AND t.booking_date BETWEEN $3::date AND $4::date
        ORDER BY t.id
        """
}
