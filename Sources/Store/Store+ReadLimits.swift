import BankSyncCore
import Foundation
import Postgres

/// When a customer's bank may be read next, for the ops console (Sync now, Consents): a spent read budget (any
/// source), Fio's one call per token every 30 s, a Berlin Group consent's reads a day.
public struct ReadAllowance: Sendable, Equatable {
    /// The next instant a read is allowed; nil: now.
    public var nextReadAllowed: Date?
    /// Why it waits, in words (nil when it does not).
    public var why: String?
    /// Berlin Group: reads of the most-read active account left today (UTC); nil for other sources.
    public var readsLeftToday: Int?

    public init(nextReadAllowed: Date? = nil, why: String? = nil, readsLeftToday: Int? = nil) {
        self.nextReadAllowed = nextReadAllowed
        self.why = why
        self.readsLeftToday = readsLeftToday
    }
}

extension Store {
    /// A read of a Berlin Group account's transactions (a consent allows `frequencyPerDay` a day): counted per
    /// account and UTC day.
    public func noteAccountRead(accountID: Int64, on day: Day) throws {
        try connection.execute("""
            INSERT INTO watermarks (account_id, reads_on, reads_that_day) VALUES ($1, $2, 1)
            ON CONFLICT (account_id) DO UPDATE
            SET reads_that_day = CASE WHEN watermarks.reads_on = $2 THEN COALESCE(watermarks.reads_that_day, 0) + 1 ELSE 1 END, reads_on = $2
            """, [accountID, day])
    }

    /// The fingerprint of the customer's Fio token (as `fio_call_slots` is keyed), so its next allowed call can be shown.
    public func noteFioTokenKey(customerID: Int64, tokenKey: String) throws {
        try connection.execute("UPDATE customer_secrets SET token_key = $2 WHERE customer_id = $1 AND token_key IS DISTINCT FROM $2",
                               [customerID, tokenKey])
    }

    /// When the customer's bank may be read next, and why not before.
    public func readAllowance(flowpayCustomerID: UUID) throws -> ReadAllowance? {
        guard let row = try connection.query("""
            SELECT c.source,
                   (SELECT min(w.reads_resume_on)::timestamp AT TIME ZONE 'UTC' FROM watermarks w JOIN accounts a ON a.id = w.account_id
                    WHERE a.customer_id = c.id AND w.reads_resume_on > (now() AT TIME ZONE 'UTC')::date),
                   (SELECT f.next_allowed_at FROM customer_secrets s JOIN fio_call_slots f ON f.token_key = s.token_key
                    WHERE s.customer_id = c.id AND f.next_allowed_at > now()),
                   (SELECT COALESCE(max(w.reads_that_day), 0) FROM watermarks w JOIN accounts a ON a.id = w.account_id
                    WHERE a.customer_id = c.id AND a.active AND w.reads_on = (now() AT TIME ZONE 'UTC')::date)::bigint,
                   ((now() AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
            FROM customers c WHERE c.flowpay_customer_id = $1
            """, [flowpayCustomerID]).first else { return nil }
        let source = try row.decode(String.self, at: 0)
        var allowance = ReadAllowance()
        if let resume = try row.decode(Date?.self, at: 1) {
            allowance.nextReadAllowed = resume
            allowance.why = "the bank's read budget is spent for today"
        }
        if let fio = try row.decode(Date?.self, at: 2), fio > (allowance.nextReadAllowed ?? .distantPast) {
            allowance.nextReadAllowed = fio
            allowance.why = "Fio allows one call per token every 30 s"
        }
        if source == "berlingroup" {
            let left = max(ReadBudget.berlinGroupReadsPerDay - (try row.decode(Int.self, at: 3)), 0)
            allowance.readsLeftToday = left
            if left == 0, allowance.nextReadAllowed == nil {
                allowance.nextReadAllowed = try row.decode(Date.self, at: 4)
                allowance.why = "the consent allows \(ReadBudget.berlinGroupReadsPerDay) reads a day and none is left today"
            }
        }
        return allowance
    }
}
