import BankSyncCore
import Store
import Testing
import TestSupport

/// `markSent` marks a batch, its rows and the signal it owes in one statement: the signal it returns is the one the
/// customer owes afterwards — a new one only when none never attempted is waiting.
@Suite struct MarkSentTests {
    @Test func aSentBatchOwesOneSignalAndAnAttemptedSignalIsSuperseded() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let store = fixture.store
            let customer = fixture.account.customerID
            let today = Day(iso: "2026-11-25")!
            let window = SyncWindow(from: today.adding(days: -30), to: today, isFirstSync: true)
            func openSignals() throws -> [PushBatch] { try store.openBatches(customerID: customer).filter { $0.kind == .updated } }
            func nextBatch() async throws -> PushBatch {
                try #require(try await store.recordTransactionBatch(customerID: customer, limit: 2) { rows in Array("\(rows.count) rows".utf8) })
            }
            _ = try await store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                       pages: pages([(0..<6).map { booked(today.adding(days: -$0).description, "-1.00") }]))

            let first = try #require(try store.markSent(try await nextBatch()), "the first batch sent records the signal")
            #expect(try openSignals() == [first])
            #expect(try store.markSent(try await nextBatch()) == nil, "a signal never attempted absorbs the next batch")
            #expect(try openSignals() == [first])

            try store.noteAttempt(batchID: first.id)
            let second = try #require(try store.markSent(try await nextBatch()), "an attempted signal is superseded by a new one")
            #expect(second.id != first.id && second.attempts == 0)
            #expect(try openSignals().map(\.id) == [second.id])
            #expect(try store.connection.queryValue(String.self, "SELECT state FROM push_batches WHERE id = $1", [first.id]) == "superseded")
            #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE push_state = 'pushed'") == 6)
        }
    }
}
