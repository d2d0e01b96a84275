import BankSyncCore
import Foundation
import Postgres
import Store
import Testing
import TestSupport

@Suite struct IngestTests {
    let window = SyncWindow(from: Day(iso: "2026-11-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: true)

    @Test func identicalTwinsStayTwoAndARefetchQueuesNothing() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let day = [booked("2026-11-24", "-89.00"), booked("2026-11-24", "-89.00"), booked("2026-11-24", "-120.00")]
            let first = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([day]))
            #expect(first.newBooked == 3)
            #expect(try fixture.count("\(queuedSQL)") == 3)
            // Same data, split differently across pages and reordered.
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                       pages: pages([[day[2]], [day[1], day[0]]]))
            #expect(again.newBooked == 0)
            #expect(again.duplicates == 3)
            // A third identical coffee that shows up later is new.
            let third = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                       pages: pages([day + [day[0]]]))
            #expect(third.newBooked == 1)
            #expect(try fixture.count() == 4)
            #expect(try fixture.store.bookedThrough(accountID: fixture.account.id) == window.to)
        }
    }

    @Test func pendingIsStoredNeverQueuedAndRemovedWhenItBooks() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            var pending = booked("2026-11-24", "-500.00", "rent", id: "p-1")
            pending.status = .pending
            let first = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([[pending]]))
            #expect(first.newPending == 1)
            #expect(try fixture.count("status = 'pending' AND push_state IS NULL") == 1)
            let bookedRent = booked("2026-11-25", "-500.00", "rent", id: "b-1")
            let second = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([[bookedRent]]))
            #expect(second.newBooked == 1)
            #expect(second.pendingRemoved == 1)
            #expect(try fixture.count("status = 'pending'") == 0)
            #expect(try fixture.count("\(queuedSQL)") == 1)
        }
    }

    @Test func stableIDsDedupEvenWhenTheTextChanges() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                               pages: pages([[booked("2026-11-20", "-10.00", "first text", id: "tx-1")]]))
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                       pages: pages([[booked("2026-11-20", "-10.00", "bank rewrote the text", id: "tx-1")]]))
            #expect(again.newBooked == 0)
            #expect(try fixture.count() == 1)
        }
    }

    /// Rows outside the requested days: stored when their key does not depend on the window (a stable id),
    /// dropped and counted when it would (a fingerprint's ordinal needs its whole day); never twice.
    @Test func rowsOutsideTheWindowAreStoredOnlyWithStableIDs() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                        pages: pages([[booked("2026-10-31", "-1.00"), booked("2026-11-01", "-1.00")]]))
            #expect(result.outsideWindow == 1 && result.outsideWindowDropped == 1)
            #expect(result.newBooked == 1)
            let stable = [booked("2026-10-30", "-2.00", id: "early"), booked("2026-11-02", "-2.00", id: "inside")]
            let first = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([stable]))
            #expect(first.outsideWindow == 1 && first.outsideWindowDropped == 0)
            #expect(first.newBooked == 2)
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([stable]))
            #expect(again.newBooked == 0 && again.duplicates == 2)
        }
    }

    /// Keys stored before migration 0007 were computed in SQL; the client-side key must be byte-identical,
    /// or a refetch after the upgrade would push every fingerprinted transaction again.
    @Test func theClientOrdinalKeyMatchesTheSQLKeyOfEarlierReleases() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let fingerprint = DedupKey.fingerprint(booked("2026-11-24", "-89.00"))
            for ordinal: Int32 in [1, 2, 255, 256, 65_537, Int32.max] {
                let sqlKey = try fixture.store.connection.queryValue([UInt8].self,
                    "SELECT sha256($1::bytea || int4send($2::integer))", [fingerprint, ordinal])
                #expect(sqlKey == DedupKey.withOrdinal(fingerprint, ordinal: ordinal))
            }
            let coffee = booked("2026-11-24", "-89.00")
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([[coffee, coffee]]))
            let keys = Set(try fixture.store.connection.query("SELECT tx_key FROM transactions WHERE account_id = $1", [fixture.account.id])
                .map { try $0.decode([UInt8].self, at: 0) })
            #expect(keys == [DedupKey.withOrdinal(fingerprint, ordinal: 1), DedupKey.withOrdinal(fingerprint, ordinal: 2)])
        }
    }

    /// Windows larger than one probe chunk: twins and repeated stable ids that straddle chunk boundaries,
    /// on a first sync (no probes) and on refetches (probes see the earlier chunks' rows).
    @Test func windowsSpanningManyChunksKeepEveryTransactionOnce() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let size = 2_600
            let twins = (0..<size).map { booked("2026-11-\(10 + $0 % 10)", "-\($0 % 7).00", "chunked") }
            let first = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                       pages: pages([twins]))
            #expect(first.newBooked == size)
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                       pages: pages([Array(twins.reversed())]))
            #expect(again.newBooked == 0)
            #expect(again.duplicates == size)
            #expect(try fixture.count() == size)

            let other = try await IngestFixture.another(fixture.store, accountName: "stable")
            // Every id twice, the repeat a whole chunk later; half of them new on the second fetch.
            let ids = (0..<1_500).map { booked("2026-11-20", "-1.00", "id", id: "s-\($0)") }
            let repeated = try await other.store.ingest(account: other.account, window: window, sourceIDsAreStable: true,
                                                        pages: pages([Array(ids[..<750]), ids, Array(ids[750...])]))
            #expect(repeated.newBooked == 1_500)
            #expect(repeated.duplicates == 1_500)
            let more = (1_500..<3_000).map { booked("2026-11-21", "-2.00", "id", id: "s-\($0)") }
            let second = try await other.store.ingest(account: other.account, window: window, sourceIDsAreStable: true,
                                                      pages: pages([more + ids]))
            #expect(second.newBooked == 1_500)
            #expect(second.duplicates == 1_500)
            #expect(try other.count() == 3_000)
        }
    }

    @Test func aSourceFailingMidwayLeavesTheAccountAsItWas() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                               pages: pages([[booked("2026-11-02", "-1.00")]]))
            let before = try fixture.store.bookedThrough(accountID: fixture.account.id)
            let later = SyncWindow(from: window.from, to: window.to.adding(days: 3), isFirstSync: false)
            await #expect(throws: PagesError.self) {
                try await fixture.store.ingest(account: fixture.account, window: later, sourceIDsAreStable: false,
                                               pages: pages([[booked("2026-11-26", "-2.00")], [booked("2026-11-27", "-3.00")]], failingAfter: 1))
            }
            #expect(try fixture.count() == 1)
            #expect(try fixture.store.bookedThrough(accountID: fixture.account.id) == before)
        }
    }

    @Test func aMalformedRowFailsTheWholeWindow() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            var broken = booked("2026-11-03", "-1.00")
            broken.rawJSON = "{not json"
            await #expect(throws: PostgresError.self) {
                try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                               pages: pages([[booked("2026-11-02", "-1.00"), broken]]))
            }
            #expect(try fixture.count() == 0)
            #expect(try fixture.store.bookedThrough(accountID: fixture.account.id) == nil)
            // The same connection carries on.
            let ok = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                    pages: pages([[booked("2026-11-02", "-1.00")]]))
            #expect(ok.newBooked == 1)
        }
    }

    @Test func aDroppedConnectionMidwayLeavesNothing() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let observer = try database.connect()
            let victim = fixture.store.connection.backendPID
            // The server session dies while the ingest is streaming its second page (COPY already running).
            let stream = PagesThatKill(pages: [[booked("2026-11-02", "-1.00"), booked("2026-11-03", "-2.00")],
                                               [booked("2026-11-04", "-3.00")]],
                                       killBeforePage: 1) {
                _ = try? observer.execute("SELECT pg_terminate_backend($1)", [victim])
                try? await Task.sleep(for: .milliseconds(100))
            }
            await #expect(throws: PostgresError.self) {
                try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: stream)
            }
            #expect(try observer.queryValue(Int.self, "SELECT count(*) FROM transactions") == 0)
            #expect(try observer.queryValue(Int.self, "SELECT count(*) FROM watermarks") == 0)
        }
    }
}

/// Pages that run `kill` just before handing out page `killBeforePage`.
struct PagesThatKill: AsyncSequence {
    typealias Element = [BankTransaction]
    let pages: [[BankTransaction]]
    let killBeforePage: Int
    let kill: () async -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        let source: PagesThatKill
        var index = 0
        mutating func next() async throws -> [BankTransaction]? {
            guard index < source.pages.count else { return nil }
            if index == source.killBeforePage { await source.kill() }
            defer { index += 1 }
            return source.pages[index]
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: self) }
}
