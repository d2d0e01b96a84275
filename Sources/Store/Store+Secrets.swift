import Foundation
import Postgres

/// Sealed source secrets (a Fio token, migration 0023): the Store keeps bytes it cannot read; sealing and opening
/// are the caller's (`TokenVault`). Nothing here logs or returns a secret in an error.
extension Store {
    /// Stores (or replaces) the customer's sealed secret.
    public func putSealedSecret(customerID: Int64, sealed: [UInt8]) throws {
        try connection.execute("""
            INSERT INTO customer_secrets (customer_id, sealed) VALUES ($1, $2)
            ON CONFLICT (customer_id) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = now()
            """, [customerID, sealed])
    }

    public func sealedSecret(customerID: Int64) throws -> [UInt8]? {
        try connection.query("SELECT sealed FROM customer_secrets WHERE customer_id = $1", [customerID]).first
            .map { try $0.decode([UInt8].self, at: 0) }
    }

    /// Re-seals every stored secret with `reseal` in one transaction: all under the new key, or (on any failure,
    /// e.g. a row the old key cannot open) none. Returns how many were re-sealed.
    public func resealAllSecrets(_ reseal: ([UInt8]) throws -> [UInt8]) async throws -> Int {
        try await connection.withTransaction {
            let rows = try connection.query("SELECT customer_id, sealed FROM customer_secrets ORDER BY customer_id FOR UPDATE")
            for row in rows {
                let customer = try row.decode(Int64.self, at: 0)
                let sealed = try reseal(try row.decode([UInt8].self, at: 1))
                try connection.execute("UPDATE customer_secrets SET sealed = $2, updated_at = now() WHERE customer_id = $1", [customer, sealed])
            }
            return rows.rowCount
        }
    }
}

extension Store {
    /// Every Fio customer with its sealed token (nil when none is stored), for `doctor`.
    public func fioSealedSecrets() throws -> [(customerID: Int64, sealed: [UInt8]?)] {
        try connection.query("""
            SELECT c.id, s.sealed FROM customers c LEFT JOIN customer_secrets s ON s.customer_id = c.id
            WHERE c.source = 'fio' AND c.status <> 'disabled' ORDER BY c.id
            """).map { (try $0.decode(Int64.self, at: 0), try $0.decode([UInt8]?.self, at: 1)) }
    }
}

extension Store {
    /// Whether any customer still synced reads Fio (whose token needs the secrets key).
    public func hasFioCustomers() throws -> Bool {
        try connection.queryValue(Bool.self, "SELECT EXISTS (SELECT 1 FROM customers WHERE source = 'fio' AND status <> 'disabled')")
    }
}
