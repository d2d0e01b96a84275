import BankSyncCore
import Foundation
import Postgres

/// One request to Flowpay, recorded before it is sent so a crash resends it with the same key.
public struct PushBatch: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case accounts, transactions, updated
    }

    public let id: Int64
    public let customerID: Int64
    public let kind: Kind
    public let idempotencyKey: String
    public let rowCount: Int
    /// The exact body sent: always for accounts batches, and for transaction batches recorded since
    /// migration 0010 (older ones are rebuilt from their rows).
    public let payload: [UInt8]?
    /// Runs that tried to send it so far.
    public var attempts: Int = 0
    /// The rows of a transactions batch (`push_batches.row_ids`, migration 0018); nil for batches recorded
    /// before it, whose rows name them in `transactions.push_batch_id`.
    public var rowIDs: [Int64]? = nil

    /// Recorded by this drain for sending at once: its first attempt was counted when it was recorded, not by
    /// `noteAttempt` (one round trip fewer per batch).
    public var attemptCounted = false

    /// The batch lists its rows itself.
    public var listsItsRows: Bool { rowIDs != nil }
}

/// A queued transaction with what Flowpay needs (the account's IBAN comes from the account).
public struct OutboxTransaction: Sendable, Equatable {
    /// The id Flowpay knows the transaction by, fixed when it was first stored.
    public let flowpayID: String
    public let iban: String
    public let bookingDate: Day
    public let valueDate: Day?
    public let amountMinor: Int64
    public let currency: String
    public let counterpartyIBAN: String?
    public let counterpartyName: String?
    public let remittance: String?
}

/// An account with its latest balance per type and currency, for the bank-accounts call.
public struct PushAccount: Sendable, Equatable {
    public struct LatestBalance: Sendable, Equatable {
        public let type: String
        public let currency: String
        public let amountMinor: Int64
        public let referenceDate: Day
    }

    public let accountID: Int64
    public let iban: String?
    public let bic: String?
    public let name: String?
    public let ownerName: String?
    public var balances: [LatestBalance]
}

/// A customer whose data has somewhere to go.
public struct PushTarget: Sendable, Equatable {
    public let customerID: Int64
    public let flowpayCustomerID: UUID

    public init(customerID: Int64, flowpayCustomerID: UUID) {
        self.customerID = customerID
        self.flowpayCustomerID = flowpayCustomerID
    }
}

extension Store {
    /// Customers with queued transactions or unfinished batches (optionally only one).
    public func pushTargets(flowpayCustomerID: UUID? = nil) throws -> [PushTarget] {
        try connection.query("""
            SELECT c.id, c.flowpay_customer_id FROM customers c
            WHERE ($1::uuid IS NULL OR c.flowpay_customer_id = $1)
              AND (EXISTS (SELECT 1 FROM push_queue q WHERE q.customer_id = c.id)
                   OR EXISTS (SELECT 1 FROM push_batches b WHERE b.customer_id = c.id AND b.state = 'sending')
                   OR EXISTS (SELECT 1 FROM accounts a WHERE a.customer_id = c.id))
            ORDER BY c.id
            """, [flowpayCustomerID], planning: .perExecution).map {
            PushTarget(customerID: try $0.decode(Int64.self, at: 0), flowpayCustomerID: try $0.decode(UUID.self, at: 1))
        }
    }

    /// Batches recorded but not finished (a crash, or retries that ran out), oldest first. A batch parked more
    /// than a day ago is tried again (a Flowpay outage parks batches too; nothing stays parked for good unseen).
    public func openBatches(customerID: Int64) throws -> [PushBatch] {
        try connection.query(Self.openBatches, [customerID]).map { try Self.decodeBatch($0) }
    }

    /// `openBatches` and `accountsCall` in one round trip, each its own implicit transaction (a sync between them): what
    /// a drain starts from. The accounts call is read after the open batches are reopened, before any is sent: valid
    /// for the drain only while it sends none of them but a signal (a batch sent marks its hash sent).
    public func openBatchesAndAccountsCall(customerID: Int64) throws -> (open: [PushBatch], accountsCall: AccountsCall) {
        let results = try connection.pipeline([PipelinedStatement(Self.openBatches, [customerID]),
                                               PipelinedStatement(Self.accountsCall, [customerID])], syncAfter: [0])
        return (try results[0].get().map { try Self.decodeBatch($0) }, try Self.decodeAccountsCall(try results[1].get()))
    }

    /// $1 customer. One statement: the statement's snapshot does not see the parked batches it reopens, so they come from
    /// its RETURNING.
    static let openBatches = """
            WITH reopened AS (
                UPDATE push_batches SET state = 'sending', attempts = 0, finished_at = NULL
                WHERE customer_id = $1 AND state = 'parked' AND kind <> 'accounts' AND finished_at < now() - interval '1 day'
                RETURNING \(Self.batchColumns)
            )
            SELECT \(Self.batchColumns) FROM push_batches WHERE customer_id = $1 AND state = 'sending'
            UNION ALL
            SELECT * FROM reopened
            ORDER BY id
            """

    public func lastSentAccountsHash(customerID: Int64) throws -> [UInt8]? {
        try connection.query("""
            SELECT payload_hash FROM push_batches
            WHERE customer_id = $1 AND kind = 'accounts' AND state IN ('sent', 'sending', 'rejected', 'parked')
            ORDER BY id DESC LIMIT 1
            """, [customerID]).first?.decode([UInt8].self, at: 0)
    }

    public func accountsForPush(customerID: Int64) throws -> [PushAccount] {
        var accounts: [PushAccount] = []
        for row in try connection.query("""
            SELECT id, iban, bic, name, owner_name FROM accounts WHERE customer_id = $1 AND active ORDER BY id
            """, [customerID]) {
            accounts.append(PushAccount(accountID: try row.decode(at: 0), iban: try row.decode(at: 1), bic: try row.decode(at: 2),
                                        name: try row.decode(at: 3), ownerName: try row.decode(at: 4), balances: []))
        }
        // The latest balance per type and currency, account by account through the balances key: joined as a
        // whole, the planner hashed the accounts and scanned every customer's balances for each customer (2.6 ms a
        // customer at 2,000 customers after one day, growing with the fleet and every day of history).
        let balances = try connection.query("""
            SELECT a.id, l.type, l.currency, l.amount_minor, l.reference_date
            FROM accounts a CROSS JOIN LATERAL (
                SELECT DISTINCT ON (b.type, b.currency) b.type, b.currency, b.amount_minor, b.reference_date
                FROM balances b WHERE b.account_id = a.id
                ORDER BY b.type DESC, b.currency DESC, b.reference_date DESC) l
            WHERE a.customer_id = $1 AND a.active
            ORDER BY a.id, l.type, l.currency
            """, [customerID])
        for row in balances {
            let accountID = try row.decode(Int64.self, at: 0)
            guard let index = accounts.firstIndex(where: { $0.accountID == accountID }) else { continue }
            accounts[index].balances.append(.init(type: try row.decode(at: 1), currency: try row.decode(at: 2),
                                                  amountMinor: try row.decode(at: 3), referenceDate: try row.decode(at: 4)))
        }
        return accounts
    }

    /// The accounts call as it would be now and the hash of the last one recorded, in one round trip: the accounts
    /// with their latest balances (`accountsForPush`), each row also carrying the last hash.
    public func accountsCall(customerID: Int64) throws -> AccountsCall {
        try Self.decodeAccountsCall(try connection.query(Self.accountsCall, [customerID]))
    }

    /// The accounts call's accounts and the hash of the last one recorded.
    public typealias AccountsCall = (accounts: [PushAccount], lastSentHash: [UInt8]?)

    /// $1 customer: `accountsCall`'s read.
    static let accountsCall = """
            SELECT a.id, a.iban, a.bic, a.name, a.owner_name, l.type, l.currency, l.amount_minor, l.reference_date,
                   (SELECT payload_hash FROM push_batches
                    WHERE customer_id = $1 AND kind = 'accounts' AND state IN ('sent', 'sending', 'rejected', 'parked')
                    ORDER BY id DESC LIMIT 1)
            FROM accounts a LEFT JOIN LATERAL (
                SELECT DISTINCT ON (b.type, b.currency) b.type, b.currency, b.amount_minor, b.reference_date
                FROM balances b WHERE b.account_id = a.id
                ORDER BY b.type DESC, b.currency DESC, b.reference_date DESC) l ON true
            WHERE a.customer_id = $1 AND a.active
            ORDER BY a.id, l.type, l.currency
            """

    static func decodeAccountsCall(_ rows: QueryResult) throws -> AccountsCall {
        var accounts: [PushAccount] = []
        var lastSentHash: [UInt8]?
        for row in rows {
            let accountID = try row.decode(Int64.self, at: 0)
            lastSentHash = try row.decode([UInt8]?.self, at: 9)
            if accounts.last?.accountID != accountID {
                accounts.append(PushAccount(accountID: accountID, iban: try row.decode(at: 1), bic: try row.decode(at: 2),
                                            name: try row.decode(at: 3), ownerName: try row.decode(at: 4), balances: []))
            }
            guard let type = try row.decode(String?.self, at: 5) else { continue }
            accounts[accounts.count - 1].balances.append(.init(type: type, currency: try row.decode(at: 6), amountMinor: try row.decode(at: 7),
                                                               referenceDate: try row.decode(at: 8)))
        }
        return (accounts, lastSentHash)
    }

    /// Records the accounts call (its exact body) before it is sent.
    public func recordAccountsBatch(customerID: Int64, payload: [UInt8], payloadHash: [UInt8], accountCount: Int) throws -> PushBatch {
        try Self.decodeBatch(try require(connection.query("""
            INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, payload, row_count, attempts)
            VALUES ($1, 'accounts', $2, $3, $4, $5, 1)
            RETURNING \(Self.batchColumnsWithoutPayload)
            """, [customerID, Self.newIdempotencyKey(.accounts), payloadHash, payload, accountCount]).first, "record accounts batch"),
            payload: payload, attemptCounted: true)
    }

    /// Takes the next up-to-`limit` queued transactions of the customer in id order (deterministic),
    /// records them as one batch with the exact body `encode` makes of them and the list of their ids — all in
    /// one transaction, before anything is sent. The rows themselves are not written: a batch holds its rows
    /// while it is `sending` or `parked`, and a new batch skips them. Rows of accounts without an IBAN or a BIC cannot
    /// be sent (Flowpay requires both, and the accounts call leaves such an account out: Flowpay would get
    /// transactions of an account it does not know) and stay queued, counted as `unsendable`.
    public func recordTransactionBatch(customerID: Int64, limit: Int,
                                       encode: ([OutboxTransaction]) throws -> [UInt8]) async throws -> PushBatch? {
        try await recordTransactionBatch(customerID: customerID, limit: limit, markingSentFirst: nil, encode: encode).batch
    }

    /// `recordTransactionBatch`, with `accepted` (a batch Flowpay just accepted) marked sent first in the same round trip
    /// — `markSent` as its own statement, outside the batch's transaction. `markedSignal`: what that `markSent` returned.
    public func recordTransactionBatch(customerID: Int64, limit: Int, markingSentFirst accepted: PushBatch?,
                                       encode: ([OutboxTransaction]) throws -> [UInt8]) async throws
        -> (batch: PushBatch?, markedSignal: PushBatch?) {
        if let accepted, accepted.kind == .updated {   // a signal's mark is another statement (and records no signal)
            try markSent(accepted)
            return (try await recordTransactionBatch(customerID: customerID, limit: limit, markingSentFirst: nil, encode: encode).batch, nil)
        }
        let mark = accepted.map { Self.markSentStatement($0, httpStatus: 200) }
        // One recorder per customer at a time (a sync and a `banksync push` may both drain it): rows are not
        // marked when a batch takes them, so without it both could take the same rows. Held to commit, taken
        // with the BEGIN in one round trip (the key is an integer, not outside text).
        // A row an older release stored as 'queued' (its serve still syncing while 0028 moved the queue) is moved
        // into the queue here, unless an unfinished batch holds it (markSent marks those): found through the
        // empty partial index `transactions_outbox`, so a probe costs next to nothing. The statement's own
        // snapshot does not see the rows it queues: they go in the next batch. BEGIN, lock and rows: one round trip.
        let select = PipelinedStatement("""
                WITH legacy AS (
                    UPDATE transactions t SET push_state = 'pushed'
                    WHERE t.customer_id = $1 AND t.push_state = 'queued' AND t.push_batch_id IS NULL
                      AND t.id NOT IN (SELECT held.id FROM push_batches b, unnest(b.row_ids) AS held(id)
                                       WHERE b.customer_id = $1 AND b.state IN ('sending', 'parked') AND b.kind = 'transactions')
                    RETURNING t.customer_id, t.id, t.account_id, t.ingest_xid
                ), legacy_queued AS (
                    INSERT INTO push_queue (customer_id, transaction_id, account_id, ingest_xid)
                    SELECT customer_id, id, account_id, ingest_xid FROM legacy
                    ON CONFLICT (customer_id, transaction_id) DO NOTHING
                )
                SELECT t.id, \(Self.outboxColumns) FROM push_queue q \(Self.queuedTransaction) JOIN accounts a ON a.id = t.account_id
                WHERE q.customer_id = $1 AND t.push_batch_id IS NULL AND a.iban IS NOT NULL AND a.bic IS NOT NULL
                  AND q.transaction_id NOT IN (SELECT held.id FROM push_batches b, unnest(b.row_ids) AS held(id)
                                               WHERE b.customer_id = $1 AND b.state IN ('sending', 'parked') AND b.kind = 'transactions')
                ORDER BY q.transaction_id LIMIT $2
                """, [customerID, limit], planning: .perExecution)   // customers of very different sizes: the queue's key, in order
        return try await connection.withTransaction(before: mark.map { [PipelinedStatement($0.sql, $0.parameters)] } ?? [],
                                                    begin: ["BEGIN", "SELECT pg_advisory_xact_lock(\(Self.outboxLockKey(customerID)))"],
                                                    first: [select]) { results in
            let marked = try mark == nil ? nil : results[0].first.map { try Self.decodeBatch($0) }
            let rows = results[results.count - 1]
            guard rows.rowCount > 0 else { return (nil, marked) }
            var ids: [Int64] = []
            var transactions: [OutboxTransaction] = []
            for row in rows {
                ids.append(try row.decode(Int64.self, at: 0))
                transactions.append(try Self.decodeOutboxTransaction(row, from: 1))
            }
            return (try recordBatch(customerID: customerID, rowIDs: ids, payload: try encode(transactions), attemptCounted: true,
                                    thenCommit: true), marked)
        }
    }

    /// Outbox locks live in their own advisory-lock key space (the high 32 bits say "outbox").
    static func outboxLockKey(_ customerID: Int64) -> Int64 { (0x424f << 32) | (customerID & 0xffff_ffff) }

    /// Inside a transaction: a transactions batch over `rowIDs` (queued rows of the customer no other
    /// unfinished batch holds) with its body.
    /// `attemptCounted`: the batch is sent right after (its first attempt counted here). `thenCommit`: this is the
    /// transaction's last statement and carries its COMMIT (`queryThenCommit`, one round trip).
    func recordBatch(customerID: Int64, rowIDs ids: [Int64], payload: [UInt8], attemptCounted: Bool = false,
                     thenCommit: Bool = false) throws -> PushBatch {
        let idList = Self.bigintArray(ids)
        var hashInput = [UInt8]()
        for id in ids { withUnsafeBytes(of: id.bigEndian) { hashInput.append(contentsOf: $0) } }
        let record = """
            INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, row_count, payload, row_ids, attempts)
            VALUES ($1, 'transactions', $2, sha256($3::bytea), $4, $5, $6::bigint[], $7)
            RETURNING \(Self.batchColumnsWithoutPayload)
            """
        let parameters: [any PostgresEncodable] = [customerID, Self.newIdempotencyKey(.transactions), hashInput, ids.count, payload, idList,
                                                   attemptCounted ? 1 : 0]
        return try Self.decodeBatch(try require((thenCommit ? connection.queryThenCommit(record, parameters) : connection.query(record, parameters)).first,
            "record transactions batch"), payload: payload, attemptCounted: attemptCounted)
    }

    /// `queuedRowsOf`'s parameter (Store+PushQueue.swift): the batch's row list, or for a batch recorded before migration 0018 its id.
    static func rowsOfParameter(_ batch: PushBatch) -> any PostgresEncodable {
        batch.rowIDs.map(bigintArray) ?? batch.id
    }

    static let outboxColumns = """
        t.flowpay_id, a.iban, t.booking_date, t.value_date, t.amount_minor, t.currency, t.counterparty_iban, t.counterparty_name, t.remittance
        """

    static func decodeOutboxTransaction(_ row: Row, from first: Int) throws -> OutboxTransaction {
        OutboxTransaction(flowpayID: try row.decode(at: first), iban: try row.decode(at: first + 1), bookingDate: try row.decode(at: first + 2),
                          valueDate: try row.decode(at: first + 3), amountMinor: try row.decode(at: first + 4),
                          currency: try row.decode(at: first + 5), counterpartyIBAN: try row.decode(at: first + 6),
                          counterpartyName: try row.decode(at: first + 7), remittance: try row.decode(at: first + 8))
    }

    /// The rows of a transactions batch in id order (how batches recorded before migration 0010 are rebuilt).
    public func batchTransactions(batchID: Int64) throws -> [OutboxTransaction] {
        try connection.query("""
            SELECT \(Self.outboxColumns)
            FROM transactions t JOIN accounts a ON a.id = t.account_id
            WHERE t.push_batch_id = $1 ORDER BY t.id
            """, [batchID]).map { try Self.decodeOutboxTransaction($0, from: 0) }
    }

    public func noteAttempt(batchID: Int64) throws {
        try connection.execute("UPDATE push_batches SET attempts = attempts + 1 WHERE id = $1", [batchID])
    }

    /// Flowpay accepted the batch: it becomes sent and its rows leave the push queue (their `transactions` rows are
    /// not written: Store+PushQueue.swift), and the customer is owed one
    /// bank-accounts-updated signal (sent after its remaining data) — in one statement, so one round trip and
    /// atomic without a transaction of its own. Returns the signal this data is owed to when this call recorded it
    /// (nil for a signal, or when one never attempted already waits and absorbs this data).
    ///
    /// `countingSignalAttempt`: the customer's signal is sent right after — its attempt is counted in the same round trip
    /// (after this statement, in a transaction of its own), as `noteAttempt` would before sending it; `signalAttemptCounted`
    /// is the id of the signal counted. Should the batch's own statement fail, the signal may be counted all the same:
    /// the next batch marked sent then supersedes it — a signal more at Flowpay, never one fewer.
    @discardableResult
    public func markSent(_ batch: PushBatch, httpStatus: Int = 200,
                         countingSignalAttempt: Bool) throws -> (recorded: PushBatch?, signalAttemptCounted: Int64?) {
        guard countingSignalAttempt, batch.kind != .updated else { return (try markSent(batch, httpStatus: httpStatus), nil) }
        let sent = Self.markSentStatement(batch, httpStatus: httpStatus)
        let results = try connection.pipeline([PipelinedStatement(sent.sql, sent.parameters), PipelinedStatement("""
            UPDATE push_batches SET attempts = attempts + 1 WHERE customer_id = $1 AND kind = 'updated' AND state = 'sending' RETURNING id
            """, [batch.customerID])], syncAfter: [0])
        let recorded = try results[0].get().first.map { try Self.decodeBatch($0) }
        // The batch is marked sent whatever became of the count: the signal's send counts it then.
        let counted = try? results[1].get().first?.decode(Int64.self, at: 0)
        return (recorded, counted ?? nil)
    }

    @discardableResult
    public func markSent(_ batch: PushBatch, httpStatus: Int = 200) throws -> PushBatch? {
        guard batch.kind != .updated else {
            try connection.execute("""
                UPDATE push_batches SET state = 'sent', http_status = $2, finished_at = now(), last_error = NULL
                WHERE id = $1 AND state = 'sending'
                """, [batch.id, httpStatus])
            return nil
        }
        let sent = Self.markSentStatement(batch, httpStatus: httpStatus)
        return try connection.query(sent.sql, sent.parameters).first.map { try Self.decodeBatch($0) }
    }

    /// `markSent`'s statement for a transactions or accounts batch.
    static func markSentStatement(_ batch: PushBatch, httpStatus: Int) -> (sql: String, parameters: [any PostgresEncodable]) {
        let rowsPushed = batch.kind == .transactions ? """
            pushed AS (
                DELETE FROM push_queue q WHERE q.customer_id = $1 AND \(Self.queuedRowsOf(batch, parameter: 5))
                RETURNING q.account_id
            ), legacy_pushed AS (
                -- rows of a batch an older release recorded while still stored as 'queued' (the empty partial index)
                UPDATE transactions t SET push_state = 'pushed'
                WHERE t.customer_id = $1 AND t.push_state = 'queued' AND \(Self.legacyRowsOf(batch, parameter: 5))
            ), per_account AS (
                SELECT account_id, count(*) AS rows FROM pushed GROUP BY account_id
            ), watermarked AS (
                UPDATE watermarks w SET last_push_at = now(), booked_pushed = w.booked_pushed + p.rows
                FROM per_account p WHERE w.account_id = p.account_id
            )
            """ : """
            watermarked AS (
                UPDATE watermarks SET last_push_at = now()
                WHERE account_id IN (SELECT id FROM accounts WHERE customer_id = $1) AND $5::bigint IS NULL
            )
            """
        // A signal covers the data sent before its first attempt: one already attempted (its answer may be stored
        // at Flowpay under its key) is superseded by a new one; one never attempted absorbs this data. The insert
        // reads `superseded` to completion first, so the superseded signal no longer holds the partial unique key.
        return ("""
            WITH sent AS (
                UPDATE push_batches SET state = 'sent', http_status = $3, finished_at = now(), last_error = NULL
                WHERE id = $2 AND state = 'sending'
            ), \(rowsPushed), superseded AS (
                UPDATE push_batches SET state = 'superseded', finished_at = now()
                WHERE customer_id = $1 AND kind = 'updated' AND state = 'sending' AND attempts > 0
                RETURNING id
            )
            INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash)
            SELECT $1, 'updated', $4, '\\x'::bytea WHERE (SELECT count(*) FROM superseded) >= 0
            ON CONFLICT (customer_id) WHERE kind = 'updated' AND state = 'sending' DO NOTHING
            RETURNING \(Self.batchColumns)
            """, [batch.customerID, batch.id, httpStatus, Self.newIdempotencyKey(.updated),
                  batch.kind == .transactions ? Self.rowsOfParameter(batch) : Int64?.none as any PostgresEncodable])
    }

    /// Flowpay refused an accounts or signal batch for good: kept with its logref and message (shown in the lag
    /// report); it is sent again when its content changes. (A refused transactions batch is split or quarantined.)
    public func markRejected(_ batch: PushBatch, httpStatus: Int, logref: String?, message: String, runID: Int64?) async throws {
        try await connection.withTransaction {
            try connection.execute("""
                UPDATE push_batches SET state = 'rejected', http_status = $2, logref = $3, last_error = $4, finished_at = now()
                WHERE id = $1
                """, [batch.id, httpStatus, logref, message])
            try recordEvent(customerID: batch.customerID, runID: runID, level: .error, code: "rejected",
                            message: "Flowpay rejected \(batch.kind.rawValue) batch \(batch.id) (HTTP \(httpStatus)): \(message)",
                            logref: logref)
        }
    }

    public func recordFailure(_ batch: PushBatch, message: String) throws {
        try connection.execute("UPDATE push_batches SET last_error = $2 WHERE id = $1", [batch.id, message])
    }

    static func newIdempotencyKey(_ kind: PushBatch.Kind) -> String {
        "bsync-\(kind.rawValue)-\(UUID().uuidString.lowercased())"
    }

    static let batchColumns = "id, customer_id, kind, idempotency_key, row_count, attempts, row_ids::text, payload"
    /// What a statement that recorded the body itself returns (the body is not read back: hex text twice its size).
    static let batchColumnsWithoutPayload = "id, customer_id, kind, idempotency_key, row_count, attempts, row_ids::text"

    /// A row of `batchColumns`, or of `batchColumnsWithoutPayload` with the body given.
    static func decodeBatch(_ row: Row, payload recorded: [UInt8]? = nil, attemptCounted: Bool = false) throws -> PushBatch {
        PushBatch(id: try row.decode(at: 0), customerID: try row.decode(at: 1),
                  kind: PushBatch.Kind(rawValue: try row.decode(String.self, at: 2)) ?? .transactions,
                  idempotencyKey: try row.decode(at: 3), rowCount: try row.decode(at: 4),
                  payload: try recorded ?? row.decode(at: 7), attempts: try row.decode(at: 5),
                  rowIDs: try row.decode(String?.self, at: 6).map(parseBigintArray), attemptCounted: attemptCounted)
    }

    /// `bigint[]` as PostgreSQL writes it as text (`{1,2,3}`).
    static func parseBigintArray(_ text: String) throws -> [Int64] {
        let inner = text.utf8.dropFirst().dropLast()
        guard text.hasPrefix("{"), text.hasSuffix("}") else { throw PostgresError.decoding(column: "row_ids", expected: "bigint[] text", found: text) }
        guard !inner.isEmpty else { return [] }
        return try inner.split(separator: UInt8(ascii: ",")).map { digits in
            guard let id = Int64(String(decoding: digits, as: UTF8.self)) else { throw PostgresError.decoding(column: "row_ids", expected: "bigint[] text", found: text) }
            return id
        }
    }
}
