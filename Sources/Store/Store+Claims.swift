import Foundation
import Postgres

/// A customer claimed by this worker for one sync.
public struct Claim: Sendable, Equatable {
    public let customerID: Int64
    /// The customer as the claim read it (the claiming statement returns it: no round trip of its own).
    public var record: CustomerRecord?
}

extension Store {
    /// Claims the next due customer: active, due (below), not held
    /// by a live worker. Candidates are read `FOR UPDATE SKIP LOCKED` so concurrent claimers never pick
    /// the same row; the claim itself is this session's advisory lock on the customer, which PostgreSQL
    /// releases the moment the session ends — a killed worker's customers are claimable at once. The
    /// lease (`lease_until`) is only the backstop for a worker that hangs while still connected: past it,
    /// the hung session is terminated so its lock is freed.
    ///
    /// Due means: its last *finished* sync is older than `dueBefore` (a killed worker never finishes, so its
    /// customers are due again at once), or a webhook asked for a priority sync since then.
    /// `priorityOnly` claims only customers never synced or with a priority sync asked (what `serve` runs at
    /// once after a consent callback or a webhook).
    /// `excluding`: customers this run has given up on (left due for the next run).
    public func claimNext(dueBefore: Date, lease: Duration, worker: String, only flowpayCustomerID: UUID? = nil,
                          priorityOnly: Bool = false, excluding: [Int64] = []) async throws -> Claim? {
        // Pages of candidates, customers other workers are syncing last: a worker keeps looking while a due
        // customer it could take is left, instead of giving up when the first candidates are all taken.
        // First the customers nobody holds a lease on, in the claim index's order: a fleet run claims thousands
        // of customers, and sorting every due one by lease state for each claim (a scan of `customers`) was
        // ~7 ms of the server's time per claim at 10,000 customers. Customers with a lease (held, hung, or left
        // by a lost session) come through the full ordering below.
        // Most claims are the first unleased customer, its lock free: one statement, its own transaction.
        if let claimed = try claimFirstUnleased(dueBefore: dueBefore, lease: lease, worker: worker, only: flowpayCustomerID,
                                                priorityOnly: priorityOnly, excluding: excluding) {
            return claimed
        }
        if let claim = try await claimFromPage(0, dueBefore: dueBefore, lease: lease, worker: worker, only: flowpayCustomerID,
                                               priorityOnly: priorityOnly, excluding: excluding, unleasedOnly: true).0 {
            return claim
        }
        var page = 0
        while true {
            let (claim, candidates) = try await claimFromPage(page, dueBefore: dueBefore, lease: lease, worker: worker,
                                                              only: flowpayCustomerID, priorityOnly: priorityOnly, excluding: excluding)
            if let claim { return claim }
            if candidates < Self.claimPageSize { return nil }
            page += 1
        }
    }

    static let claimPageSize = 16

    /// Which customers a claim may take ($1 due before, $2 only this customer, $3 priority only, $7 excluded ids):
    /// one text for both claim queries.
    static let dueConditions = """
        (c.status = 'active' OR \(consentRecheckDue))
          AND (c.last_sync_at IS NULL OR c.last_sync_at < $1 OR c.priority_sync_at > c.last_sync_at)
          AND ($2::uuid IS NULL OR c.flowpay_customer_id = $2)
          AND (NOT $3::boolean OR c.last_sync_at IS NULL OR c.priority_sync_at > c.last_sync_at)
          AND NOT (c.id = ANY($7::bigint[]))
          AND c.paused_at IS NULL   -- an approver paused it in the ops console
        """

    /// Due customers without a lease (never claimed, or released: `release` clears it), through
    /// `customers_claim` in its order (`status <> 'disabled'` lets the partial index serve): the first four of
    /// them (nobody holds a lease on them, so the first one's lock is nearly always free — `FOR UPDATE` writes
    /// every row it returns, and a page of 16 cost 16 row locks per claim; four leave room for customers a
    /// `banksync push` holds without a lease), with the full query's columns (no lease to judge). The same
    /// parameters as the full query.
    static let unleasedCandidates = """
        SELECT c.id, NULL::boolean AS lease_expired, NULL::integer AS lease_pid, false AS hung
        FROM customers c
        WHERE c.status <> 'disabled' AND c.lease_until IS NULL
          AND \(dueConditions)
          AND $6::double precision IS NOT NULL
        ORDER BY c.priority_sync_at NULLS LAST, c.last_sync_at NULLS FIRST
        LIMIT $4 OFFSET $5
        FOR UPDATE SKIP LOCKED
        """

    /// The first due customer without a lease (`unleasedCandidates`' order), locked `FOR UPDATE SKIP LOCKED`, its session
    /// lock tried and, when taken, its lease written — one statement. Nil when there is none or another session holds
    /// its lock (a `banksync push`): the page-by-page claim goes on from there. The lock is tried once, on the candidate
    /// only: in a materialized CTE over the one candidate row, never in the UPDATE's own WHERE — PostgreSQL evaluates
    /// that again when the row changed after the statement's snapshot (a webhook's priority mark), and a lock taken
    /// twice is still held after `release` frees it once.
    private func claimFirstUnleased(dueBefore: Date, lease: Duration, worker: String, only flowpayCustomerID: UUID?, priorityOnly: Bool,
                                    excluding: [Int64]) throws -> Claim? {
        let row = try connection.query("""
            WITH candidate AS MATERIALIZED (
                SELECT c.id AS candidate_id
                FROM customers c
                WHERE c.status <> 'disabled' AND c.lease_until IS NULL
                  AND \(Self.dueConditions)
                ORDER BY c.priority_sync_at NULLS LAST, c.last_sync_at NULLS FIRST
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            ), locked AS MATERIALIZED (
                SELECT candidate_id FROM candidate WHERE pg_try_advisory_lock(($6::bigint << 32) | (candidate_id & 4294967295))
            )
            UPDATE customers SET lease_until = now() + make_interval(secs => $4), leased_by = $5, lease_pid = pg_backend_pid(),
                                 claimed_at = now()
            FROM locked
            WHERE customers.id = locked.candidate_id
            RETURNING \(Customer.columns)
            """, [dueBefore, flowpayCustomerID, priorityOnly, Double(lease.components.seconds), worker, Self.customerLockKeyPrefix,
                  Self.bigintArray(excluding)],
            planning: .perExecution).first
        return try row.map { row in
            let record = try Self.decodeCustomer(row)
            return Claim(customerID: record.customer.id, record: record)
        }
    }

    /// A customer parked as `consent_expired` is looked at again once a day (its sync starts with the cheap
    /// consent check): the customer may have reconnected, or the bank fixed a wrong answer.
    static let consentRecheckDue = "(c.status = 'consent_expired' AND (c.last_sync_at IS NULL OR c.last_sync_at < now() - interval '1 day'))"

    private func claimFromPage(_ page: Int, dueBefore: Date, lease: Duration, worker: String, only flowpayCustomerID: UUID?,
                               priorityOnly: Bool, excluding: [Int64], unleasedOnly: Bool = false) async throws -> (Claim?, Int) {
        // The BEGIN and the candidates in one round trip.
        try await connection.withTransaction(first: unleasedOnly ? Self.unleasedCandidates : """
                SELECT c.id, c.lease_until < now() AS lease_expired, c.lease_pid,
                       -- Hung, not slow: the holder's session is gone, or idle for a whole lease, or one statement has
                       -- run for six leases (a long COPY is active but progressing). A session whose activity this
                       -- role may not see (NULL columns) counts as alive.
                       NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.lease_pid)
                       OR EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.lease_pid
                                  AND ((a.state <> 'active' AND a.state_change < now() - make_interval(secs => $6))
                                       OR (a.state = 'active' AND a.query_start < now() - make_interval(secs => $6 * 6))))
                FROM customers c
                WHERE \(Self.dueConditions)
                ORDER BY (c.lease_until > now()) NULLS FIRST, c.priority_sync_at NULLS LAST, c.last_sync_at NULLS FIRST, c.id
                LIMIT $4 OFFSET $5
                FOR UPDATE SKIP LOCKED
                """, [dueBefore, flowpayCustomerID, priorityOnly, unleasedOnly ? 4 : Self.claimPageSize, page * Self.claimPageSize,
                      Double(lease.components.seconds), Self.bigintArray(excluding)],
               planning: .perExecution) { candidates in   // optional filters, and a due set that changes all through the run
            for row in candidates {
                let id = try row.decode(Int64.self, at: 0)
                if let claimed = try lockAndLease(id, lease: lease, worker: worker) {
                    return (Claim(customerID: id, record: claimed), candidates.rowCount)
                }
                // Held by a live session. Only one that made no progress for the whole lease (hung while
                // connected) is terminated, so its lock is freed; a slow one keeps its customer.
                if try row.decode(Bool?.self, at: 1) == true, try row.decode(Bool.self, at: 3), let pid = try row.decode(Int32?.self, at: 2) {
                    // Without the right to signal it (another role, no pg_signal_backend) the claim goes on.
                    try connection.execute("SAVEPOINT terminate_hung")
                    do {
                        _ = try connection.query("SELECT pg_terminate_backend($1)", [pid])
                        try connection.execute("RELEASE SAVEPOINT terminate_hung")
                    } catch let error as PostgresError where !error.isConnectionProblem {
                        try connection.execute("ROLLBACK TO SAVEPOINT terminate_hung")
                    }
                }
            }
            return (nil, candidates.rowCount)
        }
    }

    /// Takes the customer's session lock if no other worker holds it and, when taken, the claim's lease (stamping
    /// `claimed_at`) — one statement that returns the customer. The lock is tried once (an uncorrelated
    /// subquery), on the candidate row this transaction already holds `FOR UPDATE`. Nil when another session holds it.
    private func lockAndLease(_ customerID: Int64, lease: Duration, worker: String) throws -> CustomerRecord? {
        try connection.query("""
            UPDATE customers SET lease_until = now() + make_interval(secs => $2), leased_by = $3, lease_pid = pg_backend_pid(),
                                 claimed_at = now()
            WHERE id = $1 AND (SELECT pg_try_advisory_lock($4))
            RETURNING \(Customer.columns)
            """, [customerID, Double(lease.components.seconds), worker, Self.customerLockKey(customerID)]).first.map(Self.decodeCustomer)
    }

    /// The worker holding the customer is making progress: its lease runs for another `lease`. `claiming`: the
    /// claim's own lease, which also stamps `claimed_at` (one statement, one row version).
    public func renewLease(customerID: Int64, lease: Duration, worker: String, claiming: Bool = false) throws {
        try connection.execute("""
            UPDATE customers SET lease_until = now() + make_interval(secs => $2), leased_by = $3, lease_pid = pg_backend_pid(),
                                 claimed_at = CASE WHEN $4 THEN now() ELSE claimed_at END
            WHERE id = $1
            """, [customerID, Double(lease.components.seconds), worker, claiming])
    }

    /// The claimed sync finished (succeeded or failed and recorded): the customer is not due again until later.
    /// It counts as of its claim: a priority asked during the sync (newer than that) keeps the customer due.
    /// The session lock is given up in the same statement, after the row is written (RETURNING): a claimer waiting
    /// on the row sees it not due any more.
    /// `synced`: the sync succeeded — `markSynced` and its event in the same statement (one round trip, not two).
    public func release(_ claim: Claim, synced: (runID: Int64, message: String)? = nil) throws {
        let released = try connection.execute("""
            WITH synced AS (
                INSERT INTO sync_events (customer_id, run_id, level, code, message)
                SELECT $1, $3, 'info', 'synced', $4 WHERE $3::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM customers WHERE id = $1)
            )
            UPDATE customers SET last_sync_at = COALESCE(claimed_at, now()), lease_until = NULL, lease_pid = NULL,
                   last_success_at = CASE WHEN $3::bigint IS NOT NULL THEN now() ELSE last_success_at END,
                   -- a priority asked after this sync was claimed stays: its data may postdate what the sync read
                   priority_sync_at = CASE WHEN $3::bigint IS NULL OR priority_sync_at > claimed_at THEN priority_sync_at END
            WHERE id = $1
            RETURNING pg_advisory_unlock($2)
            """, [claim.customerID, Self.customerLockKey(claim.customerID), synced?.runID, synced?.message])
        if released == 0 { try unlockCustomer(claim.customerID) }
    }

    /// How many customers a run would visit (for the progress display).
    public func claimableCount(dueBefore: Date, only flowpayCustomerID: UUID? = nil, priorityOnly: Bool = false) throws -> Int {
        try connection.queryValue(Int.self, """
            SELECT count(*) FROM customers
            WHERE (status = 'active' OR \(Self.consentRecheckDue.replacingOccurrences(of: "c.", with: "")))
              AND (last_sync_at IS NULL OR last_sync_at < $1 OR priority_sync_at > last_sync_at)
              AND ($2::uuid IS NULL OR flowpay_customer_id = $2) AND paused_at IS NULL
              AND (NOT $3::boolean OR ((last_sync_at IS NULL OR priority_sync_at > last_sync_at)
                                       AND (lease_until IS NULL OR lease_until < now())))   -- not being synced right now
            """, [dueBefore, flowpayCustomerID, priorityOnly], planning: .perExecution)
    }

    /// For the run's summary line: customers registered, and active ones skipped because their last sync
    /// finished after `dueBefore` (within `--min-interval`).
    public func dueSummary(dueBefore: Date) throws -> (customers: Int, notDue: Int) {
        guard let row = try connection.query("""
            SELECT count(*),
                   count(*) FILTER (WHERE status = 'active' AND last_sync_at >= $1
                                      AND (priority_sync_at IS NULL OR priority_sync_at <= last_sync_at))
            FROM customers
            """, [dueBefore]).first else { return (0, 0) }
        return (try row.decode(Int.self, at: 0), try row.decode(Int.self, at: 1))
    }
}
