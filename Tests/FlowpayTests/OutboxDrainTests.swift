import BankSyncCore
import Flowpay
import Foundation
import Sandbox
import Store
@testable import SyncEngine
import Testing
import TestSupport

@Suite struct OutboxDrainTests {
    @Test func everyQueuedTransactionArrivesOnceAndTheSignalComesLast() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let big = try await fixture.addCustomer(transactions: 2_345)
                let small = try await fixture.addCustomer(transactions: 3)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                for target in [big, small] {
                    let outcome = try await drain.drain(target)
                    #expect(outcome.accountsPushed)
                    #expect(outcome.signalled)
                    #expect(outcome.rejected.isEmpty)
                }
                let snapshot = await flowpay.state.snapshot()
                for (target, expected) in [(big, 2_345), (small, 3)] {
                    let key = target.flowpayCustomerID.uuidString.lowercased()
                    let received = snapshot.transactions[key] ?? []
                    #expect(received.count == expected)
                    #expect(Set(received.map(\.id)).count == expected)
                    let events = snapshot.events.filter { $0.customer == key }.map(\.kind)
                    #expect(events.first == "bank-accounts")
                    #expect(events.last == "bank-accounts-updated")
                    #expect(events.filter { $0 == "bank-accounts-updated" }.count == 1)
                    #expect(try fixture.count("push_state = 'queued'", target) == 0)
                }
                #expect(snapshot.events.filter { $0.kind == "bank-transactions" }.map(\.count) == [1000, 1000, 345, 3])
                #expect(snapshot.tokenRequests == 1, "one token for every call")
                // Amounts keep exactly the currency's digits.
                #expect(snapshot.transactions[small.flowpayCustomerID.uuidString.lowercased()]?.contains { $0.amount.hasPrefix("-") && $0.amount.hasSuffix(".01") } == true)

                // Nothing new: no transactions, no signal, no request at all.
                let requestsBefore = snapshot.requests.count
                for target in [big, small] {
                    let again = try await drain.drain(target)
                    #expect(again == OutboxDrain.Outcome())
                }
                #expect(await flowpay.state.snapshot().requests.count == requestsBefore)
            }
        }
    }

    @Test func aRevokedTokenIsRefreshedOnce() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 5)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                _ = try await drain.drain(target)
                await flowpay.state.revokeTokens()
                try await fixture.addTransactions(4, accountID: try fixture.accountID(of: target), customerID: target.customerID, salt: "second")
                let outcome = try await drain.drain(target)
                #expect(outcome.transactionsPushed == 4)
                let snapshot = await flowpay.state.snapshot()
                #expect(snapshot.tokenRequests == 2)
                #expect(snapshot.requests.filter { $0.status == 401 }.count == 1)
            }
        }
    }

    @Test func throttlingServerErrorsAndDroppedConnectionsAreRetriedToSuccess() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 1_500)
                try await flowpay.inject(#"{"status":429,"retryAfter":"1","count":1}"#)
                try await flowpay.inject(#"{"status":500,"count":2}"#)
                try await flowpay.inject(#"{"drop":true,"count":1}"#)
                try await flowpay.inject(#"{"status":503,"count":1}"#)
                let started = ContinuousClock.now
                let outcome = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target)
                #expect(started.duration(to: .now) >= .seconds(1), "Retry-After was honoured")
                #expect(outcome.transactionsPushed == 1_500)
                #expect(outcome.signalled)
                let snapshot = await flowpay.state.snapshot()
                #expect(snapshot.transactions[target.flowpayCustomerID.uuidString.lowercased()]?.count == 1_500)
                #expect(snapshot.requests.map(\.status).filter { $0 >= 400 } == [429, 500, 500, 500, 503])
                #expect(try fixture.count("push_state = 'pushed'", target) == 1_500)
            }
        }
    }
}

extension OutboxDrain {
    /// Test helper: push only the accounts call of a customer.
    func pushAccountsOnly(_ target: PushTarget) async throws -> Outcome {
        var outcome = Outcome()
        try await pushAccountsIfChanged(target, runID: nil, outcome: &outcome)
        return outcome
    }
}
