import BankSyncCore
import Postgres

/// What one ingest changed.
public struct IngestResult: Sendable, Equatable {
    /// Booked transactions stored for the first time (and queued for push).
    public var newBooked = 0
    public var newPending = 0
    /// Transactions fetched again that were already stored.
    public var duplicates = 0
    /// Of the duplicates, those recognised by content under a new source id (a renewed consent, a new
    /// source): the stored row took the new key and kept its Flowpay id.
    public var adopted = 0
    /// Stored bookings the source edited (the old version gone from two fetches in a row, a new one on the same
    /// day with the same amount): the stored row took the new content and is not sent again. Not counted in
    /// `newBooked`.
    public var edited = 0
    /// Stored bookings the bank corrected under their stable id (another date or amount, the old version gone from
    /// a fetch that covered its day): the stored row took the new version and its Flowpay id went back to the outbox
    /// (Flowpay upserts it). Not counted in `newBooked`.
    public var corrected = 0
    /// New booked rows held (stored, not queued): each may be an edit of a stored booking this fetch did not
    /// return, or another booking (`Store.holdPossibleEdits`). Not counted in `newBooked`.
    public var held = 0
    /// Rows held before that this fetch showed to be new bookings: queued now, counted in `newBooked`.
    public var holdsReleased = 0
    /// Rows held before that the bank no longer reports, while the booking they resembled is back: deleted.
    public var holdsWithdrawn = 0
    /// New bookings carrying a stable id the account already stores for another booking date or amount.
    public var sourceIDsReused = 0
    /// The oldest booked day this fetch returned.
    public var oldestBooked: Day?
    /// Pending transactions the source no longer reports (booked or dropped), removed.
    public var pendingRemoved = 0
    /// Transactions the source returned outside the requested window. Those with a stable source id are
    /// stored like the others (when new); the rest are dropped (`outsideWindowDropped`): a fingerprint's
    /// ordinal needs its whole booking day, which the source did not necessarily return. So are rows with a
    /// stable id that are new by key but match a booking stored under an earlier consent's ids by content: only
    /// the whole day tells that booking from an identical twin (an in-window read decides).
    public var outsideWindow = 0
    public var outsideWindowDropped = 0
    public var fetched = 0

    public init() {}
}

extension IngestResult {
    /// Adds the result of another piece of the same window (a first sync fetched in pieces).
    public mutating func merge(_ piece: IngestResult) {
        add(piece)
        edited += piece.edited
        corrected += piece.corrected
        holdsReleased += piece.holdsReleased
        holdsWithdrawn += piece.holdsWithdrawn
        sourceIDsReused += piece.sourceIDsReused
        oldestBooked = [oldestBooked, piece.oldestBooked].compactMap { $0 }.min()
        pendingRemoved += piece.pendingRemoved
        outsideWindow += piece.outsideWindow
        fetched += piece.fetched
    }

    /// Adds a chunk's new, duplicate and dropped counts.
    mutating func add(_ chunk: IngestResult) {
        newBooked += chunk.newBooked
        newPending += chunk.newPending
        duplicates += chunk.duplicates
        adopted += chunk.adopted
        held += chunk.held
        outsideWindowDropped += chunk.outsideWindowDropped
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
    ///
    /// A row whose key is not stored but whose content key is (its source id changed: a renewed consent, a
    /// new source, stable ids switched on or off) is the same transaction: the stored row adopts the new key
    /// and source id and keeps its Flowpay id; nothing is queued. Only rows stored under an earlier key
    /// generation of the customer, or keyed by content on either side, are adopted: within one consent a
    /// stable id is the identity, so a new id with a known content is a new booking.
    ///
    /// `readForReconciliationFrom`: the account's reconciliation read (`reconcile(account:checkFrom:today:)`) goes in the
    /// COMMIT's round trip, and `reconcile` takes it when it comes next on this session.
    public func ingest<Pages: AsyncSequence>(
        account: AccountRef,
        window: SyncWindow,
        sourceIDsAreStable: Bool,
        keyGeneration: Int32 = 1,
        runID: Int64? = nil,
        readForReconciliationFrom checkFrom: Day? = nil,
        pages: Pages
    ) async throws -> IngestResult where Pages.Element == [BankTransaction] {
        // The first chunk is keyed before the transaction opens, so its probe goes with the BEGIN, the account's lock and
        // the head read: one round trip (a daily window is one chunk). Not on a first sync: the account most likely
        // stores nothing, and probing a thousand keys there is PostgreSQL work for nothing (if it does store rows,
        // `storeChunk` probes then). The account is an integer, not outside text.
        var admission = IngestAdmission(window: window, sourceIDsAreStable: sourceIDsAreStable)
        admission.tracksBookedKeys = true
        var rows = FetchedRows(pages: pages.makeAsyncIterator())
        var chunk = KeyedChunk()
        while chunk.count < ingestChunkSize, let transaction = try await rows.next() {
            guard let keys = admission.admit(transaction) else { continue }
            chunk.append(transaction, keys: keys)
        }
        var opening = [PipelinedStatement(Self.ingestHead, [account.id])]
        if chunk.count > 0, !window.isFirstSync { opening.append(Self.probe(account: account.id, chunk: chunk, keyGeneration: keyGeneration)) }
        return try await connection.withTransaction(begin: ["BEGIN", "SELECT pg_advisory_xact_lock(\(Self.accountLockKey(account.id)))"],
                                                    first: opening) { opened in
            guard let head = opened[0].first else {
                throw PostgresError.decoding(column: "account \(account.id)", expected: "a stored account", found: "none")
            }
            let nothingStored = try head.decode(Bool.self, at: 0)
            let ids = FlowpayTransactionIDs(flowpayCustomerID: try head.decode(String.self, at: 1), ibanKey: try head.decode(String?.self, at: 2),
                                            currency: try head.decode(String?.self, at: 3), sourceAccountID: try head.decode(String.self, at: 4))
            // Booked rows this ingest adds to the account's stored total, where it differs from the rows it queued.
            var storedBookedDelta: Int?
            // Delivered bookings the bank corrected: queued again, so no longer counted as delivered.
            var redelivered = 0
            if nothingStored {
                // Every row is new: the first chunk and the rest of the fetch, as it arrives, into one COPY.
                admission.tracksBookedKeys = false
                try await connection.copyIn(Self.copyTransactions) { writer in
                    for index in 0..<chunk.count {
                        let key = chunk.key(at: index)
                        try Self.writeRow(chunk.transactions[index], key: key, contentKey: chunk.contentKey(at: index),
                                          flowpayID: ids.id(forKey: key), account: account,
                                          keyGeneration: keyGeneration, runID: runID, to: writer, counting: &admission.result)
                    }
                    while let page = try await rows.nextPage() {
                        for transaction in page {
                            guard let keys = admission.admit(transaction) else { continue }
                            try Self.writeRow(transaction, key: keys.key[...], contentKey: keys.contentKey[...],
                                              flowpayID: ids.id(forKey: keys.key), account: account,
                                              keyGeneration: keyGeneration, runID: runID, to: writer, counting: &admission.result)
                        }
                    }
                }
            } else {
                if chunk.count > 0 {
                    let flags = try opened.count > 1 ? Self.storedFlags(opened[1], count: chunk.count) : nil
                    admission.result.add(try await storeChunk(chunk, flags: flags, account: account, ids: ids, keyGeneration: keyGeneration,
                                                              runID: runID))
                    chunk.removeAll()
                }
                while let page = try await rows.nextPage() {
                    for transaction in page {
                        guard let keys = admission.admit(transaction) else { continue }
                        chunk.append(transaction, keys: keys)
                        if chunk.count == ingestChunkSize {
                            admission.result.add(try await storeChunk(chunk, account: account, ids: ids, keyGeneration: keyGeneration, runID: runID))
                            chunk.removeAll()
                        }
                    }
                }
                if chunk.count > 0 {
                    admission.result.add(try await storeChunk(chunk, account: account, ids: ids, keyGeneration: keyGeneration, runID: runID))
                }
                // Rows held for a whole-day read are stored (in the account's total) but not new bookings yet.
                var delta = admission.result.newBooked
                admission.result.newBooked -= admission.result.held
                var released: [UInt8] = []
                if try head.decode(Bool.self, at: 5) {
                    let wholeDay = try reviewWholeDayHolds(account: account, window: window, fetchedBookedKeys: admission.bookedKeys, runID: runID)
                    admission.result.newBooked += wholeDay.released
                    admission.result.holdsReleased += wholeDay.released
                    admission.result.adopted += wholeDay.merged
                    admission.result.holdsWithdrawn += wholeDay.withdrawn
                    delta -= wholeDay.merged + wholeDay.withdrawn
                    released = wholeDay.releasedKeys
                    // Holds first: a row held by this very fetch waits for the next one.
                    let review = try reviewHolds(account: account, window: window, fetchedBookedKeys: admission.bookedKeys, runID: runID)
                    admission.result.holdsReleased += review.released
                    admission.result.newBooked += review.released
                    admission.result.edited = review.confirmedEdits
                    admission.result.holdsWithdrawn += review.withdrawn
                    delta -= review.confirmedEdits + review.withdrawn
                    released += review.releasedKeys
                    redelivered += review.redelivered
                }
                if admission.result.newBooked > admission.result.holdsReleased {
                    // The three checks' reads in one round trip; a check after one that wrote reads again.
                    let reads = try identityReads(account: account, window: window, fetchedBookedKeys: admission.bookedKeys, released: released,
                                                  keyGeneration: keyGeneration, sourceIDsAreStable: sourceIDsAreStable)
                    let switched = try matchAcrossSources(account: account, window: window, fetchedBookedKeys: admission.bookedKeys,
                                                          released: released, adoptedByContent: admission.result.adopted,
                                                          keyGeneration: keyGeneration, runID: runID, candidates: reads.switchCandidates)
                    admission.result.adopted += switched.adopted
                    admission.result.duplicates += switched.adopted
                    admission.result.held += switched.held
                    admission.result.newBooked -= switched.adopted + switched.held
                    delta -= switched.adopted
                    var readsStillHold = switched.adopted + switched.held == 0
                    if admission.result.newBooked > admission.result.holdsReleased {
                        if sourceIDsAreStable {
                            let corrections = try recognizeCorrections(account: account, window: window, fetchedBookedKeys: admission.bookedKeys,
                                                                       released: released, runID: runID,
                                                                       namesakes: readsStillHold ? reads.sameSourceID : nil)
                            readsStillHold = readsStillHold && corrections.reused + corrections.corrected + corrections.held == 0
                            admission.result.sourceIDsReused = corrections.reused
                            admission.result.corrected = corrections.corrected
                            admission.result.held += corrections.held
                            admission.result.newBooked -= corrections.corrected + corrections.held
                            delta -= corrections.corrected
                            redelivered += corrections.redelivered
                        }
                        let held = try holdPossibleEdits(account: account, window: window, fetchedBookedKeys: admission.bookedKeys,
                                                         released: released, runID: runID, read: readsStillHold ? reads.editPairs : nil)
                        admission.result.held += held
                        admission.result.newBooked -= held
                    }
                }
                storedBookedDelta = delta
            }
            // The last statement carries the COMMIT (one round trip): the rows, queue and watermark commit together.
            let finish: [any PostgresEncodable] = [
                account.id, window.to, admission.pendingKeys, storedBookedDelta ?? admission.result.newBooked,
                admission.result.edited + admission.result.corrected,
                admission.result.sourceIDsReused, window.isFirstSync ? window.to - window.from : nil,
                window.isFirstSync ? admission.oldestBooked.map { window.to - $0 } ?? 0 : nil, redelivered, account.customerID]
            let finished = try connection.queryThenCommit(Self.finishIngest, finish,
                                                          thenRead: checkFrom.map { Self.reconciliationRead(account: account.id, checkFrom: $0) })
            guard let pendingRemoved = finished.first else { throw PostgresError.noRows(statement: Self.finishIngest) }
            admission.result.pendingRemoved = try pendingRemoved.decode(Int.self, at: 0)
            admission.result.oldestBooked = admission.oldestBooked
            return admission.result
        }
    }

    /// $1 account. Whether the account stores nothing (no row, no retired key: a first sync's single COPY), what its
    /// rows' Flowpay ids are derived from (`FlowpayTransactionIDs`), and whether it holds rows waiting for evidence.
    static let ingestHead = """
        SELECT NOT EXISTS (SELECT 1 FROM transactions WHERE account_id = $1) AND NOT EXISTS (SELECT 1 FROM retired_tx_keys WHERE account_id = $1),
               c.flowpay_customer_id::text, a.iban_key, a.currency, a.source_account_id,
               EXISTS (SELECT 1 FROM held_transactions WHERE account_id = $1)
        FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE a.id = $1
        """

    /// What the account stores of each row of a chunk.
    enum Stored: UInt8 {
        /// Its key is stored: a duplicate.
        case byKey = 0x73          // "s"
        /// Its key is stored with another content key (identical bookings the source now lists in another
        /// order): a duplicate whose stored content key is brought up to date, so content keys stay unique.
        case byKeyNewOrdinal = 0x6B   // "k"
        /// Its content key is stored under another key the row may adopt: the same transaction, new source id.
        case byContent = 0x61      // "a"
        case new = 0x6E            // "n"
        /// Not stored, but an earlier booking held its key and moved to another (`retired_tx_keys`): new, with a
        /// reissued Flowpay id.
        case newUnderRetiredKey = 0x72   // "r"
    }

    /// The probe of a chunk's keys (`probeKeys`).
    static func probe(account: Int64, chunk: KeyedChunk, keyGeneration: Int32) -> PipelinedStatement {
        PipelinedStatement(probeKeys, [account, chunk.packedKeys, chunk.packedContentKeys, keyGeneration])
    }

    /// One flag per row of a chunk of `count` rows, from its probe's result.
    private static func storedFlags(_ probed: QueryResult, count: Int) throws -> [Stored] {
        guard let row = probed.first else { throw PostgresError.noRows(statement: probeKeys) }
        let flags = try row.decode(String.self, at: 0)
        guard flags.utf8.count == count else {
            throw PostgresError.decoding(column: "ingest key probe", expected: "\(count) flags",
                                         found: "\(flags.utf8.count)")
        }
        return try flags.utf8.map { flag in
            guard let stored = Stored(rawValue: flag) else {
                throw PostgresError.decoding(column: "ingest key probe", expected: "s, k, a, n or r", found: String(UnicodeScalar(flag)))
            }
            return stored
        }
    }

    /// Probes the chunk's keys, lets stored rows adopt the new keys of rows recognised by content, and COPYs
    /// the rows not stored yet into `transactions`. Returns what it added.
    /// `flags`: the probe's answer when it was sent already (with the ingest's BEGIN).
    private func storeChunk(_ chunk: KeyedChunk, flags: [Stored]? = nil, account: AccountRef, ids: FlowpayTransactionIDs,
                            keyGeneration: Int32, runID: Int64?) async throws -> IngestResult {
        let stored = try flags ?? Self.storedFlags(connection.query(Self.probeKeys, Self.probe(account: account.id, chunk: chunk,
                                                                                              keyGeneration: keyGeneration).parameters),
                                                   count: chunk.count)
        var added = IngestResult()
        for index in 0..<chunk.count where stored[index] == .byKeyNewOrdinal && chunk.ordinalIsReliable[index] {
            try connection.execute("UPDATE transactions SET content_key = $3 WHERE account_id = $1 AND tx_key = $2",
                                   [account.id, Array(chunk.key(at: index)), Array(chunk.contentKey(at: index))])
        }
        // Outside the window, part of its day: the stored booking it matches, under an earlier consent's id, or an
        // identical twin of it the bank has just booked? Stored and held, not sent (taking the stored row would lose the
        // twin, sending it would send the booking twice); a read with its whole day decides (`holdForWholeDay`).
        let awaitingWholeDay = stored.indices.filter { stored[$0] == .byContent && !chunk.ordinalIsReliable[$0] }
        for index in 0..<chunk.count where stored[index] == .byContent && chunk.ordinalIsReliable[index] {
            let transaction = chunk.transactions[index]
            try connection.execute(Self.adoptKey, [account.id, Array(chunk.contentKey(at: index)), Array(chunk.key(at: index)),
                                                   transaction.sourceID, keyGeneration, transaction.rawJSON.map(JSONText.init),
                                                   chunk.packedKeys])
            added.adopted += 1
        }
        var isNew = stored.map { $0 == .new || $0 == .newUnderRetiredKey }
        for index in awaitingWholeDay { isNew[index] = true }
        let newCount = isNew.count { $0 }
        added.duplicates = chunk.count - newCount
        guard newCount > 0 else { return added }
        var reissues: [Int: Int32] = [:]
        for index in 0..<chunk.count where stored[index] == .newUnderRetiredKey {
            reissues[index] = Int32(clamping: try connection.queryValue(Int64.self, "SELECT times FROM retired_tx_keys WHERE account_id = $1 AND tx_key = $2",
                                                                        [account.id, Array(chunk.key(at: index))]))
        }
        let newRows = NewRows(chunk: chunk, isNew: isNew, reissues: reissues, ids: ids, account: account, keyGeneration: keyGeneration, runID: runID)
        if newCount <= Self.insertedRowsLimit {
            // A day's few new rows: one statement, one round trip, no server waiting on the worker mid-COPY.
            let writer = ArrayRowsWriter()
            try newRows.write(to: writer, counting: &added)
            do {
                try connection.execute(Self.insertTransactions, writer.parameters)
            } catch PostgresError.server(var error) where error.message.hasPrefix("malformed array literal") {
                // The server quotes the whole column (up to 64 rows' names and texts): kept out of logs and events.
                error.message = "malformed array literal (the rows' values left out of this message)"
                throw PostgresError.server(error)
            }
        } else {
            try await connection.copyIn(Self.copyTransactions) { writer in try newRows.write(to: writer, counting: &added) }
        }
        added.held = try holdForWholeDay(account: account, keys: awaitingWholeDay.flatMap { Array(chunk.key(at: $0)) }, runID: runID)
        return added
    }

    /// A chunk's rows that are not stored yet, with what their Flowpay ids are derived from.
    private struct NewRows {
        let chunk: KeyedChunk
        let isNew: [Bool]
        let reissues: [Int: Int32]
        let ids: FlowpayTransactionIDs
        let account: AccountRef
        let keyGeneration: Int32
        let runID: Int64?

        func write(to writer: some RowWriter, counting added: inout IngestResult) throws {
            for index in 0..<chunk.count where isNew[index] {
                let key = chunk.key(at: index)
                try Store.writeRow(chunk.transactions[index], key: key, contentKey: chunk.contentKey(at: index),
                                   flowpayID: ids.id(forKey: key, reissue: reissues[index] ?? 0),
                                   account: account, keyGeneration: keyGeneration, runID: runID, to: writer, counting: &added)
            }
        }
    }

    /// Up to this many new rows of a chunk go in one `insertTransactions`; more are COPYed.
    static let insertedRowsLimit = 64

    /// One new row for `copyTransactions` (or `insertTransactions`), counted as new booked or new pending. Its Flowpay
    /// id (`FlowpayTransactionIDs`) is fixed from here on.
    static func writeRow(_ transaction: BankTransaction, key: ArraySlice<UInt8>, contentKey: ArraySlice<UInt8>, flowpayID: String,
                         account: AccountRef,
                         keyGeneration: Int32, runID: Int64?, to writer: some RowWriter, counting result: inout IngestResult) throws {
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
        writer.field(transaction.status == .booked ? "pushed" : nil)   // released to Flowpay; queued by finishIngest
        writer.field(bytes: contentKey)
        writer.field(Int64(keyGeneration))
        writer.field(flowpayID)
        writer.field(transaction.mappingVersion)
        try writer.endRow()
        if transaction.status == .booked { result.newBooked += 1 } else { result.newPending += 1 }
    }

    static let copyTransactions = """
        COPY transactions (account_id, customer_id, tx_key, status, booking_date, value_date, amount_minor, currency,
                           counterparty_iban, counterparty_name, remittance, bank_tx_code, source_tx_id, raw,
                           first_seen_run, push_state, content_key, key_generation, flowpay_id, mapping_version)
        FROM STDIN
        """

    /// `copyTransactions`' columns, one array each (`ArrayRowsWriter`), in one statement.
    static let insertTransactions = """
        INSERT INTO transactions (account_id, customer_id, tx_key, status, booking_date, value_date, amount_minor, currency,
                                  counterparty_iban, counterparty_name, remittance, bank_tx_code, source_tx_id, raw,
                                  first_seen_run, push_state, content_key, key_generation, flowpay_id, mapping_version)
        SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::text[], $5::date[], $6::date[], $7::bigint[], $8::text[],
                             $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::jsonb[],
                             $15::bigint[], $16::text[], $17::bytea[], $18::integer[], $19::text[], $20::bigint[])
        """

    /// $1 account, $2 the chunk's keys and $3 their content keys, packed 32 bytes each, $4 the customer's key
    /// generation. One character per row, in order (`Stored`): `s` when the account stores its key (`k` when
    /// under another content key); `a` when it
    /// stores its content key under another key that the row may adopt (stored under an earlier generation,
    /// or keyed by content on either side); `n` when it is new. One primary-key lookup per row (a scalar subquery,
    /// so always an index probe, never a scan of the account; `OFFSET 0` keeps it evaluated once a row) reads the
    /// stored content key and decides `s`/`k`; only rows whose key is not stored pay for the adoption test.
    static let probeKeys = """
        SELECT coalesce(string_agg(
                   CASE WHEN fetched.stored_content_key IS NULL
                        THEN CASE WHEN EXISTS (\(adoptable.replacingOccurrences(of: "$CONTENT", with: "fetched.content_key")
                                                        .replacingOccurrences(of: "$KEY", with: "fetched.tx_key")
                                                        .replacingOccurrences(of: "$GENERATION", with: "$4::integer")
                                                        .replacingOccurrences(of: "$CHUNK", with: "$2::bytea")))
                                  THEN 'a'
                                  WHEN EXISTS (SELECT 1 FROM retired_tx_keys r WHERE r.account_id = $1 AND r.tx_key = fetched.tx_key)
                                  THEN 'r' ELSE 'n' END
                        WHEN fetched.stored_content_key = fetched.content_key THEN 's' ELSE 'k' END, '' ORDER BY fetched.i), '')
        FROM (SELECT k.i, k.tx_key, k.content_key,
                     (SELECT s.content_key FROM transactions s WHERE s.account_id = $1 AND s.tx_key = k.tx_key) AS stored_content_key
              FROM (SELECT i, substring($2::bytea FROM i * 32 + 1 FOR 32) AS tx_key, substring($3::bytea FROM i * 32 + 1 FOR 32) AS content_key
                    FROM generate_series(0, length($2::bytea) / 32 - 1) AS i) k
              OFFSET 0) fetched
        """

    /// The stored rows a fetched row (key `$KEY`, content key `$CONTENT`) may adopt: same content key, stored under
    /// an earlier key generation or keyed by content on either side, and not a row this chunk reports by its own
    /// key (two identical bookings: each keeps its own row). Stored content keys of stable-id rows can repeat
    /// (ordinals follow the source's order), so adoption takes one of them, the oldest. Returns its key.
    /// Two index paths, together exactly `content_key = $CONTENT AND (key_generation < $GENERATION OR
    /// tx_key = content_key OR $KEY = $CONTENT)`: a row keyed by content (tx_key = content_key) is found by the
    /// primary key; a row keyed by a source id (tx_key <> content_key) by the partial index `transactions_content`
    /// (migration 0016), which fingerprint-keyed rows no longer pay for.
    static let adoptable = """
        SELECT candidate.tx_key FROM (
            SELECT t.id, t.tx_key FROM transactions t
            WHERE t.account_id = $1 AND t.tx_key = $CONTENT AND t.content_key = $CONTENT
              AND (t.push_state IS NOT NULL OR t.status = 'pending')
            UNION ALL
            SELECT t.id, t.tx_key FROM transactions t
            WHERE t.account_id = $1 AND t.content_key = $CONTENT AND t.tx_key <> t.content_key
              AND (t.key_generation < $GENERATION OR $KEY = $CONTENT) AND (t.push_state IS NOT NULL OR t.status = 'pending')
        ) candidate
        WHERE NOT EXISTS (SELECT 1 FROM generate_series(0, length($CHUNK) / 32 - 1) AS j
                          WHERE substring($CHUNK FROM j * 32 + 1 FOR 32) = candidate.tx_key)
        ORDER BY candidate.id LIMIT 1
        """

    /// $1 account, $2 content key, $3 the new key, $4 the new source id, $5 key generation, $6 the new raw JSON,
    /// $7 the chunk's keys. One adoptable stored row takes the new key; its Flowpay id, push state and arrival stay.
    /// The row is addressed by its primary key (`id` has no index of its own since migration 0007). Its old key is
    /// retired (`retired_tx_keys`): a booking arriving under it later gets a reissued id, not this row's.
    static let adoptKey = """
        WITH target AS (
            SELECT (\(adoptable.replacingOccurrences(of: "$CONTENT", with: "$2::bytea")
                                 .replacingOccurrences(of: "$KEY", with: "$3::bytea")
                                 .replacingOccurrences(of: "$GENERATION", with: "$5::integer")
                                 .replacingOccurrences(of: "$CHUNK", with: "$7::bytea"))) AS old_key
        ), moved AS (
            UPDATE transactions t SET tx_key = $3, source_tx_id = $4, key_generation = $5, raw = COALESCE($6::jsonb, t.raw)
            FROM target WHERE t.account_id = $1 AND t.tx_key = target.old_key
            RETURNING target.old_key
        )
        \(retireKey.replacingOccurrences(of: "$OLD", with: "moved.old_key FROM moved"))
        """

    /// Records a key a stored booking no longer holds (`$OLD`: the key and its source, `$1` the account).
    static let retireKey = """
        INSERT INTO retired_tx_keys AS r (account_id, tx_key) SELECT $1, $OLD
        ON CONFLICT (account_id, tx_key) DO UPDATE SET times = r.times + 1, retired_at = now()
        """

    /// $1 account, $2 window end, $3 the keys of the pending rows this fetch returned, packed 32 bytes each,
    /// $4 booked rows stored, $5 edits recognised, $6 source ids reused, $7 and $8 on a first sync: the days of
    /// history asked for and the days back to the oldest booking received, $9 delivered bookings the bank corrected (queued
    /// again), $10 the account's customer. Removes the stale pending rows, queues the booked rows this transaction
    /// stored or released for Flowpay (push_state 'pushed', Store+PushQueue.swift: one queue row each, found through
    /// the feed index), moves the watermark and adds to the account's booked total, in the ingest's transaction (after
    /// its rows).
    static let finishIngest = """
        WITH queued AS (
            INSERT INTO push_queue (customer_id, transaction_id, account_id, ingest_xid)
            SELECT t.customer_id, t.id, t.account_id, t.ingest_xid FROM transactions t
            WHERE t.customer_id = $10::bigint AND t.ingest_xid = pg_current_xact_id() AND t.account_id = $1 AND t.push_state = 'pushed'
            ORDER BY t.id
            ON CONFLICT (customer_id, transaction_id) DO NOTHING
        ), removed AS (
            DELETE FROM transactions t
            WHERE t.account_id = $1 AND t.status = 'pending'
              AND (COALESCE(t.booking_date, t.value_date) IS NULL
                   OR COALESCE(t.booking_date, t.value_date) <= $2::date)
              AND NOT EXISTS (SELECT 1 FROM generate_series(0, length($3::bytea) / 32 - 1) AS i
                              WHERE substring($3::bytea FROM i * 32 + 1 FOR 32) = t.tx_key)
            RETURNING 1
        ), watermark AS (
            INSERT INTO watermarks (account_id, booked_through, last_pull_at, booked_stored, edits, ids_reused,
                                    history_requested_days, history_received_days)
            VALUES ($1, $2::date, now(), $4::bigint, $5::bigint, $6::bigint, $7::integer, $8::integer)
            ON CONFLICT (account_id) DO UPDATE SET
                history_requested_days = COALESCE(watermarks.history_requested_days, EXCLUDED.history_requested_days),
                history_received_days = COALESCE(watermarks.history_received_days, EXCLUDED.history_received_days),
                booked_through = GREATEST(watermarks.booked_through, EXCLUDED.booked_through),
                last_pull_at = EXCLUDED.last_pull_at,
                booked_stored = watermarks.booked_stored + EXCLUDED.booked_stored,
                edits = watermarks.edits + EXCLUDED.edits,
                ids_reused = watermarks.ids_reused + EXCLUDED.ids_reused,
                booked_pushed = watermarks.booked_pushed - $9::bigint
        )
        SELECT count(*) FROM removed
        """
}

/// A fetch's rows one at a time, across its pages.
struct FetchedRows<Pages: AsyncIteratorProtocol> where Pages.Element == [BankTransaction] {
    var pages: Pages
    private var page: [BankTransaction] = []
    private var index = 0

    init(pages: Pages) {
        self.pages = pages
    }

    mutating func next() async throws -> BankTransaction? {
        while index == page.count {
            guard let next = try await pages.next() else { return nil }
            page = next
            index = 0
        }
        defer { index += 1 }
        return page[index]
    }

    /// The rest of the current page, then each following page: the loop for the bulk of a fetch (one await a page,
    /// not one a row).
    mutating func nextPage() async throws -> ArraySlice<BankTransaction>? {
        if index < page.count {
            defer { index = page.count }
            return page[index...]
        }
        guard let next = try await pages.next() else { return nil }
        page = next
        index = page.count
        return page[...]
    }
}
