import BankSyncCore
import Foundation
import Postgres
import Store
import Testing
import TestSupport

@Suite struct ClaimTests {
    /// A priority sync asked while the customer is being synced (a webhook, a new consent) is not cleared by
    /// that sync: its data may postdate what the sync read, so the customer is due again at once.
    @Test func aPriorityAskedDuringASyncStaysPending() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let store = fixture.store
            let dueBefore = Date().addingTimeInterval(-3600)
            let claim = try #require(try await store.claimNext(dueBefore: dueBefore, lease: .seconds(60), worker: "test"))
            try await Task.sleep(for: .milliseconds(20))
            try store.connection.execute("UPDATE customers SET priority_sync_at = now() WHERE id = $1", [claim.customerID])
            try store.markSynced(customerID: claim.customerID)
            try store.release(claim)
            let again = try await store.claimNext(dueBefore: dueBefore, lease: .seconds(60), worker: "test")
            #expect(again?.customerID == claim.customerID, "still due for the priority asked mid-sync")
            try store.markSynced(customerID: claim.customerID)
            try store.release(try #require(again))
            #expect(try await store.claimNext(dueBefore: dueBefore, lease: .seconds(60), worker: "test") == nil, "and then done")
        }
    }

    /// The usual claim (the first due customer without a lease, its lock free) is one statement; one whose lock another
    /// session holds (a `banksync push`) is passed over, and the claiming session ends up holding exactly the lock of
    /// the customer it claimed — the key the statement computes is `customerLockKey`'s, so `release` frees it.
    @Test func theUsualClaimIsOneRoundTripAndTakesOnlyItsCustomersLock() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let store = fixture.store
            let second = try await IngestFixture.another(store).account.customerID
            let third = try await IngestFixture.another(store).account.customerID
            // The claim order: the longest unsynced first.
            for (offset, id) in [fixture.account.customerID, second, third].enumerated() {
                try store.connection.execute("UPDATE customers SET last_sync_at = now() - make_interval(days => $2) WHERE id = $1",
                                             [id, 30 - offset])
            }
            let pusher = Store(connection: try database.connect())
            defer { pusher.connection.close() }
            #expect(try pusher.tryLockCustomer(fixture.account.customerID))
            let dueBefore = Date().addingTimeInterval(-3600)
            let locks = "SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 ORDER BY objid"
            // Passed over: the first customer's lock is held elsewhere; no lock of it is left behind here.
            let claimed = try #require(try await store.claimNext(dueBefore: dueBefore, lease: .seconds(60), worker: "test"))
            #expect(claimed.customerID == second && claimed.record?.customer.id == second)
            let held = try pusher.connection.query(locks, [store.connection.backendPID]).map {
                [try $0.decode(Int64.self, at: 0), try $0.decode(Int64.self, at: 1)]
            }
            #expect(held == [[0x4253, second]], "\(held)")
            try store.release(claimed)
            #expect(try pusher.connection.query(locks, [store.connection.backendPID]).rowCount == 0, "released")
            // The lock is free now: the next claim is one statement.
            try pusher.unlockCustomer(fixture.account.customerID)
            let before = store.connection.roundTrips
            let next = try #require(try await store.claimNext(dueBefore: dueBefore, lease: .seconds(60), worker: "test"))
            #expect(store.connection.roundTrips - before == 1)
            #expect(next.customerID == fixture.account.customerID)
            #expect(try pusher.connection.query(locks, [store.connection.backendPID]).rowCount == 1)
            #expect(try pusher.connection.queryValue(String?.self, "SELECT leased_by FROM customers WHERE id = $1", [next.customerID]) == "test")
        }
    }
}
