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
            #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE \(deliveredSQL)") == 6)
        }
    }

    /// Delivery leaves the `transactions` row alone (migration 0028): a row is written once, by its ingest; Flowpay's
    /// 2xx deletes its push-queue row. Its tuple (ctid, xmin) is the one the ingest wrote, and the queue is empty.
    @Test func aDeliveredRowIsNeverWrittenAgain() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let store = fixture.store
            let customer = fixture.account.customerID
            let today = Day(iso: "2026-11-25")!
            let window = SyncWindow(from: today.adding(days: -30), to: today, isFirstSync: true)
            _ = try await store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                       pages: pages([(0..<5).map { booked(today.adding(days: -$0).description, "-1.00") }]))
            func tuples() throws -> [String] {
                try store.connection.query("SELECT id::text || ' ' || ctid::text || ' ' || xmin::text FROM transactions ORDER BY id")
                    .map { try $0.decode(String.self, at: 0) }
            }
            let written = try tuples()
            #expect(written.count == 5)
            #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM push_queue WHERE customer_id = $1", [customer]) == 5)
            #expect(try fixture.count(queuedSQL) == 5)

            let batch = try #require(try await store.recordTransactionBatch(customerID: customer, limit: 10) { rows in Array("\(rows.count)".utf8) })
            #expect(batch.rowCount == 5)
            try store.markSent(batch)

            #expect(try tuples() == written, "no row was updated: same tuple, same writing transaction")
            #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM push_queue") == 0)
            #expect(try fixture.count(deliveredSQL) == 5)
            #expect(try store.storedFigures().transactionsQueued == 0)
            #expect(try store.storedFigures().transactionsPushed == 5)
            #expect(try await store.recordTransactionBatch(customerID: customer, limit: 10) { _ in [] } == nil, "nothing left to send")
        }
    }
}
