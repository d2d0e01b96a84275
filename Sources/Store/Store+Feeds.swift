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
    public func customerID(merchantID: String) throws -> Int64? {
        try connection.query("SELECT id FROM customers WHERE merchant_id = $1", [merchantID]).first?.decode(Int64.self, at: 0)
    }

    /// Booked transactions in arrival order after `cursor` (and, with `visibleAfter`, only those the feed first
    /// served after that instant), at most `limit`; and the instant a poller resumes from (`resumeFrom`).
    ///
    /// Only rows written by transactions older than every transaction still running are served
    /// (`ingest_xid < pg_snapshot_xmin(pg_current_snapshot())`): a row that commits later always sorts after
    /// every cursor already handed out, so a kept cursor never skips a row, even while a sync is writing.
    ///
    /// `updatedAt` is visibility, not arrival: each request first stamps the customer's rows that have become
    /// servable since (`visible_at`, one database clock reading for all of them, stamps serialised per customer
    /// so they only grow), then reads the page. A row is stamped once, by the first request that could serve
    /// it; `resumeFrom` is read after the page, so every row stamped before it was servable to this request and
    /// every row stamped later has a later stamp: a poller that resumes with `resumeFrom` (the `X-Updated-Until`
    /// header) gets every row exactly once, however ingests interleave.
    public func feedTransactions(customerID: Int64, after cursor: FeedCursor?, visibleAfter: Date?, limit: Int) throws
        -> (rows: [FeedTransaction], resumeFrom: Date) {
        try connection.execute("""
            WITH serialised AS (SELECT pg_advisory_xact_lock($2)), stamp AS (SELECT clock_timestamp() AS at FROM serialised)
            UPDATE transactions t SET visible_at = stamp.at FROM stamp
            WHERE t.customer_id = $1 AND t.visible_at IS NULL AND t.status = 'booked'
              AND t.ingest_xid < pg_snapshot_xmin(pg_current_snapshot())
            """, [customerID, Self.feedStampLockKey(customerID)])
        let rows = try connection.query("""
            SELECT t.id, t.ingest_xid::text, t.flowpay_id, a.iban, t.booking_date, t.value_date, t.amount_minor, t.currency,
                   t.counterparty_iban, t.counterparty_name, t.remittance
            FROM transactions t JOIN accounts a ON a.id = t.account_id
            WHERE t.customer_id = $1 AND t.status = 'booked' AND a.iban IS NOT NULL
              AND t.ingest_xid < pg_snapshot_xmin(pg_current_snapshot())
              AND (t.ingest_xid, t.id) > ($2::text::xid8, $3::bigint)
              AND ($4::timestamptz IS NULL OR t.visible_at > $4)
            ORDER BY t.ingest_xid, t.id
            LIMIT $5
            """, [customerID, String(cursor?.xid ?? 0), cursor?.id ?? 0, visibleAfter, limit]).map { row in
            let xid = UInt64(try row.decode(String.self, at: 1)) ?? 0
            return FeedTransaction(
                cursor: FeedCursor(xid: xid, id: try row.decode(at: 0)),
                transaction: OutboxTransaction(flowpayID: try row.decode(at: 2), iban: try row.decode(at: 3), bookingDate: try row.decode(at: 4),
                                               valueDate: try row.decode(at: 5), amountMinor: try row.decode(at: 6), currency: try row.decode(at: 7),
                                               counterpartyIBAN: try row.decode(at: 8), counterpartyName: try row.decode(at: 9),
                                               remittance: try row.decode(at: 10)))
        }
        // After the page: later stamps are taken under the lock after this reading, so they are all later.
        let resumeFrom = try connection.queryValue(Date.self, """
            WITH serialised AS (SELECT pg_advisory_xact_lock($1)) SELECT clock_timestamp() FROM serialised
            """, [Self.feedStampLockKey(customerID)])
        return (rows, resumeFrom)
    }

    /// Feed stamping is serialised per customer in its own advisory-lock key space.
    static func feedStampLockKey(_ customerID: Int64) -> Int64 { (0x4645 << 32) | (customerID & 0xffff_ffff) }

    /// Is the schema at the version this build expects, and the database reachable?
    public func schemaVersion() throws -> Int {
        try connection.queryValue(Int.self, "SELECT COALESCE(max(version), 0) FROM schema_migrations")
    }
}
