import BankSyncCore
import Foundation
import Postgres
import Store
import TestSupport

/// A migrated test database with one customer and one account, ready for ingest.
struct IngestFixture {
    let store: Store
    let account: AccountRef

    static func make(_ database: TestDatabase, accountName: String = "main") async throws -> IngestFixture {
        let store = Store(connection: try database.connect())
        let migrations = try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))
        _ = try await Migrator(migrations: migrations).migrate(store.connection)
        return try await another(store, accountName: accountName)
    }

    /// A further customer+account in the same database.
    static func another(_ store: Store, accountName: String = "main") async throws -> IngestFixture {
        let customerID = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-\(UUID())", source: .gocardless, sourceRef: "req-1")
        let accountID = try await store.upsertAccount(customerID: customerID, BankAccount(
            sourceAccountID: accountName + "-\(UUID())", iban: "CZ65 0800 0000 1920 0014 5399", currency: "CZK"))
        return IngestFixture(store: store, account: AccountRef(id: accountID, customerID: customerID))
    }

    func count(_ condition: String = "true") throws -> Int {
        // Test-only helper: `condition` is a literal from the test source, never outside input.
        try store.connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE account_id = $1 AND " + condition, [account.id])
    }
}

let czk = try! Currency(code: "CZK")

func booked(_ day: String, _ amount: String, _ text: String = "coffee", id: String? = nil) -> BankTransaction {
    BankTransaction(status: .booked, bookingDate: Day(iso: day)!, valueDate: Day(iso: day)!,
                    amount: try! Money(parsing: amount, currency: czk), counterpartyName: "Café", remittance: text, sourceID: id)
}
