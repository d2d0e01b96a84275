import BankSyncCore
import Foundation
import Postgres

/// A customer as registered with BankSync: Flowpay's id for PUSH, the partner's merchant id for PULL.
public struct Customer: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        case gocardless, berlingroup, fio
    }

    public var id: Int64
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var source: Source
    public var sourceRef: String
    public var historyDays: Int
    public var status: String
    /// Moves whenever the source, consent or source settings change (a trigger, migration 0009): rows keyed by
    /// source ids of an earlier generation may be recognised by content.
    public var keyGeneration: Int32 = 1
}

extension Store {
    /// Registers a customer; returns its id.
    public func addCustomer(flowpayCustomerID: UUID, merchantID: String, source: Customer.Source, sourceRef: String,
                            historyDays: Int = SyncWindow.defaultHistoryDays, sourceConfig: String = "{}") throws -> Int64 {
        try connection.queryValue(Int64.self, """
            INSERT INTO customers (flowpay_customer_id, merchant_id, source, source_ref, history_days, source_config)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb)
            RETURNING id
            """, [flowpayCustomerID, merchantID, source.rawValue, sourceRef, historyDays, JSONText(sourceConfig)])
    }
}

extension Store {
    /// Removes a customer and everything stored for it (transactions have no foreign key, see 0002_outbox.sql).
    /// Returns false when there is no such customer.
    public func removeCustomer(id: Int64) async throws -> Bool {
        try await connection.withTransaction {
            // The queue after the rows: an ingest committing in between cannot leave queue rows behind.
            try connection.execute("DELETE FROM transactions WHERE customer_id = $1", [id])
            try connection.execute("DELETE FROM push_queue WHERE customer_id = $1", [id])
            return try connection.execute("DELETE FROM customers WHERE id = $1", [id]) == 1
        }
    }
}

extension Customer {
    static let columns = "id, flowpay_customer_id, merchant_id, source, source_ref, history_days, status, source_config::text, consent_expires_at, key_generation, history_days_cap"
}

/// A customer with what a sync needs.
public struct CustomerRecord: Sendable, Equatable {
    public var customer: Customer
    public var sourceConfig: String
    public var consentExpiresAt: Date?
    /// Days of history the consent allows when fewer than asked (its terms, stored by the sync that read them).
    public var historyCap: Int?
}

extension Store {
    public func customer(flowpayCustomerID: UUID) throws -> CustomerRecord? {
        try connection.query("SELECT \(Customer.columns) FROM customers WHERE flowpay_customer_id = $1", [flowpayCustomerID])
            .first.map(Self.decodeCustomer)
    }

    public func customer(id: Int64) throws -> CustomerRecord? {
        try connection.query("SELECT \(Customer.columns) FROM customers WHERE id = $1", [id]).first.map(Self.decodeCustomer)
    }

    public func customers() throws -> [CustomerRecord] {
        try connection.query("SELECT \(Customer.columns) FROM customers ORDER BY id").map(Self.decodeCustomer)
    }

    static func decodeCustomer(_ row: Row) throws -> CustomerRecord {
        let source = try row.decode(String.self, at: 3)
        return CustomerRecord(
            customer: Customer(id: try row.decode(at: 0), flowpayCustomerID: try row.decode(at: 1), merchantID: try row.decode(at: 2),
                               source: Customer.Source(rawValue: source) ?? .gocardless, sourceRef: try row.decode(at: 4),
                               historyDays: try row.decode(at: 5), status: try row.decode(at: 6), keyGeneration: try row.decode(at: 9)),
            sourceConfig: try row.decode(at: 7), consentExpiresAt: try row.decode(at: 8), historyCap: try row.decode(Int32?.self, at: 10).map(Int.init))
    }

    /// What the source said about the consent: its expiry, and the history cap when it allows less.
    public func updateConsent(customerID: Int64, expiresAt: Date?, historyCap: Int?) throws {
        try connection.execute("""
            UPDATE customers SET consent_expires_at = COALESCE($2, consent_expires_at), history_days_cap = $3,
                   status = CASE WHEN status = 'consent_expired' THEN 'active' ELSE status END
            WHERE id = $1
            """, [customerID, expiresAt, historyCap])
    }

    /// The customer must reconnect their bank: no further pulls until they do.
    public func markConsentExpired(customerID: Int64, runID: Int64?, reason: String) throws {
        try connection.execute("UPDATE customers SET status = 'consent_expired' WHERE id = $1", [customerID])
        try recordEvent(customerID: customerID, runID: runID, level: .error, code: "consent_expired", message: reason)
    }

    /// `markSynced` and the run's `synced` event for the customer, in one statement.
    public func markSynced(customerID: Int64, runID: Int64, message: String) throws {
        try connection.execute("""
            WITH synced AS (
                UPDATE customers SET last_success_at = now(),
                       priority_sync_at = CASE WHEN priority_sync_at > claimed_at THEN priority_sync_at END
                WHERE id = $1
            )
            INSERT INTO sync_events (customer_id, run_id, level, code, message) VALUES ($1, $2, 'info', 'synced', $3)
            """, [customerID, runID, message])
    }

    public func markSynced(customerID: Int64) throws {
        // A priority asked after this sync was claimed stays: its data may postdate what this sync read.
        try connection.execute("""
            UPDATE customers SET last_success_at = now(),
                   priority_sync_at = CASE WHEN priority_sync_at > claimed_at THEN priority_sync_at END
            WHERE id = $1
            """, [customerID])
    }
}
