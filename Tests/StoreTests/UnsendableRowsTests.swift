import BankSyncCore
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// Queued rows that cannot be sent (their account has no IBAN) are counted apart from the outbox's waiting
/// rows, and the age of the oldest sendable queued row is a figure an alert can watch.
@Suite struct UnsendableRowsTests {
    @Test func rowsOfAnAccountWithoutIBANAreUnsendableNotWaiting() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let store = fixture.store
            let noIBAN = try await store.upsertAccount(customerID: fixture.account.customerID,
                                                       BankAccount(sourceAccountID: "card-without-iban", currency: "CZK"))
            let window = SyncWindow(from: Day(iso: "2026-11-01")!, to: Day(iso: "2026-11-30")!, isFirstSync: false)
            _ = try await store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                       pages: pages([[booked("2026-11-20", "-10.00"), booked("2026-11-21", "-11.00")]]))
            _ = try await store.ingest(account: AccountRef(id: noIBAN, customerID: fixture.account.customerID), window: window,
                                       sourceIDsAreStable: false,
                                       pages: pages([[booked("2026-11-20", "-1.00"), booked("2026-11-21", "-2.00"), booked("2026-11-22", "-3.00")]]))
            // The sendable rows arrived two days ago, the unsendable ones ten: only the former make the outbox's age.
            try store.connection.execute("""
                UPDATE transactions SET arrived_at = now() - CASE WHEN account_id = $1 THEN interval '10 days' ELSE interval '2 days' END
                """, [noIBAN])

            let customer = try #require(try store.lagReport().first)
            #expect(customer.waitingToPush == 2)
            #expect(customer.unsendable == 3)
            let perAccount = try store.lagReport(perAccount: true)
            #expect(perAccount.map(\.unsendable).sorted() == [0, 3])

            let figures = try store.storedFigures()
            #expect(figures.transactionsQueued == 2)
            #expect(figures.transactionsUnsendable == 3)
            #expect(figures.oldestQueuedSeconds > 2 * 86_400 - 60 && figures.oldestQueuedSeconds < 3 * 86_400,
                    "two days, not the unsendable rows' ten: \(figures.oldestQueuedSeconds)")

            try store.connection.execute("""
                WITH delivered AS (DELETE FROM push_queue WHERE account_id <> $1) UPDATE transactions SET push_state = 'pushed' WHERE account_id <> $1
                """, [noIBAN])
            #expect(try store.storedFigures().oldestQueuedSeconds == 0, "nothing sendable waits")
        }
    }
}
