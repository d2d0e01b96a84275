import BankSyncCore
import Postgres

/// What one ingest changed.
public struct IngestResult: Sendable, Equatable {
    /// Booked transactions stored for the first time (and queued for push).
    public var newBooked = 0
    public var newPending = 0
    /// Transactions fetched again that were already stored.
    public var duplicates = 0
    /// Pending transactions the source no longer reports (booked or dropped), removed.
    public var pendingRemoved = 0
    /// Transactions the source returned outside the requested window: ignored (their days are not whole).
    public var outsideWindow = 0
    public var fetched = 0

    public init() {}
}

/// The account an ingest writes to.
public struct AccountRef: Sendable, Equatable {
    public let id: Int64
    public let customerID: Int64

    public init(id: Int64, customerID: Int64) {
        self.id = id
        self.customerID = customerID
    }
}

extension Store {
    /// Stores one account's fetched window exactly once per transaction, in one database transaction:
    /// 1. every page is streamed with COPY into a session staging table (bounded memory);
    /// 2. one `INSERT … SELECT … ON CONFLICT (account_id, tx_key) DO NOTHING` keys the rows — occurrence
    ///    ordinals for fingerprinted rows are computed there, over the whole window — and queues new booked
    ///    rows for push (the outbox) while a duplicate costs one index probe;
    /// 3. pending rows this fetch no longer returns are removed: those inside the window (booked or dropped)
    ///    and those dated before it (no later window would ever see them again; pending is never pushed);
    /// 4. the watermark moves to the window's end (in the same statement as 2 and 3).
    /// If the pages throw (source error, malformed data) or the connection drops, nothing of it is kept.
    public func ingest<Pages: AsyncSequence>(
        account: AccountRef,
        window: SyncWindow,
        sourceIDsAreStable: Bool,
        runID: Int64? = nil,
        pages: Pages
    ) async throws -> IngestResult where Pages.Element == [BankTransaction] {
        var result = IngestResult()
        // One ingest per account per run: its fixed cost is round trips, so the staging table is created once
        // per session (it empties itself at every commit or rollback) and the watermark moves in the merge.
        let stagingExists = connection.sessionObjects.contains("ingest_staging")
        try await connection.withTransaction {
            if !stagingExists { try connection.execute(Self.createStaging) }
            var sequence: Int64 = 0
            try await connection.copyIn(Self.copyStaging) { writer in
                for try await page in pages {
                    for transaction in page {
                        result.fetched += 1
                        if let day = transaction.day, !window.contains(day) {
                            result.outsideWindow += 1
                            continue
                        }
                        sequence += 1
                        Self.writeStagingRow(transaction, sequence: sequence, stableIDs: sourceIDsAreStable, to: writer)
                        try writer.endRow()
                    }
                }
            }
            let row = try require(try connection.query(Self.mergeStaging, [
                account.id, account.customerID, runID, window.to,
            ]).first)
            result.newBooked = try row.decode(Int.self, "new_booked")
            result.newPending = try row.decode(Int.self, "new_pending")
            result.pendingRemoved = try row.decode(Int.self, "pending_removed")
            result.duplicates = Int(sequence) - result.newBooked - result.newPending
        }
        connection.sessionObjects.insert("ingest_staging")   // committed: it outlives this transaction
        return result
    }

    static func writeStagingRow(_ transaction: BankTransaction, sequence: Int64, stableIDs: Bool, to writer: CopyWriter) {
        let key = DedupKey.base(for: transaction, sourceIDsAreStable: stableIDs)
        writer.field(sequence)
        writer.field(bytes: key.bytes)
        writer.field(key.needsOrdinal)
        writer.field(transaction.status.rawValue)
        writer.field(transaction.bookingDate?.postgresDate)
        writer.field(transaction.valueDate?.postgresDate)
        writer.field(transaction.amount.minorUnits)
        writer.field(transaction.amount.currency.code)
        writer.field(transaction.counterpartyIBAN)
        writer.field(transaction.counterpartyName)
        writer.field(transaction.remittance)
        writer.field(transaction.bankTransactionCode)
        writer.field(transaction.sourceID)
        writer.field(transaction.rawJSON)
    }

    static let createStaging = """
        CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
            seq bigint NOT NULL, key_base bytea NOT NULL, needs_ordinal boolean NOT NULL, status text NOT NULL,
            booking_date date, value_date date, amount_minor bigint NOT NULL, currency text NOT NULL,
            counterparty_iban text, counterparty_name text, remittance text, bank_tx_code text,
            source_tx_id text, raw text)
        ON COMMIT DELETE ROWS
        """

    static let copyStaging = """
        COPY ingest_staging (seq, key_base, needs_ordinal, status, booking_date, value_date, amount_minor, currency,
                             counterparty_iban, counterparty_name, remittance, bank_tx_code, source_tx_id, raw)
        FROM STDIN
        """

    /// $1 account, $2 customer, $3 run, $4 window end. The ordinal of a fingerprinted row is its rank among
    /// the window's rows with the same fingerprint (DedupKey documents the key). The watermark moves to the
    /// window's end in the same statement, so in the same transaction as the rows.
    static let mergeStaging = """
        WITH keyed AS MATERIALIZED (
            SELECT s.*,
                   CASE WHEN s.needs_ordinal
                        THEN sha256(s.key_base || int4send(row_number() OVER (PARTITION BY s.needs_ordinal, s.key_base ORDER BY s.seq)::integer))
                        ELSE s.key_base END AS tx_key
            FROM ingest_staging s
        ), inserted AS (
            INSERT INTO transactions (account_id, customer_id, tx_key, status, booking_date, value_date, amount_minor,
                                      currency, counterparty_iban, counterparty_name, remittance, bank_tx_code,
                                      source_tx_id, raw, first_seen_run, push_state)
            SELECT $1, $2, k.tx_key, k.status, k.booking_date, k.value_date, k.amount_minor, k.currency,
                   k.counterparty_iban, k.counterparty_name, k.remittance, k.bank_tx_code, k.source_tx_id, k.raw::jsonb, $3,
                   CASE WHEN k.status = 'booked' THEN 'queued' END
            FROM keyed k
            -- A duplicate costs one index probe here: it is never projected, cast or offered for insert.
            WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.account_id = $1 AND t.tx_key = k.tx_key)
            ORDER BY k.tx_key
            ON CONFLICT (account_id, tx_key) DO NOTHING
            RETURNING status
        ), removed AS (
            DELETE FROM transactions t
            WHERE t.account_id = $1 AND t.status = 'pending'
              AND (COALESCE(t.booking_date, t.value_date) IS NULL
                   OR COALESCE(t.booking_date, t.value_date) <= $4::date)
              AND NOT EXISTS (SELECT 1 FROM keyed k WHERE k.status = 'pending' AND k.tx_key = t.tx_key)
            RETURNING 1
        ), watermark AS (
            INSERT INTO watermarks (account_id, booked_through, last_pull_at) VALUES ($1, $4::date, now())
            ON CONFLICT (account_id) DO UPDATE SET
                booked_through = GREATEST(watermarks.booked_through, EXCLUDED.booked_through),
                last_pull_at = EXCLUDED.last_pull_at
        )
        SELECT (SELECT count(*) FROM inserted WHERE status = 'booked') AS new_booked,
               (SELECT count(*) FROM inserted WHERE status = 'pending') AS new_pending,
               (SELECT count(*) FROM removed) AS pending_removed
        """
}

/// `try #require`-like unwrap for statement results that always return a row.
func require<T>(_ value: T?, _ statement: String = "merge") throws -> T {
    guard let value else { throw PostgresError.noRows(statement: statement) }
    return value
}
