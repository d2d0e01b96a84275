import BankSyncCore
import Flowpay
import Foundation
import Sandbox
import Store
@testable import SyncEngine
import Testing
import TestSupport

/// What Flowpay refuses never strands what it would accept, and one failing batch never blocks the rest.
@Suite struct RefusalTests {
    /// A batch is split once: a second splitter of the same refused batch (two drains of one customer, which its
    /// lock normally prevents) records no second pair of halves under new keys.
    @Test func aRefusedBatchIsSplitOnlyOnce() async throws {
        try await TestDatabase.with { database in
            var fixture = try await PushFixture.make(database)
            let target = try await fixture.addCustomer(transactions: 6)
            let batch = try #require(try await fixture.store.recordTransactionBatch(customerID: target.customerID, limit: 100,
                                                                                   encode: OutboxDrain.body))
            let halves = try await fixture.store.splitBatch(batch, encode: OutboxDrain.body)
            #expect(halves.map(\.rowCount) == [3, 3])
            let again = try await fixture.store.splitBatch(batch, encode: OutboxDrain.body)
            #expect(again.isEmpty)
            #expect(try fixture.store.connection.queryValue(Int.self, """
                SELECT count(*) FROM push_batches WHERE customer_id = $1 AND kind = 'transactions' AND state = 'sending'
                """, [target.customerID]) == 2)
        }
    }

    /// Rows refused on an account the consent no longer reports (inactive) still show in `banksync lag`, with
    /// the customer "rejected", per customer and per account; the account's freshness does not count.
    @Test func refusedRowsOfAnAccountNoLongerReportedStillShowInLag() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 5)
                let refused = try fixture.store.connection.queryValue(String.self,
                    "SELECT flowpay_id FROM transactions WHERE customer_id = $1 ORDER BY id LIMIT 1", [target.customerID])
                await flowpay.state.refuse([refused], logref: "lr-gone")
                let outcome = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target)
                #expect(outcome.rejected.count == 1)
                try fixture.store.connection.execute("UPDATE accounts SET active = false WHERE customer_id = $1", [target.customerID])
                let customer = try #require(try fixture.store.lagReport().first { $0.flowpayCustomerID == target.flowpayCustomerID })
                #expect(customer.quarantined == 1)
                #expect(customer.status == "rejected")
                #expect(customer.accounts == 0, "no account of the current consent")
                let perAccount = try fixture.store.lagReport(perAccount: true).filter { $0.flowpayCustomerID == target.flowpayCustomerID }
                #expect(perAccount.map(\.quarantined) == [1])
                #expect(perAccount.map(\.lagSeconds) == [0], "not lagging: `lag --accounts --sla` raises no alarm for it")
            }
        }
    }

    /// A batch of 1,000 refused for three rows: split until the three are alone, quarantined with Flowpay's
    /// answer; the other 2,342 delivered in the same drain, each once.
    @Test func refusedRowsAreIsolatedAndEverythingElseDelivered() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 2_345)
                let refused = Set(try fixture.store.connection.query("""
                    SELECT flowpay_id FROM transactions WHERE customer_id = $1 ORDER BY id OFFSET 7 LIMIT 3
                    """, [target.customerID]).map { try $0.decode(String.self, at: 0) }
                    + [try fixture.store.connection.queryValue(String.self,
                        "SELECT flowpay_id FROM transactions WHERE customer_id = $1 ORDER BY id OFFSET 1500 LIMIT 1", [target.customerID])])
                await flowpay.state.refuse(refused, logref: "lr-refused")
                let outcome = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target)
                #expect(outcome.rejected.count == 4)
                #expect(!outcome.signalled, "no bank-accounts-updated in a run that left data behind")
                let received = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(received.count == 2_345 - 4)
                #expect(Set(received.map(\.id)).count == received.count)
                #expect(Set(received.map(\.id)).isDisjoint(with: refused))
                #expect(try fixture.count("push_state = 'quarantined'", target) == 4)
                #expect(try fixture.count("push_state = 'queued'", target) == 0)
                #expect(try fixture.store.connection.queryValue(Int.self,
                    "SELECT count(*) FROM push_quarantine WHERE resolved_at IS NULL AND logref = 'lr-refused' AND http_status = 422") == 4)
                #expect(try fixture.store.lagReport().first?.quarantined == 4)

                // Fixed on Flowpay's side: requeued, delivered, and the signal follows.
                await flowpay.state.refuse([])
                let resolution = try await fixture.store.requeueRejected(customerID: target.customerID)
                #expect(resolution.rowsRequeued == 4)
                let again = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target)
                #expect(again.transactionsPushed == 4)
                #expect(again.signalled)
                let all = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(all.count == 2_345 && Set(all.map(\.id)).count == 2_345)
                #expect(try fixture.store.lagReport().first?.quarantined == 0)
                #expect(try fixture.store.interruptions().isEmpty)
            }
        }
    }

    /// Flowpay refuses a whole batch, both its halves and both quarters of the first half the same way (an
    /// unknown customer, a service not yet activated): not a row's problem. The parts are parked after five
    /// requests instead of bisecting to single rows, nothing is quarantined, the drain stops for the run; once
    /// requeued, all arrive once.
    @Test func aRefusalOfEveryPartIsParkedNotBisectedToRows() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 2_345)
                let other = try await fixture.addCustomer(transactions: 2)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                var accounts = OutboxDrain.Outcome()
                try await drain.pushAccountsIfChanged(target, runID: nil, outcome: &accounts)
                await flowpay.state.inject(.init(status: 422, retryAfter: nil, delayMilliseconds: nil, drop: nil, count: 5, logref: "lr-customer"))
                let outcome = try await drain.drain(target)
                #expect(outcome.customerRefused && outcome.rejected == ["lr-customer"] && !outcome.signalled)
                #expect(outcome.transactionsPushed == 0)
                #expect(try fixture.count("push_state = 'quarantined'", target) == 0, "no row is to blame")
                #expect(try fixture.store.connection.queryValue(Int.self,
                    "SELECT sum(row_count) FROM push_batches WHERE state = 'parked' AND logref = 'lr-customer'") == 1_000)
                #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM push_batches WHERE state = 'parked'") == 3)
                #expect(try fixture.store.interruptions().isEmpty == false, "parked batches are an interruption")
                #expect(await flowpay.state.snapshot().requests.filter { $0.status == 422 }.count == 5, "the whole, its halves, two quarters")
                #expect(try await drain.drain(other).transactionsPushed == 2, "other customers carry on")

                let resolution = try await fixture.store.requeueRejected(customerID: target.customerID)
                #expect(resolution.batchesReopened == 3)
                let again = try await drain.drain(target)
                #expect(again.transactionsPushed == 2_345 && again.signalled)
                let all = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(all.count == 2_345 && Set(all.map(\.id)).count == 2_345)
            }
        }
    }

    /// A split cuts the refused batch's own body: an account that lost its IBAN since does not stop it, and
    /// every row goes out exactly as first recorded.
    @Test func aSplitNeedsNothingRebuilt() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 40)
                let refused = try fixture.store.connection.queryValue(String.self,
                    "SELECT flowpay_id FROM transactions WHERE customer_id = $1 ORDER BY id OFFSET 5 LIMIT 1", [target.customerID])
                let batch = try #require(try await fixture.store.recordTransactionBatch(customerID: target.customerID, limit: 1_000,
                                                                                        encode: OutboxDrain.body))
                try fixture.store.connection.execute("UPDATE accounts SET iban = NULL WHERE customer_id = $1", [target.customerID])
                await flowpay.state.refuse([refused], logref: "lr-row")
                var outcome = OutboxDrain.Outcome()
                try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).send(batch, target, runID: nil, outcome: &outcome)
                #expect(outcome.transactionsPushed == 39)
                #expect(try fixture.count("push_state = 'quarantined'", target) == 1)
                let received = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(received.count == 39 && received.allSatisfy { !$0.iban.isEmpty }, "sent as first recorded, with the IBAN")
            }
        }
    }

    /// Dropped by ops: never sent, the reason recorded, no longer an interruption.
    @Test func droppedRowsAreRecordedAndNeverSent() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 10)
                let refused = try fixture.store.connection.queryValue(String.self,
                    "SELECT flowpay_id FROM transactions WHERE customer_id = $1 ORDER BY id LIMIT 1", [target.customerID])
                await flowpay.state.refuse([refused])
                _ = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target)
                #expect(try fixture.store.interruptions().map(\.reason) == ["rejected"])
                let dropped = try await fixture.store.dropRejected(customerID: target.customerID, reason: "test account closed")
                #expect(dropped.rowsDropped == 1)
                #expect(try fixture.store.interruptions().isEmpty, "given up by ops: no longer an interruption")
                #expect(try await fixture.store.requeueRejected(customerID: target.customerID).rowsRequeued == 0)
                #expect(try fixture.count("push_state = 'dropped'", target) == 1)
            }
        }
    }

    /// A 403 (a permission not yet propagated) is not a verdict on the data: nothing quarantined or rejected,
    /// everything delivered by the next drain.
    @Test func aForbiddenAnswerIsRetriedNextRunNotQuarantined() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 1_200)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                _ = try await drain.drain(target)   // accounts and the first data out
                try await fixture.addTransactions(30, accountID: try fixture.accountID(of: target), customerID: target.customerID, salt: "later")
                await flowpay.state.inject(.init(status: 403, retryAfter: nil, delayMilliseconds: nil, drop: nil, count: 1, logref: "lr-403"))
                await #expect(throws: FlowpayError.self) { try await drain.drain(target) }
                #expect(try fixture.count("push_state = 'quarantined'", target) == 0)
                #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM push_batches WHERE state IN ('rejected', 'parked')") == 0)
                let next = try await drain.drain(target)
                #expect(next.transactionsPushed == 30)
                let received = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(received.count == 1_230 && Set(received.map(\.id)).count == 1_230)
            }
        }
    }

    /// A batch that fails in every run (a deterministic 500) is parked after the bounded number of runs; the
    /// batches after it flow; reopened by ops, it goes out under its own key.
    @Test func aBatchFailingEveryRunIsParkedAndTheRestFlows() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 5)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client, parkAfterRuns: 2)
                // Accounts go out, then every request fails for good (6 attempts per call).
                await flowpay.state.inject(.init(status: nil, retryAfter: nil, delayMilliseconds: nil, drop: nil, count: 1, logref: nil))
                for _ in 0..<2 {
                    await flowpay.state.inject(.init(status: 500, retryAfter: nil, delayMilliseconds: nil, drop: nil, count: 6, logref: nil))
                    await #expect(throws: FlowpayError.self) { try await drain.drain(target) }
                }
                try await fixture.addTransactions(7, accountID: try fixture.accountID(of: target), customerID: target.customerID, salt: "after")
                let third = try await drain.drain(target)
                #expect(third.transactionsPushed == 7, "the batch after the parked one flows")
                #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM push_batches WHERE state = 'parked'") == 1)
                #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'batch_parked'") == 1)
                #expect(try await fixture.store.requeueRejected(customerID: target.customerID).batchesReopened == 1)
                let fourth = try await drain.drain(target)
                #expect(fourth.transactionsPushed == 5)
                let received = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(received.count == 12 && Set(received.map(\.id)).count == 12)
            }
        }
    }

    /// A signal already attempted (its answer lost with a killed worker) never absorbs later data: it is
    /// superseded and a new signal, under a new key, tells Flowpay about the data sent after it.
    @Test func anAttemptedSignalIsSupersededByLaterData() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 3)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                _ = try await drain.drain(target)
                // A signal that was sent once but whose answer never came back (the worker died): still open.
                try fixture.store.connection.execute("""
                    INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, attempts)
                    VALUES ($1, 'updated', 'bsync-updated-attempted', '\\x'::bytea, 1)
                    """, [target.customerID])
                try await fixture.addTransactions(4, accountID: try fixture.accountID(of: target), customerID: target.customerID, salt: "later")
                let outcome = try await drain.drain(target)
                #expect(outcome.transactionsPushed == 4)
                #expect(outcome.signalled)
                let signals = await flowpay.state.snapshot().events.filter { $0.kind == "bank-accounts-updated" }
                #expect(signals.count == 2)
                #expect(signals.last?.idempotencyKey != "bsync-updated-attempted", "a new key, so Flowpay processes it")
                #expect(try fixture.store.connection.queryValue(String.self,
                    "SELECT state FROM push_batches WHERE idempotency_key = 'bsync-updated-attempted'") == "superseded")
            }
        }
    }
}
