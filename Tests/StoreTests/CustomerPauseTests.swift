import Foundation
import Store
import Testing
import TestSupport

/// An approver pauses a customer in the ops console: no sync claims it, `lag` says `paused`; resumed, it is due again.
@Suite struct CustomerPauseTests {
    @Test func aPausedCustomerIsNeitherClaimedNorCountedAndLagSaysPaused() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let store = fixture.store
            let flowpayID = try #require(try store.customer(id: fixture.account.customerID)).customer.flowpayCustomerID
            let change = try await store.setCustomerPaused(flowpayCustomerID: flowpayID, paused: true, by: "alice", reason: "closing")
            #expect(change.before == "not paused" && change.after == "paused (closing)")
            #expect(try await store.claimNext(dueBefore: Date(), lease: .seconds(60), worker: "test") == nil)
            #expect(try store.claimableCount(dueBefore: Date()) == 0)
            _ = try store.requestPrioritySync(flowpayCustomerID: flowpayID, by: "alice")
            #expect(try store.claimableCount(dueBefore: Date(), priorityOnly: true) == 0, "a priority sync does not wake a paused customer")
            #expect(try store.lagReport().first { $0.flowpayCustomerID == flowpayID }?.status == "paused")
            // One customer's row alone (the console's customer page) is that customer's row of the whole report.
            _ = try await IngestFixture.another(store)
            let alone = try store.lagReport(flowpayCustomerID: flowpayID)
            #expect(try store.lagReport().count == 2 && alone.count == 1)
            #expect(alone.first?.merchantID == (try store.lagReport().first { $0.flowpayCustomerID == flowpayID })?.merchantID && alone.first?.status == "paused")

            _ = try await store.setCustomerPaused(flowpayCustomerID: flowpayID, paused: false, by: "alice", reason: "open after all")
            #expect(try store.lagReport().first { $0.flowpayCustomerID == flowpayID }?.status != "paused")
            #expect(try store.claimableCount(dueBefore: Date(), only: flowpayID) == 1)
        }
    }
}
