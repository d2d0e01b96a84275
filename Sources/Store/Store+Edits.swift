import BankSyncCore
import Postgres

extension Store {
    /// Inside an ingest's transaction, after its rows are stored: a booked row of the window that this fetch
    /// no longer returned, and a booked row this ingest stored on the same day with the same amount and
    /// currency, both keyed by content (a stable id already survives a text edit; the same id with another
    /// date or amount is another booking), are one booking the bank edited (added the counterparty's name, fixed the remittance text).
    /// The stored row takes the new content and key and keeps its Flowpay id and push state; the new row goes;
    /// a `transaction_changed` event records both versions. Pairs are matched in id order within a day and
    /// amount. Returns the number of edits.
    func recognizeEdits(account: AccountRef, window: SyncWindow, fetchedBookedKeys: [UInt8], runID: Int64?) throws -> Int {
        // Planned for its window every time: a generic plan read the whole account (Planning.perExecution).
        let pairs = try connection.query(Self.editPairs, [account.id, fetchedBookedKeys, window.from, window.to, account.customerID],
                                         planning: .perExecution).map {
            (old: try $0.decode([UInt8].self, at: 0), new: try $0.decode([UInt8].self, at: 1))
        }
        for pair in pairs {
            guard let replacement = try connection.query(Self.takeNewVersion, [account.id, pair.new]).first else {
                throw PostgresError.decoding(column: "edit of an edited booking", expected: "the new version", found: "no row")
            }
            var parameters: [any PostgresEncodable] = [account.id, pair.old, pair.new]
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
                                + "stored with the new content, not sent again")
        }
        return pairs.count
    }

    /// New booked rows of this ingest whose stable source id the account already stores for another booking
    /// (another date or amount): kept as the different bookings they are, each recorded. Returns how many.
    func recordReusedSourceIDs(account: AccountRef, runID: Int64?) throws -> Int {
        let reused = try connection.query(Self.reusedSourceIDs, [account.id, account.customerID])
        for row in reused {
            let id = try row.decode(String.self, at: 0)
            try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .warning, code: "source_id_reused",
                            message: "the source reused transaction id \(id) for another booking (\(try row.decode(String.self, at: 1)), "
                                + "stored before as \(try row.decode(String.self, at: 2))): both are kept")
        }
        return reused.rowCount
    }

    private func quoted(_ text: String?) -> String { text.map { "'\($0)'" } ?? "none" }

    /// $1 account, $2 the keys of the booked rows fetched (32 bytes each), $3…$4 the window, $5 the account's
    /// customer. Old and new key of each edited booking. `customer_id = $5` (always true: an account's rows carry its
    /// customer) lets this ingest's rows be found through the feed index (`customer_id, ingest_xid, id`) with both
    /// leading columns; with `ingest_xid` alone the planner could pick that index for a scan of all of it.
    /// The stored rows the fetch no longer returned are a set difference (`EXCEPT`, hashed or sorted), not an
    /// anti-join: `tx_key = content_key` has no statistics (one row in 200, says the planner), so a window of
    /// thousands of stored rows was estimated at ten, and the nested-loop anti-join it then chose compared every
    /// stored key with every fetched one — 100 ms an account in `Benchmarks/ingest`'s 10%-new phase (2,000 rows).
    static let editPairs = """
        WITH fetched AS (
            SELECT substring($2::bytea FROM i * 32 + 1 FOR 32) AS tx_key FROM generate_series(0, length($2::bytea) / 32 - 1) AS i
        ), gone AS (
            SELECT t.tx_key FROM transactions t
            WHERE t.account_id = $1 AND t.status = 'booked' AND t.booking_date BETWEEN $3::date AND $4::date
              AND t.ingest_xid <> pg_current_xact_id() AND t.tx_key = t.content_key
            EXCEPT
            SELECT f.tx_key FROM fetched f
        ), vanished AS (
            SELECT t.tx_key, t.booking_date, t.amount_minor, t.currency,
                   row_number() OVER (PARTITION BY t.booking_date, t.amount_minor, t.currency ORDER BY t.id) AS n
            FROM gone g JOIN transactions t ON t.account_id = $1 AND t.tx_key = g.tx_key
        ), fresh AS (
            SELECT t.tx_key, t.booking_date, t.amount_minor, t.currency,
                   row_number() OVER (PARTITION BY t.booking_date, t.amount_minor, t.currency ORDER BY t.id) AS n
            FROM transactions t
            WHERE t.customer_id = $5 AND t.ingest_xid = pg_current_xact_id()
              AND t.account_id = $1 AND t.status = 'booked' AND t.tx_key = t.content_key
              AND t.booking_date BETWEEN $3::date AND $4::date
        )
        SELECT v.tx_key, f.tx_key FROM vanished v JOIN fresh f USING (booking_date, amount_minor, currency, n)
        """

    /// $1 account, $2 key of the new version: removes it, returning its content as text.
    static let takeNewVersion = """
        DELETE FROM transactions WHERE account_id = $1 AND tx_key = $2
        RETURNING encode(content_key, 'hex'), value_date::text, counterparty_name, remittance, counterparty_iban, bank_tx_code,
                  source_tx_id, raw::text
        """

    /// $1 account, $2 old key, $3 new key, $4… the new version's content from `takeNewVersion`. Returns the old
    /// version's name and text, and what identifies the booking.
    static let applyNewVersion = """
        WITH old AS (SELECT counterparty_name, remittance FROM transactions WHERE account_id = $1 AND tx_key = $2)
        UPDATE transactions t SET tx_key = $3, content_key = decode($4, 'hex'), value_date = $5::date, counterparty_name = $6,
               remittance = $7, counterparty_iban = $8, bank_tx_code = $9, source_tx_id = $10, raw = $11::jsonb
        FROM old WHERE t.account_id = $1 AND t.tx_key = $2
        RETURNING old.counterparty_name, old.remittance, t.flowpay_id, t.booking_date, t.amount_minor, t.currency
        """

    /// $1 account, $2 its customer. This ingest's new booked rows whose source id the account stores on another
    /// booking. This ingest's rows through the feed index; each one's namesakes through `transactions_source_id`
    /// (migration 0016) — without it every new row re-read all of the account's rows.
    static let reusedSourceIDs = """
        SELECT f.source_tx_id, f.booking_date::text || ' ' || f.amount_minor || ' ' || f.currency,
               min(o.booking_date::text || ' ' || o.amount_minor || ' ' || o.currency)
        FROM transactions f JOIN transactions o
          ON o.account_id = f.account_id AND o.source_tx_id = f.source_tx_id AND o.source_tx_id IS NOT NULL
             AND o.tx_key <> f.tx_key AND o.status = 'booked' AND o.ingest_xid <> pg_current_xact_id()
        WHERE f.customer_id = $2 AND f.ingest_xid = pg_current_xact_id()
          AND f.account_id = $1 AND f.status = 'booked' AND f.source_tx_id IS NOT NULL
        GROUP BY f.source_tx_id, f.booking_date, f.amount_minor, f.currency
        """
}
