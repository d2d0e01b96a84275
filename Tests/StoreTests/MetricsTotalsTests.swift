import BankSyncCore
import Store
import Testing
import TestSupport

/// `/metrics` reads running totals instead of counting `transactions`; they must match a count at every step.
@Suite struct MetricsTotalsTests {
    @Test func totalsFollowIngestPushAndPrune() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let other = try await IngestFixture.another(fixture.store, accountName: "second")
            let store = fixture.store
            let today = Day(iso: "2026-11-25")!
            let window = SyncWindow(from: today.adding(days: -900), to: today, isFirstSync: true)
            func expectTotalsMatchACount() throws {
                let figures = try store.storedFigures()
                let counted = try store.connection.query("""
                    SELECT count(*) FILTER (WHERE status = 'booked'), count(*) FILTER (WHERE \(deliveredSQL)),
                           count(*) FILTER (WHERE \(queuedSQL))
                    FROM transactions
                    """)[0]
                #expect(figures.transactionsStored == (try counted.decode(Int.self, at: 0)))
                #expect(figures.transactionsPushed == (try counted.decode(Int.self, at: 1)))
                #expect(figures.transactionsQueued == (try counted.decode(Int.self, at: 2)))
            }

            var pending = booked(today.description, "-9.00", "card hold")
            pending.status = .pending
            let old = (0..<6).map { booked(today.adding(days: -760 + $0).description, "-1.00") }
            let recent = (0..<4).map { booked(today.adding(days: -$0).description, "-2.00") }
            _ = try await store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                       pages: pages([old + [pending], recent]))
            _ = try await store.ingest(account: other.account, window: window, sourceIDsAreStable: false, pages: pages([recent]))
            try expectTotalsMatchACount()
            #expect(try store.storedFigures().transactionsStored == 14)

            // A refetch adds nothing; the pending row books (the hold disappears, its booking arrives).
            _ = try await store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                       pages: pages([old + recent + [booked(today.description, "-9.00", "card hold")]]))
            try expectTotalsMatchACount()

            let batch = try #require(try await store.recordTransactionBatch(customerID: fixture.account.customerID, limit: 8) { rows in Array("\(rows.count) rows".utf8) })
            try store.markSent(batch)
            try expectTotalsMatchACount()
            #expect(try store.storedFigures().transactionsPushed == 8)

            #expect(try store.prune(today: today, batchSize: 2) > 0)
            try expectTotalsMatchACount()
        }
    }
}
