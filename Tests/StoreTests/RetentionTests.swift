import BankSyncCore
import Store
import Testing
import TestSupport

@Suite struct RetentionTests {
    @Test func pruneDeletesOnlyPushedRowsOlderThanHistoryPlusOverlap() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let today = Day(iso: "2026-11-25")!
            let window = SyncWindow(from: today.adding(days: -900), to: today, isFirstSync: true)
            // history 730 + overlap 7: the cut-off is 737 days back.
            let rows = (0..<25).map { booked(today.adding(days: -745 + $0).description, "-1.00") }
                + [booked(today.adding(days: -800).description, "-2.00")]
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([rows]))
            // Everything is pushed except the oldest row, which must survive until it is.
            try fixture.store.connection.execute("""
                WITH delivered AS (DELETE FROM push_queue q USING transactions t
                                   WHERE t.amount_minor = -100 AND q.customer_id = t.customer_id AND q.transaction_id = t.id)
                UPDATE transactions SET push_state = 'pushed' WHERE amount_minor = -100
                """)

            let deleted = try fixture.store.prune(today: today, batchSize: 3)
            #expect(deleted == 8)   // days −745 … −738
            #expect(try fixture.count("booking_date < '2026-11-25'::date - 737 AND \(deliveredSQL)") == 0)
            #expect(try fixture.count("amount_minor = -200") == 1)
            #expect(try fixture.count() == 18)
            #expect(try fixture.store.prune(today: today) == 0)
        }
    }
}
