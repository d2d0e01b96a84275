import BankSyncCore
import Postgres

/// What recognising corrections under stable source ids decided.
struct CorrectionReview {
    /// The source reused an id for another booking that it still reports: both kept.
    var reused = 0
    /// The bank corrected a booking under its id (re-dated it, settled its amount): the stored row took the new
    /// date and amount, kept its Flowpay id, and is sent again so Flowpay upserts it.
    var corrected = 0
    /// The old version lies outside this fetch's window, so whether the bank still reports it is unknown: held.
    var held = 0
    /// Corrected bookings that had been delivered: queued again, out of the account's delivered count.
    var redelivered = 0
}

extension Store {
    /// Inside an ingest's transaction, after its rows are stored, for sources whose ids are stable: a new booked row
    /// whose source id the account already stores on a booking of another date or amount is
    /// - the same booking corrected by the bank (a weekend booking re-dated to Monday, a card payment settled at its
    ///   final amount) when this fetch covered the old version's day and no longer returned it: the stored row takes
    ///   the new version, keeps its Flowpay id and is queued again (Flowpay upserts by id); `transaction_changed`;
    /// - another booking under a reused id when this fetch returned the old version too: both kept; `source_id_reused`;
    /// - undecided when the old version's day lies outside this fetch's window: the new row is held
    ///   (`possible_correction`) until ops decide (`banksync held`).
    /// `released`: keys of held rows released by this transaction (not this fetch's new rows); `namesakes`:
    /// `sameSourceID`'s rows when already read (`identityReads`).
    func recognizeCorrections(account: AccountRef, window: SyncWindow, fetchedBookedKeys: [UInt8], released: [UInt8],
                              runID: Int64?, namesakes: QueryResult? = nil) throws -> CorrectionReview {
        var review = CorrectionReview()
        var decided = Set<[UInt8]>(), corrected = Set<[UInt8]>()
        let rows = try namesakes ?? connection.query(Self.sameSourceID, [account.id, account.customerID, fetchedBookedKeys, window.from,
                                                                          window.to, released], planning: .perExecution)
        for row in rows {
            let newKey = try row.decode([UInt8].self, at: 0)
            guard !decided.contains(newKey) else { continue }   // one decision per new row, from its oldest namesake
            decided.insert(newKey)
            let oldKey = try row.decode([UInt8].self, at: 1)
            let sourceID = try row.decode(String.self, at: 2)
            let now = try row.decode(String.self, at: 3), before = try row.decode(String.self, at: 4)
            // A second new row for the same old booking (a split, an id reused beside a correction), or an old booking
            // whose current version is in a batch being sent (its 2xx would mark the correction delivered): held.
            let inFlight = try row.decode(Bool.self, at: 7)
            let undecidable = corrected.contains(oldKey) || inFlight
            switch (try row.decode(Bool.self, at: 5), try row.decode(Bool.self, at: 6) && !undecidable) {
            case (true, _):
                try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .warning, code: "source_id_reused",
                                message: "the source reused transaction id \(sourceID) for another booking (\(now), "
                                    + "stored before as \(before)): both are kept")
                review.reused += 1
            case (false, true):
                if try applyCorrection(account: account, oldKey: oldKey, newKey: newKey, runID: runID,
                                       decidedBy: "the bank no longer reports the booking as it was under id \(sourceID)") {
                    review.redelivered += 1
                }
                corrected.insert(oldKey)
                review.corrected += 1
            case (false, false):
                try connection.execute(Self.holdRow.replacingOccurrences(of: "'possible_edit'", with: "'possible_correction'"),
                                       [account.id, newKey, account.customerID, oldKey])
                try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "transactions_held",
                                message: "a booking under transaction id \(sourceID) (\(now)) held: the id is stored for \(before), a day "
                                    + "this fetch did not cover, so it may be the bank's correction of it or another booking (banksync held list)")
                review.held += 1
            }
        }
        return review
    }

    /// The stored booking `oldKey` takes the date, amount and content of the row `newKey` (which goes), keeps its
    /// Flowpay id and is queued again when it was delivered, so Flowpay upserts the correction; the PULL feeds serve
    /// it again. The old key is retired.
    /// Returns whether the stored booking had been delivered (it is queued again).
    @discardableResult
    func applyCorrection(account: AccountRef, oldKey: [UInt8], newKey: [UInt8], runID: Int64?, decidedBy: String) throws -> Bool {
        try connection.execute("DELETE FROM held_transactions WHERE account_id = $1 AND tx_key = $2", [account.id, newKey])
        guard let replacement = try connection.query("""
            DELETE FROM transactions WHERE account_id = $1 AND tx_key = $2
            RETURNING content_key, booking_date, value_date, amount_minor, currency, counterparty_iban, counterparty_name, remittance,
                      bank_tx_code, raw::text, key_generation
            """, [account.id, newKey]).first else {
            throw PostgresError.decoding(column: "correction of a booking", expected: "the new version", found: "no row")
        }
        var parameters: [any PostgresEncodable] = [account.id, oldKey, newKey]
        parameters.append(try replacement.decode([UInt8].self, at: 0))
        parameters.append(try replacement.decode(Day?.self, at: 1))
        parameters.append(try replacement.decode(Day?.self, at: 2))
        parameters.append(try replacement.decode(Int64.self, at: 3))
        for column in 4...9 { parameters.append(try replacement.decode(String?.self, at: column)) }
        parameters.append(try replacement.decode(Int32.self, at: 10))
        guard let change = try connection.query(Self.takeCorrection, parameters).first else {
            throw PostgresError.decoding(column: "correction of a booking", expected: "the stored version", found: "no row")
        }
        let flowpayID = try change.decode(String.self, at: 0)
        let before = try change.decode(String.self, at: 1), after = try change.decode(String.self, at: 2)
        try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "transaction_changed",
                        message: "the bank corrected booking \(flowpayID): \(before) → \(after); sent again under the same id (\(decidedBy))")
        return try change.decode(Bool?.self, at: 3) ?? false
    }

    /// $1 account, $2 old key, $3 new key, $4… the new version. Returns the Flowpay id and both versions' date, amount
    /// and currency, and whether it had been delivered (it goes back to the outbox; the caller takes it out of the
    /// account's delivered count — in `finishIngest` during an ingest, so `watermarks` is locked last, as the outbox does).
    /// A row released to Flowpay (delivered or queued) is queued with its new `ingest_xid` (Store+PushQueue.swift); a
    /// held or quarantined one stays as it is.
    static let takeCorrection = """
        WITH old AS (
            SELECT t.booking_date::text || ' ' || t.amount_minor || ' ' || t.currency AS version,
                   t.push_state = 'pushed' AND NOT \(queuedInThisTransaction("t")) AS delivered
            FROM transactions t WHERE t.account_id = $1 AND t.tx_key = $2
        ), retired AS (\(retireKey.replacingOccurrences(of: "$OLD", with: "$2::bytea"))
        ), corrected AS (
            UPDATE transactions t SET tx_key = $3, content_key = $4, booking_date = $5::date, value_date = $6::date, amount_minor = $7,
                   currency = $8, counterparty_iban = $9, counterparty_name = $10, remittance = $11, bank_tx_code = $12, raw = $13::jsonb,
                   key_generation = $14, push_batch_id = NULL, ingest_xid = pg_current_xact_id(), visible_at = NULL
            FROM old WHERE t.account_id = $1 AND t.tx_key = $2
            RETURNING t.customer_id, t.id, t.account_id, t.ingest_xid, t.push_state, t.flowpay_id, old.version,
                      t.booking_date::text || ' ' || t.amount_minor || ' ' || t.currency AS new_version, old.delivered
        ), queued AS (
            \(enqueue(from: "corrected WHERE push_state = 'pushed'"))
        )
        SELECT flowpay_id, version, new_version, delivered FROM corrected
        """

    /// Whether a queued row (`$ROW`, of customer `$CUSTOMER`) is in a batch that may still be sent with its current body.
    static let inFlight = """
        (\(isQueued("$ROW")) AND ($ROW.push_batch_id IS NOT NULL
            OR EXISTS (SELECT 1 FROM push_batches b WHERE b.customer_id = $CUSTOMER AND b.kind = 'transactions'
                                                      AND b.state IN ('sending', 'parked') AND $ROW.id = ANY (b.row_ids))))
        """

    /// $1 account, $2 its customer, $3 the booked keys fetched (32 bytes each), $4…$5 the window, $6 keys of held rows
    /// this transaction released (not its new rows). This ingest's new
    /// booked rows whose source id the account stores on another booking, with that booking: whether this fetch
    /// returned it and whether its day lies in the window. New rows through the feed index; their namesakes through
    /// `transactions_source_id` (migration 0016) — without it every new row re-read all of the account's rows.
    static let sameSourceID = """
        WITH fetched AS (
            SELECT substring($3::bytea FROM i * 32 + 1 FOR 32) AS tx_key FROM generate_series(0, length($3::bytea) / 32 - 1) AS i
        )
        SELECT f.tx_key, o.tx_key, f.source_tx_id, f.booking_date::text || ' ' || f.amount_minor || ' ' || f.currency,
               o.booking_date::text || ' ' || o.amount_minor || ' ' || o.currency,
               o.tx_key IN (SELECT tx_key FROM fetched), o.booking_date BETWEEN $4::date AND $5::date,
               \(inFlight.replacingOccurrences(of: "$ROW", with: "o").replacingOccurrences(of: "$CUSTOMER", with: "$2"))
        FROM transactions f JOIN transactions o
          ON o.account_id = f.account_id AND o.source_tx_id = f.source_tx_id AND o.source_tx_id IS NOT NULL
             AND o.tx_key <> f.tx_key AND o.status = 'booked' AND o.ingest_xid <> pg_current_xact_id()
        WHERE f.customer_id = $2 AND f.ingest_xid = pg_current_xact_id()
          AND f.account_id = $1 AND f.status = 'booked' AND f.source_tx_id IS NOT NULL AND f.push_state = 'pushed'   -- queued by this ingest
          AND NOT EXISTS (SELECT 1 FROM generate_series(0, length($6::bytea) / 32 - 1) AS j
                          WHERE substring($6::bytea FROM j * 32 + 1 FOR 32) = f.tx_key)
        ORDER BY f.id, o.tx_key IN (SELECT tx_key FROM fetched) DESC, o.id
        """
}
