import BankSyncCore
import Postgres

extension Store {
    /// $1 account, $2 the keys of the booked rows fetched (32 bytes each), $3…$4 the window, $5 the account's
    /// customer, $6 keys of held rows released by this transaction (not this fetch's new rows).
    /// Old and new key of each booking that may have been edited (`holdPossibleEdits`); held rows (`push_state`
    /// NULL: never sent) are not old versions of anything. **Every** new row of a day and amount with a vanished row
    /// is held, whatever the counts: with more new rows than vanished ones (an edit beside a new booking, or beside a
    /// held row withdrawn earlier and reported again) the extra rows share a candidate, so the next fetch leaves
    /// them to ops (`rivals` in `holdsInWindow`) — pairing by arrival order and sending the rest as new bookings
    /// once gave an edited booking a second Flowpay id and kept the other booking from Flowpay for good. `customer_id = $5` (always true: an account's rows carry its
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
              AND t.ingest_xid <> pg_current_xact_id() AND t.tx_key = t.content_key AND t.push_state IS NOT NULL
              -- a bank that filters by value date leaves such a row out of every window: its absence proves nothing
              AND COALESCE(t.value_date, t.booking_date) >= $3::date
            EXCEPT
            SELECT f.tx_key FROM fetched f
        ), vanished AS (
            SELECT t.tx_key, t.booking_date, t.amount_minor, t.currency,
                   row_number() OVER (PARTITION BY t.booking_date, t.amount_minor, t.currency ORDER BY t.id) AS n,
                   count(*) OVER (PARTITION BY t.booking_date, t.amount_minor, t.currency) AS of_day
            FROM gone g JOIN transactions t ON t.account_id = $1 AND t.tx_key = g.tx_key
        ), fresh AS (
            SELECT t.tx_key, t.booking_date, t.amount_minor, t.currency,
                   row_number() OVER (PARTITION BY t.booking_date, t.amount_minor, t.currency ORDER BY t.id) AS n
            FROM transactions t
            WHERE t.customer_id = $5 AND t.ingest_xid = pg_current_xact_id()
              AND t.account_id = $1 AND t.status = 'booked' AND t.tx_key = t.content_key AND t.push_state = 'pushed'   -- queued by this ingest
              AND t.booking_date BETWEEN $3::date AND $4::date
              AND NOT EXISTS (SELECT 1 FROM generate_series(0, length($6::bytea) / 32 - 1) AS j
                              WHERE substring($6::bytea FROM j * 32 + 1 FOR 32) = t.tx_key)
        )
        SELECT v.tx_key, f.tx_key FROM fresh f
        JOIN vanished v USING (booking_date, amount_minor, currency) WHERE v.n = (f.n - 1) % v.of_day + 1
        """

    /// $1 account, $2 key of the new version: removes it, returning its content as text.
    static let takeNewVersion = """
        DELETE FROM transactions WHERE account_id = $1 AND tx_key = $2
        RETURNING encode(content_key, 'hex'), value_date::text, counterparty_name, remittance, counterparty_iban, bank_tx_code,
                  source_tx_id, raw::text
        """

    /// $1 account, $2 old key, $3 new key, $4… the new version's content from `takeNewVersion`. Returns the old
    /// version's name and text, and what identifies the booking. The old key is retired: the booking keeps the
    /// Flowpay id derived from it, so a new booking arriving under it later gets a reissued one.
    static let applyNewVersion = """
        WITH old AS (SELECT counterparty_name, remittance FROM transactions WHERE account_id = $1 AND tx_key = $2),
        retired AS (\(retireKey.replacingOccurrences(of: "$OLD", with: "$2::bytea")))
        UPDATE transactions t SET tx_key = $3, content_key = decode($4, 'hex'), value_date = $5::date, counterparty_name = $6,
               remittance = $7, counterparty_iban = $8, bank_tx_code = $9, source_tx_id = $10, raw = $11::jsonb
        FROM old WHERE t.account_id = $1 AND t.tx_key = $2
        RETURNING old.counterparty_name, old.remittance, t.flowpay_id, t.booking_date, t.amount_minor, t.currency
        """
}
