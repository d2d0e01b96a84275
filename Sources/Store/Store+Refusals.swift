import BankSyncCore
import Foundation
import Postgres

/// What `push --requeue-rejected` / `--drop-rejected` changed.
public struct RefusalResolution: Sendable, Equatable {
    public var rowsRequeued = 0
    public var batchesReopened = 0
    public var rowsDropped = 0

    public init() {}
}

extension Store {
    /// Flowpay refused a transactions batch of several rows (400/422): in one transaction the batch becomes
    /// `split` and its rows move, in id order, to two new batches (each with its own body and key), which are
    /// returned to be sent. A crash after this resends the halves, never the refused whole.
    ///
    /// The halves' bodies are cut from the refused batch's own body, byte for byte (it holds one element per
    /// row, in id order): a row is sent exactly as first recorded, and nothing needs rebuilding — an account
    /// that lost its IBAN since does not stop the split. Only a batch recorded without a body (before
    /// migration 0010) is encoded again from its rows.
    ///
    /// With `isolating` (positions in the batch that Flowpay's answer named), the batch is cut there instead: the
    /// first batch returned holds exactly those rows, the second (if any row is left) all the others.
    public func splitBatch(_ batch: PushBatch, isolating positions: Set<Int>? = nil,
                           encode: ([OutboxTransaction]) throws -> [UInt8]) async throws -> [PushBatch] {
        try await connection.withTransaction {
            // First, and only from `sending`: the batch row stays locked to commit, so a second splitter of the same
            // batch (none runs while the customer's lock is held, but nothing else stops one) waits here and then
            // finds it split — it must not record the halves again under new keys.
            guard try connection.execute("UPDATE push_batches SET state = 'split', finished_at = now() WHERE id = $1 AND state = 'sending'",
                                         [batch.id]) == 1 else { return [] }
            let rows = try connection.query("""
                SELECT t.id, t.flowpay_id FROM push_queue q \(Self.queuedTransaction)
                WHERE q.customer_id = $2 AND \(Self.queuedRowsOf(batch)) ORDER BY q.transaction_id
                """, [Self.rowsOfParameter(batch), batch.customerID])
            let ids = try rows.map { try $0.decode(Int64.self, at: 0) }
            let elements = try batch.payload.flatMap { Self.bodyElements($0, flowpayIDs: try rows.map { try $0.decode(String.self, at: 1) }) }
            func body(_ positions: [Int]) throws -> [UInt8] {
                if let elements {
                    return Array("[".utf8) + Array(positions.map { elements[$0] }.joined(separator: [UInt8(ascii: ",")])) + Array("]".utf8)
                }
                return try encode(batchTransactions(rowIDs: positions.map { ids[$0] }))
            }
            func record(_ positions: [Int]) throws -> PushBatch {
                try recordBatch(customerID: batch.customerID, rowIDs: positions.map { ids[$0] }, payload: body(positions))
            }
            if !batch.listsItsRows {   // recorded before migration 0018: its rows named it
                try connection.execute("""
                    UPDATE transactions t SET push_batch_id = NULL WHERE t.customer_id = $2 AND t.push_batch_id = $1 AND \(Self.isQueued("t"))
                    """, [batch.id, batch.customerID])
            }
            if let positions {
                let named = ids.indices.filter { positions.contains($0) }
                let rest = ids.indices.filter { !positions.contains($0) }
                return try [named, rest].filter { !$0.isEmpty }.map(record)
            }
            guard ids.count > 1 else { return try ids.isEmpty ? [] : [record(Array(ids.indices))] }
            let half = ids.count / 2
            return [try record(Array(0..<half)), try record(Array(half..<ids.count))]
        }
    }

    /// The Flowpay ids of a transactions batch's rows, in id order: the order of its body's elements.
    public func batchFlowpayIDs(_ batch: PushBatch) throws -> [String] {
        try connection.query("""
            SELECT t.flowpay_id FROM push_queue q \(Self.queuedTransaction)
            WHERE q.customer_id = $2 AND \(Self.queuedRowsOf(batch)) ORDER BY q.transaction_id
            """, [Self.rowsOfParameter(batch), batch.customerID]).map { try $0.decode(String.self, at: 0) }
    }

    /// A batch body's elements, verbatim, when it holds exactly one per row with the rows' Flowpay ids in order;
    /// otherwise nil (the rows are encoded again).
    static func bodyElements(_ body: [UInt8], flowpayIDs: [String]) -> [[UInt8]]? {
        var splitter = JSONArraySplitter(arrays: [[]])
        var elements: [[UInt8]] = []
        do {
            try splitter.feed(body) { _, _, element in elements.append(element) }
        } catch {
            return nil
        }
        guard elements.count == flowpayIDs.count else { return nil }
        for (element, id) in zip(elements, flowpayIDs) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(element))) as? [String: Any], object["id"] as? String == id else {
                return nil
            }
        }
        return elements
    }

    /// The outbox rows of `rowIDs`, in id order.
    func batchTransactions(rowIDs: [Int64]) throws -> [OutboxTransaction] {
        try connection.query("""
            SELECT \(Self.outboxColumns) FROM transactions t JOIN accounts a ON a.id = t.account_id
            WHERE t.id = ANY($1::bigint[]) ORDER BY t.id
            """, [Self.bigintArray(rowIDs)]).map { try Self.decodeOutboxTransaction($0, from: 0) }
    }

    /// Flowpay refused a one-row transactions batch (400/422): that row is quarantined with Flowpay's answer
    /// (kept out of the outbox, shown by the lag report until requeued or dropped); the batch is `rejected`.
    public func quarantine(_ batch: PushBatch, httpStatus: Int, logref: String?, message: String, runID: Int64?) async throws {
        try await connection.withTransaction {
            // Out of the queue and marked in one statement: a quarantined row is never queued. Joined by id alone (not
            // the queue's copy of ingest_xid): a refusal is rare, and a row leaving the queue must never go unmarked.
            let rows = try connection.query("""
                WITH dequeued AS (
                    DELETE FROM push_queue q WHERE q.customer_id = $2 AND \(Self.queuedRowsOf(batch))
                    RETURNING q.customer_id, q.transaction_id
                )
                UPDATE transactions t SET push_state = 'quarantined', push_batch_id = $3
                FROM dequeued d WHERE t.customer_id = d.customer_id AND t.id = d.transaction_id
                RETURNING t.account_id, t.tx_key, t.flowpay_id, t.id
                """, [Self.rowsOfParameter(batch), batch.customerID, batch.id])
            for row in rows {
                try connection.execute("""
                    INSERT INTO push_quarantine (transaction_id, account_id, tx_key, customer_id, batch_id, http_status, logref, message)
                    VALUES ($8, $1, $2, $3, $4, $5, $6, $7)
                    """, [try row.decode(Int64.self, at: 0), try row.decode([UInt8].self, at: 1), batch.customerID, batch.id, httpStatus,
                          logref, message, try row.decode(Int64.self, at: 3)])
            }
            try connection.execute("""
                UPDATE push_batches SET state = 'rejected', http_status = $2, logref = $3, last_error = $4, finished_at = now()
                WHERE id = $1
                """, [batch.id, httpStatus, logref, message])
            let ids = try rows.map { try $0.decode(String.self, at: 2) }.joined(separator: ", ")
            // Its own code: the quarantine itself is the interruption (Store.interruptions), until resolved.
            try recordEvent(customerID: batch.customerID, runID: runID, level: .error, code: "rejected_rows",
                            message: "Flowpay refused transaction \(ids) (HTTP \(httpStatus)): \(message); quarantined, the rest delivered",
                            logref: logref)
        }
    }

    /// A batch that failed in `runs` runs in a row (not a refusal: a deterministic 500, a 409 that never
    /// clears) is parked so the customer's later batches flow; `push --requeue-rejected` reopens it.
    public func park(_ batch: PushBatch, runs: Int, lastError: String, runID: Int64?) throws {
        try connection.execute("UPDATE push_batches SET state = 'parked', finished_at = now() WHERE id = $1 AND state = 'sending'", [batch.id])
        try recordEvent(customerID: batch.customerID, runID: runID, level: .error, code: "batch_parked",
                        message: "\(batch.kind.rawValue) batch \(batch.id) failed in \(runs) runs and is parked (last: \(lastError)); "
                            + "banksync push --requeue-rejected --batch \(batch.id) sends it again")
    }

    /// A batch Flowpay refused for the customer (its answer names no row: an unknown IBAN, a service not
    /// activated): parked with Flowpay's answer (shown by the lag report, reopened after a day or by
    /// `push --requeue-rejected`), its rows kept with it, none quarantined.
    public func park(_ batch: PushBatch, because reason: String, logref: String?, runID: Int64?) throws {
        try connection.execute("""
            UPDATE push_batches SET state = 'parked', last_error = $2, logref = $3, finished_at = now()
            WHERE id = $1 AND state = 'sending'
            """, [batch.id, reason, logref])
        try recordEvent(customerID: batch.customerID, runID: runID, level: .error, code: "batch_parked",
                        message: "\(batch.kind.rawValue) batch \(batch.id) of \(batch.rowCount) rows is parked: \(reason); "
                            + "banksync push --requeue-rejected --batch \(batch.id) sends it again", logref: logref)
    }

    /// Sends quarantined rows again (as new batches) and reopens parked batches (same body, same key), for one
    /// customer or batch or all. After a fix on either side.
    public func requeueRejected(customerID: Int64? = nil, batchID: Int64? = nil) async throws -> RefusalResolution {
        try await connection.withTransaction {
            var resolution = RefusalResolution()
            resolution.rowsRequeued = try connection.execute("""
                WITH requeued AS (
                    UPDATE transactions t SET push_state = 'pushed', push_batch_id = NULL
                    WHERE t.push_state = 'quarantined' AND ($1::bigint IS NULL OR t.customer_id = $1)
                      AND ($2::bigint IS NULL OR t.push_batch_id = $2)
                    RETURNING t.customer_id, t.id, t.account_id, t.ingest_xid
                ), queued AS (
                    \(Self.enqueue(from: "requeued"))
                )
                UPDATE push_quarantine q SET resolved_at = now(), resolution = 'requeued'
                FROM requeued r WHERE q.transaction_id = r.id AND q.resolved_at IS NULL
                """, [customerID, batchID])
            // A parked accounts call with a newer one recorded after it would send stale balances: superseded.
            try connection.execute("""
                UPDATE push_batches b SET state = 'superseded'
                WHERE b.state = 'parked' AND b.kind = 'accounts' AND ($1::bigint IS NULL OR b.customer_id = $1)
                  AND EXISTS (SELECT 1 FROM push_batches n WHERE n.customer_id = b.customer_id AND n.kind = 'accounts' AND n.id > b.id)
                """, [customerID])
            resolution.batchesReopened = try connection.execute("""
                UPDATE push_batches SET state = 'sending', attempts = 0, finished_at = NULL
                WHERE state = 'parked' AND ($1::bigint IS NULL OR customer_id = $1) AND ($2::bigint IS NULL OR id = $2)
                """, [customerID, batchID])
            return resolution
        }
    }

    /// Gives quarantined rows up for good (they will never reach Flowpay), with the reason recorded.
    public func dropRejected(customerID: Int64? = nil, batchID: Int64? = nil, reason: String, runID: Int64? = nil) async throws -> RefusalResolution {
        try await connection.withTransaction {
            var resolution = RefusalResolution()
            let dropped = try connection.query("""
                WITH dropped AS (
                    UPDATE transactions t SET push_state = 'dropped'
                    WHERE t.push_state = 'quarantined' AND ($1::bigint IS NULL OR t.customer_id = $1)
                      AND ($2::bigint IS NULL OR t.push_batch_id = $2)
                    RETURNING t.id, t.customer_id, t.flowpay_id
                ), resolved AS (
                    UPDATE push_quarantine q SET resolved_at = now(), resolution = 'dropped: ' || $3
                    FROM dropped d WHERE q.transaction_id = d.id AND q.resolved_at IS NULL
                )
                SELECT customer_id, string_agg(flowpay_id, ', ' ORDER BY flowpay_id), count(*) FROM dropped GROUP BY customer_id
                """, [customerID, batchID, reason])
            for row in dropped {
                let count = try row.decode(Int.self, at: 2)
                resolution.rowsDropped += count
                try recordEvent(customerID: try row.decode(Int64.self, at: 0), runID: runID, level: .info, code: "rejected_dropped",
                                message: "\(count) refused transaction(s) dropped by ops (\(reason)): \(try row.decode(String.self, at: 1))")
            }
            return resolution
        }
    }
}

extension Store {
    /// Rows of an account's window the source sent but the mapping could not read: kept raw with their reason
    /// (once per distinct row), recorded as one event. Returns how many were new.
    @discardableResult
    public func quarantineUnreadableRows(account: AccountRef, rows: [(field: String, reason: String, raw: String)], runID: Int64?) throws -> Int {
        guard !rows.isEmpty else { return 0 }
        var new = 0
        for row in rows {
            new += try connection.queryValue(Int.self, """
                WITH upserted AS (
                    INSERT INTO ingest_quarantine (account_id, customer_id, raw_hash, field, reason, raw, first_seen_run)
                    VALUES ($1, $2, sha256(convert_to($5, 'UTF8')), $3, $4, $5, $6)
                    ON CONFLICT (account_id, raw_hash) DO UPDATE SET last_seen_at = now(), reason = EXCLUDED.reason
                    RETURNING (xmax = 0) AS inserted
                )
                SELECT count(*) FILTER (WHERE inserted) FROM upserted
                """, [account.id, account.customerID, row.field, row.reason, row.raw, runID])
        }
        let sample = rows.prefix(3).map { "\($0.field): \($0.reason)" }.joined(separator: "; ")
        try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .warning, code: "unreadable_rows",
                        message: "\(rows.count) row(s) of the window could not be read and are quarantined (\(new) new), the rest stored: \(sample)")
        return new
    }
}

/// A row a source sent that the mapping could not read, as `banksync unreadable list` shows it.
public struct UnreadableRow: Sendable {
    public let flowpayCustomerID: UUID
    public let accountID: Int64
    public let field: String
    public let reason: String
    public let raw: String
    public let firstSeenAt: Date
    public let lastSeenAt: Date
    public let dismissed: String?
}

extension Store {
    /// Unreadable rows, newest first: of one customer or all; dismissed ones only with `includingDismissed`.
    public func unreadableRows(customerID: Int64?, includingDismissed: Bool = false, limit: Int = 1_000) throws -> [UnreadableRow] {
        try connection.query("""
            SELECT c.flowpay_customer_id, u.account_id, u.field, u.reason, u.raw, u.first_seen_at, u.last_seen_at, u.dismissed_reason
            FROM ingest_quarantine u JOIN customers c ON c.id = u.customer_id
            WHERE ($1::bigint IS NULL OR u.customer_id = $1) AND ($2 OR u.dismissed_at IS NULL)
            ORDER BY u.last_seen_at DESC LIMIT $3
            """, [customerID, includingDismissed, limit]).map { row in
            UnreadableRow(flowpayCustomerID: try row.decode(at: 0), accountID: try row.decode(at: 1), field: try row.decode(at: 2),
                          reason: try row.decode(at: 3), raw: try row.decode(at: 4), firstSeenAt: try row.decode(at: 5),
                          lastSeenAt: try row.decode(at: 6), dismissed: try row.decode(at: 7))
        }
    }

    /// Ops have looked at the unreadable rows (of one customer or all) and let them be: kept with `reason`, no
    /// longer an interruption. Returns how many.
    public func dismissUnreadableRows(customerID: Int64?, reason: String) throws -> Int {
        try connection.queryValue(Int.self, """
            WITH dismissed AS (
                UPDATE ingest_quarantine SET dismissed_at = now(), dismissed_reason = $2
                WHERE ($1::bigint IS NULL OR customer_id = $1) AND dismissed_at IS NULL
                RETURNING 1
            )
            SELECT count(*) FROM dismissed
            """, [customerID, reason])
    }
}
