import BankSyncCore
import Foundation
import Postgres

public enum ConsoleActionError: Error, CustomStringConvertible, Equatable {
    case unknownCustomer(UUID)
    case unknownAccount(Int64)
    case nothingToAcknowledge(accountID: Int64)
    case deepReadOutOfRange(from: Day, to: Day, earliest: Day, today: Day)

    public var description: String {
        switch self {
        case .unknownCustomer(let id): "no customer has Flowpay customer id \(id)"
        case .unknownAccount(let id): "no account has id \(id)"
        case .nothingToAcknowledge(let id): "account \(id) has no difference to acknowledge"
        case .deepReadOutOfRange(let from, let to, let earliest, let today):
            "a deep read of \(from) to \(to) is not possible: the range must run forward, end by today (\(today)) and start no earlier "
                + "than \(earliest), the oldest day the customer's consent allows"
        }
    }
}

extension Store {
    /// Pauses (or resumes) a customer: sync claims skip a paused customer, `lag` shows it as `paused`. Returns the
    /// state before and after, in words, for the audit log. `via`: where it was done (the ops console, the CLI).
    public func setCustomerPaused(flowpayCustomerID: UUID, paused: Bool, by who: String, reason: String,
                                  via: String = "the ops console") async throws -> (before: String, after: String) {
        try await connection.withTransaction {
            guard let row = try connection.query("""
                SELECT id, paused_at IS NOT NULL, paused_reason FROM customers WHERE flowpay_customer_id = $1 FOR UPDATE
                """, [flowpayCustomerID]).first else { throw ConsoleActionError.unknownCustomer(flowpayCustomerID) }
            let id = try row.decode(Int64.self, at: 0)
            let before = try row.decode(Bool.self, at: 1) ? "paused (\(try row.decode(String?.self, at: 2) ?? ""))" : "not paused"
            try connection.execute("""
                UPDATE customers SET paused_at = CASE WHEN $2 THEN now() END, paused_by = CASE WHEN $2 THEN $3 END,
                                     paused_reason = CASE WHEN $2 THEN $4 END
                WHERE id = $1
                """, [id, paused, who, reason])
            try recordEvent(customerID: id, runID: nil, level: .info, code: paused ? "customer_paused" : "customer_resumed",
                            message: "\(paused ? "paused" : "resumed") by \(who) in \(via): \(reason)")
            return (before, paused ? "paused (\(reason))" : "not paused")
        }
    }

    /// Asks for a sync of the customer at once (what a Flowpay webhook asks for): `serve`'s priority syncs take it
    /// at their next poll. Returns when the source allows the next read (a day's read budget spent), else nil.
    public func requestPrioritySync(flowpayCustomerID: UUID, by who: String) throws -> (requestedAt: Date, nextReadAllowed: Date?) {
        guard let row = try connection.query("""
            UPDATE customers c SET priority_sync_at = now() WHERE flowpay_customer_id = $1
            RETURNING c.id, c.priority_sync_at,
                      (SELECT min(w.reads_resume_on)::timestamp AT TIME ZONE 'UTC' FROM watermarks w JOIN accounts a ON a.id = w.account_id
                       WHERE a.customer_id = c.id AND w.reads_resume_on > (now() AT TIME ZONE 'UTC')::date)
            """, [flowpayCustomerID]).first else { throw ConsoleActionError.unknownCustomer(flowpayCustomerID) }
        try recordEvent(customerID: try row.decode(at: 0), runID: nil, level: .info, code: "sync_requested",
                        message: "sync asked for by \(who) in the ops console")
        return (try row.decode(at: 1), try row.decode(at: 2))
    }

    /// An operator has looked at the account's current difference: Needs attention stops listing it until the
    /// difference changes. Returns the difference before, in words.
    public func acknowledgeDifference(accountID: Int64, by who: String, reason: String, via: String = "the ops console") throws -> String {
        guard let row = try connection.query("""
            UPDATE account_reconciliation r SET acknowledged_at = now(), acknowledged_by = $2, acknowledged_difference = r.difference_minor
            FROM accounts a WHERE a.id = r.account_id AND r.account_id = $1 AND r.state = 'mismatch'
            RETURNING a.customer_id, r.difference_minor, r.currency, (r.mismatch_from + 1)::text, r.mismatch_to::text
            """, [accountID, who]).first else { throw ConsoleActionError.nothingToAcknowledge(accountID: accountID) }
        let words = "difference \(try row.decode(Int64?.self, at: 1) ?? 0) minor \(try row.decode(String?.self, at: 2) ?? "") "
            + "\(try row.decode(String?.self, at: 3) ?? "?")…\(try row.decode(String?.self, at: 4) ?? "?")"
        try recordEvent(customerID: try row.decode(at: 0), accountID: accountID, runID: nil, level: .info, code: "difference_acknowledged",
                        message: "\(words) acknowledged by \(who) in \(via): \(reason)")
        return words
    }

    /// The customer id of an account's or a Flowpay customer's row (for events and the audit log).
    public func customerID(flowpayCustomerID: UUID) throws -> Int64? {
        try connection.query("SELECT id FROM customers WHERE flowpay_customer_id = $1", [flowpayCustomerID]).first.map { try $0.decode(at: 0) }
    }

    public func customerPause(flowpayCustomerID: UUID) throws -> (pausedAt: Date, by: String?, reason: String?)? {
        try connection.query("SELECT paused_at, paused_by, paused_reason FROM customers WHERE flowpay_customer_id = $1 AND paused_at IS NOT NULL",
                             [flowpayCustomerID]).first.map { (try $0.decode(at: 0), try $0.decode(at: 1), try $0.decode(at: 2)) }
    }
}
