import BankSyncCore
import Foundation
import Postgres

/// A position in a customer's PULL feed: the inserting transaction and the row id of the last row returned.
public struct FeedCursor: Sendable, Equatable {
    public let xid: UInt64
    public let id: Int64

    public init(xid: UInt64, id: Int64) {
        self.xid = xid
        self.id = id
    }

    /// Opaque to callers: `v1.<xid>.<id>` in base64url.
    public var token: String {
        Data("v1.\(xid).\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard token.count <= 64, let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: ".")
        guard parts.count == 3, parts[0] == "v1", let xid = UInt64(parts[1]), let id = Int64(parts[2]), id >= 0 else { return nil }
        self.init(xid: xid, id: id)
    }
}

/// One transaction as the PULL feed serves it.
public struct FeedTransaction: Sendable, Equatable {
    public let cursor: FeedCursor
    public let transaction: OutboxTransaction
}

extension Store {
    /// Booked transactions in arrival order after `cursor` (and, with `visibleAfter`, only those the feed first
    /// served after that instant), at most `limit`; and the instant a poller resumes from (`resumeFrom`, nil
    /// on a full page: the poller follows `nextPage` first).
    ///
    /// Stamping path, in one transaction holding the customer's feed lock: the rows that have become servable
    /// since the last request (written by transactions older than every transaction still running, on an
    /// account with an IBAN) are stamped with one database clock reading (`visible_at`); the page is read;
    /// `resumeFrom` is read last. Stamps of one customer are serialised by the lock, so every later stamp is
    /// later than `resumeFrom`, and every row stamped before it was read by this request.
    ///
    /// Lock-free path, tried first: one statement reads the page and whether the customer has any servable row
    /// left unstamped, in one snapshot. A full page with nothing left to stamp is answered as read: it carries
    /// no `resumeFrom`, every row it serves already has its stamp, and a row that becomes servable later sorts
    /// after this page (below) and is stamped by a later request. Only a page that is not full, or a customer
    /// with rows to stamp, takes the lock — so concurrent walks of one merchant's backlog do not queue.
    ///
    /// Cursor order: only rows written by transactions older than every one still running are served, so a row
    /// that commits later always sorts after every cursor already handed out — a kept cursor never skips a row,
    /// even while a sync is writing. `visibleAfter` is the poller's text, compared by PostgreSQL at its full
    /// (microsecond) precision.
    public func feedTransactions(customerID: Int64, after cursor: FeedCursor?, visibleAfter: String?, limit: Int) async throws
        -> (rows: [FeedTransaction], resumeFrom: String?) {
        let parameters: [any PostgresEncodable] = [customerID, String(cursor?.xid ?? 0), cursor?.id ?? 0, visibleAfter, limit]
        let unlocked = try connection.query("""
            WITH page AS (\(Self.feedPageQuery)),
                 unstamped AS (
                   SELECT EXISTS (SELECT 1 FROM transactions t
                                  WHERE t.customer_id = $1 AND t.visible_at IS NULL AND t.status = 'booked'
                                    AND t.ingest_xid < pg_snapshot_xmin(pg_current_snapshot())
                                    AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.iban IS NOT NULL)) AS any)
            SELECT page.*, unstamped.any FROM page, unstamped ORDER BY page.ingest_xid_sort, page.id
            """, parameters, planning: .perExecution).map { row in (try Self.feedTransaction(row), try row.decode(Bool.self, at: 12)) }
        if unlocked.count == limit, !unlocked.contains(where: \.1) {
            return (unlocked.map(\.0), nil)
        }
        return try await connection.withTransaction(begin: "BEGIN; SELECT pg_advisory_xact_lock(\(Self.feedStampLockKey(customerID)))") {
            try connection.execute("""
                UPDATE transactions t SET visible_at = (SELECT clock_timestamp())
                WHERE t.customer_id = $1 AND t.visible_at IS NULL AND t.status = 'booked'
                  AND t.ingest_xid < pg_snapshot_xmin(pg_current_snapshot())
                  AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.iban IS NOT NULL)
                """, [customerID])
            // Planned for each request (a cursor range, an optional updatedAt, customers of very different sizes):
            // a generic plan could sort a large customer's whole feed for every page.
            let rows = try connection.query(Self.feedPageQuery, parameters, planning: .perExecution).map(Self.feedTransaction)
            guard rows.count < limit else { return (rows, nil) }
            let resumeFrom = try connection.queryValue(String.self, """
                SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                """)
            return (rows, resumeFrom)
        }
    }

    /// One feed page: $1 customer, $2/$3 the cursor (xid as text, row id), $4 `visibleAfter` or NULL, $5 the size.
    /// Only stamped rows: under READ COMMITTED the stamping UPDATE and this read see different snapshots, and a
    /// row that became servable in between (an older transaction ended) must not go out unstamped — it would be
    /// stamped later than this answer's `resumeFrom` and served again. Such a row sorts after every row stamped
    /// before it (its transaction was still running then), so the cursor handed out never passes it.
    /// Columns 0–10 are read by `feedTransaction`; `ingest_xid_sort` orders the lock-free path's outer select.
    private static let feedPageQuery = """
        SELECT t.id, t.ingest_xid::text, t.flowpay_id, a.iban, t.booking_date, t.value_date, t.amount_minor, t.currency,
               t.counterparty_iban, t.counterparty_name, t.remittance, t.ingest_xid AS ingest_xid_sort
        FROM transactions t JOIN accounts a ON a.id = t.account_id
        WHERE t.customer_id = $1 AND t.status = 'booked' AND a.iban IS NOT NULL AND t.visible_at IS NOT NULL
          AND t.ingest_xid < pg_snapshot_xmin(pg_current_snapshot())
          -- held rows wait for evidence (Store+Holds); a released one is stored anew for the feeds
          AND (t.push_state IS NOT NULL OR NOT EXISTS (SELECT 1 FROM held_transactions h WHERE h.account_id = t.account_id AND h.tx_key = t.tx_key))
          AND (t.ingest_xid, t.id) > ($2::text::xid8, $3::bigint)
          AND ($4::timestamptz IS NULL OR t.visible_at > $4::timestamptz)
        ORDER BY t.ingest_xid, t.id
        LIMIT $5
        """

    private static func feedTransaction(_ row: Row) throws -> FeedTransaction {
        let xid = UInt64(try row.decode(String.self, at: 1)) ?? 0
        return FeedTransaction(
            cursor: FeedCursor(xid: xid, id: try row.decode(at: 0)),
            transaction: OutboxTransaction(flowpayID: try row.decode(at: 2), iban: try row.decode(at: 3), bookingDate: try row.decode(at: 4),
                                           valueDate: try row.decode(at: 5), amountMinor: try row.decode(at: 6),
                                           currency: try row.decode(at: 7), counterpartyIBAN: try row.decode(at: 8),
                                           counterpartyName: try row.decode(at: 9), remittance: try row.decode(at: 10)))
    }

    /// Feed stamping is serialised per customer in its own advisory-lock key space.
    static func feedStampLockKey(_ customerID: Int64) -> Int64 { (0x4645 << 32) | (customerID & 0xffff_ffff) }
}
