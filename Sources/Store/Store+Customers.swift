import BankSyncCore
import Foundation
import Postgres

/// A customer as registered with BankSync: Flowpay's id for PUSH, the partner's merchant id for PULL.
public struct Customer: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        case gocardless, berlingroup
    }

    public var id: Int64
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var source: Source
    public var sourceRef: String
    public var historyDays: Int
    public var status: String
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
            try connection.execute("DELETE FROM transactions WHERE customer_id = $1", [id])
            return try connection.execute("DELETE FROM customers WHERE id = $1", [id]) == 1
        }
    }
}
