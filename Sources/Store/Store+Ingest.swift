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

extension IngestResult {
    /// Adds a chunk's new and duplicate counts.
    mutating func add(_ chunk: IngestResult) {
        newBooked += chunk.newBooked
        newPending += chunk.newPending
        duplicates += chunk.duplicates
    }
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
    /// Ingests are serialised per account (their own advisory-lock key space, beside the customers').
    static func accountLockKey(_ accountID: Int64) -> Int64 { (0x4241 << 32) | (accountID & 0xffff_ffff) }

    /// Stores one account's fetched window exactly once per transaction, in one database transaction:
    /// 1. the account's ingest lock is taken, so nothing else writes the account's rows until commit;
    /// 2. rows are keyed client-side in arrival order (`WindowKeys`: occurrence ordinals over the whole window)
    ///    and COPYed straight into `transactions`, new booked rows queued for push (the outbox):
    ///    - an account with nothing stored (a first sync: the largest fetch there is) streams the whole fetch
    ///      as it arrives into one COPY: every row is new;
    ///    - otherwise rows go a chunk at a time: one probe sends the chunk's 32-byte keys and learns which are
    ///      stored, then only the new rows are COPYed. A duplicate costs its key and one index probe;
    /// 3. pending rows this fetch no longer returns are removed: those inside the window (booked or dropped)
    ///    and those dated before it (no later window would ever see them again; pending is never pushed);
    /// 4. the watermark moves to the window's end (in the same statement as 3).
    /// If the pages throw (source error, malformed data) or the connection drops, nothing of it is kept. The
    /// primary key `(account_id, tx_key)` still refuses any duplicate the lock did not prevent: the ingest
    /// fails and is retried; it never stores a row twice.
    public func ingest<Pages: AsyncSequence>(
        account: AccountRef,
        window: SyncWindow,
        sourceIDsAreStable: Bool,
        runID: Int64? = nil,
        pages: Pages
    ) async throws -> IngestResult where Pages.Element == [BankTransaction] {
        try await connection.withTransaction {
            try connection.advisoryTransactionLock(Self.accountLockKey(account.id))
            let nothingStored = try connection.queryValue(Bool.self,
                "SELECT NOT EXISTS (SELECT 1 FROM transactions WHERE account_id = $1)", [account.id])
            var admission = IngestAdmission(window: window, sourceIDsAreStable: sourceIDsAreStable)
            if nothingStored {
                try await connection.copyIn(Self.copyTransactions) { writer in
                    for try await page in pages {
                        for transaction in page {
                            guard let key = admission.admit(transaction) else { continue }
                            try Self.writeRow(transaction, key: key[...], account: account, runID: runID, to: writer,
                                              counting: &admission.result)
                        }
                    }
                }
            } else {
                var chunk = KeyedChunk()
                for try await page in pages {
                    for transaction in page {
                        guard let key = admission.admit(transaction) else { continue }
                        chunk.append(transaction, key: key)
                        if chunk.count == ingestChunkSize {
                            admission.result.add(try await storeChunk(chunk, account: account, runID: runID))
                            chunk.removeAll()
                        }
                    }
                }
                if chunk.count > 0 { admission.result.add(try await storeChunk(chunk, account: account, runID: runID)) }
            }
            admission.result.pendingRemoved = try connection.queryValue(Int.self, Self.finishIngest,
                [account.id, window.to, admission.pendingKeys, admission.result.newBooked])
            return admission.result
        }
    }

    /// One flag per row of the chunk: whether the account already stores its key.
    private func storedFlags(account: Int64, chunk: KeyedChunk) throws -> [Bool] {
        let flags = try connection.queryValue(String.self, Self.probeKeys, [account, chunk.packedKeys])
        guard flags.utf8.count == chunk.count else {
            throw PostgresError.decoding(column: "ingest key probe", expected: "\(chunk.count) flags",
                                         found: "\(flags.utf8.count)")
        }
        return flags.utf8.map { $0 == UInt8(ascii: "s") }
    }

    /// Probes the chunk's keys and COPYs the rows not stored yet into `transactions`. Returns what it added.
    private func storeChunk(_ chunk: KeyedChunk, account: AccountRef, runID: Int64?) async throws -> IngestResult {
        let stored = try storedFlags(account: account.id, chunk: chunk)
        var added = IngestResult()
        let newCount = stored.count { !$0 }
        added.duplicates = chunk.count - newCount
        guard newCount > 0 else { return added }
        try await connection.copyIn(Self.copyTransactions) { writer in
            for index in 0..<chunk.count where !stored[index] {
                try Self.writeRow(chunk.transactions[index], key: chunk.key(at: index), account: account, runID: runID,
                                  to: writer, counting: &added)
            }
        }
        return added
    }

    /// One new row for `copyTransactions`, counted as new booked or new pending.
    static func writeRow(_ transaction: BankTransaction, key: ArraySlice<UInt8>, account: AccountRef, runID: Int64?,
                         to writer: CopyWriter, counting result: inout IngestResult) throws {
        writer.field(account.id)
        writer.field(account.customerID)
        writer.field(bytes: key)
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
        writer.field(runID)
        writer.field(transaction.status == .booked ? "queued" : nil)
        try writer.endRow()
        if transaction.status == .booked { result.newBooked += 1 } else { result.newPending += 1 }
    }

    static let copyTransactions = """
        COPY transactions (account_id, customer_id, tx_key, status, booking_date, value_date, amount_minor, currency,
                           counterparty_iban, counterparty_name, remittance, bank_tx_code, source_tx_id, raw,
                           first_seen_run, push_state)
        FROM STDIN
        """

    /// $1 account, $2 the chunk's keys packed 32 bytes each. One character per key, in order: `s` when the
    /// account stores it, `n` when it is new. Each key is one probe of the primary key.
    static let probeKeys = """
        SELECT coalesce(string_agg(
                   CASE WHEN EXISTS (SELECT 1 FROM transactions t
                                     WHERE t.account_id = $1 AND t.tx_key = substring($2::bytea FROM i * 32 + 1 FOR 32))
                        THEN 's' ELSE 'n' END, '' ORDER BY i), '')
        FROM generate_series(0, length($2::bytea) / 32 - 1) AS i
        """

    /// $1 account, $2 window end, $3 the keys of the pending rows this fetch returned, packed 32 bytes each,
    /// $4 booked rows stored. Removes the stale pending rows, moves the watermark and adds to the account's
    /// booked total, in the ingest's transaction (after its rows).
    static let finishIngest = """
        WITH removed AS (
            DELETE FROM transactions t
            WHERE t.account_id = $1 AND t.status = 'pending'
              AND (COALESCE(t.booking_date, t.value_date) IS NULL
                   OR COALESCE(t.booking_date, t.value_date) <= $2::date)
              AND NOT EXISTS (SELECT 1 FROM generate_series(0, length($3::bytea) / 32 - 1) AS i
                              WHERE substring($3::bytea FROM i * 32 + 1 FOR 32) = t.tx_key)
            RETURNING 1
        ), watermark AS (
            INSERT INTO watermarks (account_id, booked_through, last_pull_at, booked_stored)
            VALUES ($1, $2::date, now(), $4::bigint)
            ON CONFLICT (account_id) DO UPDATE SET
                booked_through = GREATEST(watermarks.booked_through, EXCLUDED.booked_through),
                last_pull_at = EXCLUDED.last_pull_at,
                booked_stored = watermarks.booked_stored + EXCLUDED.booked_stored
        )
        SELECT count(*) FROM removed
        """
}
