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
}
