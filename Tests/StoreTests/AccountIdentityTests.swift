import BankSyncCore
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// One row per customer bank account (IBAN + currency), whoever writes it and however they race.
@Suite struct AccountIdentityTests {
    static let iban = "SK31 1200 0000 1987 4263 7541"

    /// A consent callback (inside its own transaction, not committed yet) and a sync meet the same new IBAN at
    /// once, on separate connections: the sync's insert waits for the callback's and both end on one row.
    @Test func aCallbackAndASyncInsertingOneNewIBANMakeOneRow() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let customerID = fixture.account.customerID
            let callback = fixture.store
            let sync = Store(connection: try database.connect())
            let syncPID = try sync.connection.queryValue(Int32.self, "SELECT pg_backend_pid()")

            try callback.connection.execute("BEGIN")
            let callbackID = try await callback.upsertAccount(customerID: customerID, BankAccount(
                sourceAccountID: "new-consent-account", iban: Self.iban, currency: "EUR"), inTransaction: true)
            let syncWrite = Task {
                try await sync.upsertAccount(customerID: customerID, BankAccount(
                    sourceAccountID: "old-consent-account", iban: Self.iban, currency: "EUR"))
            }
            // On until the sync's writer either waits behind the callback's uncommitted row or is done without
            // waiting (its row visible): no timing is assumed.
            while try !callback.connection.queryValue(Bool.self, """
                SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock')
                    OR EXISTS (SELECT 1 FROM accounts WHERE source_account_id = 'old-consent-account')
                """, [syncPID]) {
                try await Task.sleep(for: .milliseconds(2))
            }
            try callback.connection.execute("COMMIT")
            let syncID = try await syncWrite.value
            #expect(syncID == callbackID, "the sync found the callback's row")
            #expect(try callback.connection.queryValue(Int.self, """
                SELECT count(*) FROM accounts WHERE customer_id = $1 AND iban_key = 'SK3112000000198742637541'
                """, [customerID]) == 1)
        }
    }

    /// A source that omits the currency this time never erases the stored one (that would merge the
    /// sub-accounts of a multi-currency account).
    @Test func aMissingCurrencyNeverOverwritesTheStoredOne() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let customerID = fixture.account.customerID
            let eur = try await fixture.store.upsertAccount(customerID: customerID, BankAccount(
                sourceAccountID: "multi", iban: Self.iban, currency: "EUR"))
            let again = try await fixture.store.upsertAccount(customerID: customerID, BankAccount(
                sourceAccountID: "multi", iban: Self.iban, currency: nil))
            #expect(again == eur)
            #expect(try fixture.store.connection.queryValue(String?.self, "SELECT currency FROM accounts WHERE id = $1", [eur]) == "EUR")
            let usd = try await fixture.store.upsertAccount(customerID: customerID, BankAccount(
                sourceAccountID: "multi-usd", iban: Self.iban, currency: "USD"))
            #expect(usd != eur, "the USD sub-account keeps its own row")
        }
    }

    /// Migration 0021 on a database that already holds duplicates (the race, before the key): the row the sync
    /// uses stays active, the other becomes inactive with its data kept, and the key is built.
    @Test func theKeyIsBuiltOverExistingDuplicates() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let migrations = try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))
            _ = try await Migrator(migrations: migrations.filter { $0.version <= 20 }).migrate(connection)
            let store = Store(connection: connection)
            let customerID = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-dup", source: .gocardless, sourceRef: "r")
            for source in ["first", "second"] {
                try connection.execute("""
                    INSERT INTO accounts (customer_id, source_account_id, iban, iban_key, currency) VALUES ($1, $2, $3, $4, 'EUR')
                    """, [customerID, source, Self.iban, "SK3112000000198742637541"])
            }
            _ = try await Migrator(migrations: migrations).migrate(connection)
            #expect(try connection.queryValue(String.self, "SELECT string_agg(source_account_id || ':' || active, ',' ORDER BY id) FROM accounts")
                    == "first:false,second:true")
            #expect(try connection.queryValue(Bool.self, """
                SELECT indisunique AND indisvalid FROM pg_index WHERE indexrelid = 'accounts_identity'::regclass
                """))
            #expect(throws: PostgresError.self) {
                try connection.execute("UPDATE accounts SET active = true WHERE source_account_id = 'first'")
            }
        }
    }
}
