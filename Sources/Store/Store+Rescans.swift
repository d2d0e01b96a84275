import BankSyncCore
import Foundation
import Postgres

/// An account's read state (`accountReadState`).
public struct AccountReadState: Sendable {
    public var deferred: (until: Day, reason: String)?
    public var bookedThrough: Day?
    public var lastRescan: Date?
    /// A deep read ops asked for (ops console): the window reaches back to this day once, through `deepReadTo`
    /// (nil: through today).
    public var deepReadFrom: Day?
    public var deepReadTo: Day?
}

extension Store {
    /// `storedAccountDetails` and the `accountReadState` of each of those accounts (by account id), in one round
    /// trip: what a daily sync reads before its first call to the source — a read deferral still in force (until,
    /// reason), the booked-through watermark, the last deep re-read (nil: never since the first sync) and a deep
    /// read ops asked for.
    public func storedAccountsAndReadStates(customerID: Int64, today: Day) throws -> StoredAccounts {
        try Self.decodeStoredAccounts(try connection.query(Self.storedAccountsAndReadStates, [customerID, today]))
    }

    /// The accounts whose rows a mapping upgrade may have to map again (`accountsBehindMapping`) and
    /// `storedAccountsAndReadStates`, in one round trip: what a customer's sync starts from. The states stand only
    /// while no account was behind (an upgrade writes the account's rows under its ingest lock).
    public func accountsBehindMappingAndReadStates(customerID: Int64, version: Int64, today: Day) throws
        -> (behind: [(id: Int64, currency: String?)], stored: StoredAccounts) {
        let results = try connection.pipeline([PipelinedStatement(Self.accountsBehindMapping, [customerID, version]),
                                               PipelinedStatement(Self.storedAccountsAndReadStates, [customerID, today])])
        return (try Self.decodeAccountsBehindMapping(try results[0].get()), try Self.decodeStoredAccounts(try results[1].get()))
    }

    /// A customer's stored accounts: their details by source id, their read states and ids.
    public typealias StoredAccounts = (details: [String: BankAccount], states: [Int64: AccountReadState], ids: [String: Int64])

    /// $1 customer, $2 today.
    static let storedAccountsAndReadStates = """
            SELECT a.source_account_id, a.iban, a.bic, a.currency, a.name, a.product, a.owner_name, a.id,
                   CASE WHEN w.reads_resume_on > $2::date THEN w.reads_resume_on END, w.reads_deferred_reason, w.booked_through, w.last_rescan_at,
                   w.deep_read_from, w.deep_read_to
            FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id
            WHERE a.customer_id = $1 AND a.active
            """

    static func decodeStoredAccounts(_ rows: QueryResult) throws -> StoredAccounts {
        var details: [String: BankAccount] = [:]
        var states: [Int64: AccountReadState] = [:]
        var ids: [String: Int64] = [:]
        for row in rows {
            let account = BankAccount(sourceAccountID: try row.decode(at: 0), iban: try row.decode(at: 1), bic: try row.decode(at: 2),
                                      currency: try row.decode(at: 3), name: try row.decode(at: 4), product: try row.decode(at: 5),
                                      ownerName: try row.decode(at: 6))
            details[account.sourceAccountID] = account
            ids[account.sourceAccountID] = try row.decode(Int64.self, at: 7)
            let until = try row.decode(Day?.self, at: 8)
            states[try row.decode(Int64.self, at: 7)] = AccountReadState(
                deferred: try until.map { ($0, try row.decode(String?.self, at: 9) ?? "read budget used up") },
                bookedThrough: try row.decode(at: 10), lastRescan: try row.decode(at: 11), deepReadFrom: try row.decode(at: 12),
                deepReadTo: try row.decode(at: 13))
        }
        return (details, states, ids)
    }

    public func accountReadState(accountID: Int64, today: Day) throws -> AccountReadState {
        guard let row = try connection.query("""
            SELECT CASE WHEN reads_resume_on > $2::date THEN reads_resume_on END, reads_deferred_reason, booked_through, last_rescan_at,
                   deep_read_from, deep_read_to
            FROM watermarks WHERE account_id = $1
            """, [accountID, today]).first else { return AccountReadState() }
        let until = try row.decode(Day?.self, at: 0)
        return AccountReadState(deferred: try until.map { ($0, try row.decode(String?.self, at: 1) ?? "read budget used up") },
                                bookedThrough: try row.decode(at: 2), lastRescan: try row.decode(at: 3), deepReadFrom: try row.decode(at: 4),
                                deepReadTo: try row.decode(at: 5))
    }

    /// After a deep re-read: the booked rows it stored that the daily window had missed (booked before
    /// `missedBefore`, the start the daily window would have had) are late bookings — counted, the latest
    /// lateness kept, one `late_booking` event; the re-read's time is recorded. Returns how many.
    @discardableResult
    /// `updatesSchedule` false (a forced read shallower than the periodic one) leaves the weekly schedule as it is.
    public func noteRescan(account: AccountRef, runID: Int64, missedBefore: Day, today: Day, updatesSchedule: Bool = true) throws -> Int {
        guard let row = try connection.query("""
            WITH late AS (
                SELECT count(*) AS n, max($4::date - booking_date) AS days, min(booking_date) AS oldest
                FROM transactions
                WHERE account_id = $1 AND first_seen_run = $2 AND status = 'booked' AND booking_date < $3::date
            ), noted AS (
                UPDATE watermarks w SET last_rescan_at = CASE WHEN $5 THEN now() ELSE w.last_rescan_at END,
                       late_bookings = w.late_bookings + late.n,
                       latest_late_days = CASE WHEN late.n > 0 THEN late.days ELSE w.latest_late_days END
                FROM late WHERE w.account_id = $1
            )
            SELECT n, days, oldest::text FROM late
            """, [account.id, runID, missedBefore, today, updatesSchedule], planning: .perExecution).first else { return 0 }
        let count = try row.decode(Int.self, at: 0)
        if count > 0 {
            try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "late_booking",
                            message: "a deep re-read found \(count) booking(s) the daily window had missed, up to "
                                + "\(try row.decode(Int.self, at: 1)) days late (oldest booked \(try row.decode(String.self, at: 2)))")
        }
        return count
    }

    /// Ops ask for a deep read of the account over `from`…`to` (nil `to`: through today): the customer's next sync
    /// (a priority sync, asked at once) reads that range too. Refused unless `from` ≤ `to` ≤ today and `from` lies
    /// within the history the customer's consent allows. Returns the customer's Flowpay id.
    public func requestDeepRead(accountID: Int64, from: Day, to: Day? = nil, today: Day, by who: String) throws -> UUID {
        guard let allowed = try connection.query("""
            SELECT LEAST(c.history_days, COALESCE(c.history_days_cap, c.history_days)) FROM accounts a JOIN customers c ON c.id = a.customer_id
            WHERE a.id = $1
            """, [accountID]).first.map({ try $0.decode(Int.self, at: 0) }) else { throw ConsoleActionError.unknownAccount(accountID) }
        let earliest = today.adding(days: -allowed)
        guard from <= (to ?? today), (to ?? today) <= today, from >= earliest else {
            throw ConsoleActionError.deepReadOutOfRange(from: from, to: to ?? today, earliest: earliest, today: today)
        }
        guard let row = try connection.query("""
            WITH marked AS (
                INSERT INTO watermarks (account_id, deep_read_from, deep_read_to) VALUES ($1, $2, $3)
                ON CONFLICT (account_id) DO UPDATE SET deep_read_from = excluded.deep_read_from, deep_read_to = excluded.deep_read_to
                RETURNING account_id
            )
            UPDATE customers c SET priority_sync_at = now() FROM accounts a, marked m
            WHERE a.id = m.account_id AND c.id = a.customer_id
            RETURNING c.id, c.flowpay_customer_id
            """, [accountID, from, to]).first else { throw PostgresError.noRows(statement: "requestDeepRead") }
        try recordEvent(customerID: try row.decode(at: 0), accountID: accountID, runID: nil, level: .info, code: "deep_read_requested",
                        message: "deep read of \(from) to \(to.map(\.description) ?? "today") asked for by \(who) in the ops console")
        return try row.decode(at: 1)
    }

    /// The deep read ops asked for back to `from` was stored: asked no more. A request made meanwhile for another
    /// day stays for the next run.
    public func clearDeepReadRequest(accountID: Int64, from: Day) throws {
        try connection.execute("UPDATE watermarks SET deep_read_from = NULL, deep_read_to = NULL WHERE account_id = $1 AND deep_read_from = $2",
                               [accountID, from])
    }

    /// A deep read the source could not serve: the next one waits a period, the daily window goes on.
    public func deferRescan(accountID: Int64) throws {
        try noteFullRead(accountID: accountID)
    }

    /// A first sync read the whole history: it counts as a deep read.
    public func noteFullRead(accountID: Int64) throws {
        try connection.execute("UPDATE watermarks SET last_rescan_at = now() WHERE account_id = $1", [accountID])
    }
}

extension Store {
    /// The source refused a read for its budget: the account is not asked again before `resumeOn`.
    public func deferReads(accountID: Int64, until resumeOn: Day, reason: String) throws {
        try connection.execute("""
            INSERT INTO watermarks (account_id, reads_resume_on, reads_deferred_reason) VALUES ($1, $2, $3)
            ON CONFLICT (account_id) DO UPDATE SET reads_resume_on = excluded.reads_resume_on,
                                                   reads_deferred_reason = excluded.reads_deferred_reason
            """, [accountID, resumeOn, reason])
    }
}

extension Store {
    /// A first sync fetched in pieces: the history asked for and received, as one unpieced first sync records it.
    public func noteFirstSyncHistory(accountID: Int64, requestedDays: Int, receivedDays: Int) throws {
        try connection.execute("""
            UPDATE watermarks SET history_requested_days = COALESCE(history_requested_days, $2),
                                  history_received_days = COALESCE(history_received_days, $3)
            WHERE account_id = $1
            """, [accountID, requestedDays, receivedDays])
    }
}
