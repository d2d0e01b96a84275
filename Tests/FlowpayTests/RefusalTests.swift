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

    /// A batch of 1,000 refused for three rows: the three are cut out, quarantined with Flowpay's answer; the
    /// other 2,342 delivered in the same drain, each once.
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
                #expect(outcome.rejected.count == 2, "one refusal per batch: the rows each answer named are quarantined together")
                #expect(!outcome.signalled, "no bank-accounts-updated in a run that left data behind")
                let received = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(received.count == 2_345 - 4)
                #expect(Set(received.map(\.id)).count == received.count)
                #expect(Set(received.map(\.id)).isDisjoint(with: refused))
                #expect(try fixture.count("push_state = 'quarantined'", target) == 4)
                #expect(try fixture.count("\(queuedSQL)", target) == 0)
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

    /// Flowpay refuses the customer (a service not activated, an IBAN it does not know for it): its answer
    /// names no row. Whatever the batch size, that costs at most 2 requests (the accounts call and one
    /// transactions batch), nothing is quarantined, the batch is parked with Flowpay's reason (an interruption
    /// naming it), and other customers carry on; once Flowpay accepts the customer, everything arrives once.
    @Test(arguments: [1, 3, 2_345])
    func aCustomerLevelRefusalCostsAtMostTwoRequests(rows: Int) async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: rows)
                let other = try await fixture.addCustomer(transactions: 2)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                await flowpay.state.refuseCustomer(target.flowpayCustomerID, because: "customer: service not activated", logref: "lr-customer")
                let outcome = try await drain.drain(target)
                #expect(outcome.customerRefused && !outcome.signalled && outcome.transactionsPushed == 0)
                let requests = await flowpay.state.snapshot().requests
                #expect(requests.count <= 2, "the accounts call and one batch: \(requests.map { "\($0.path) \($0.status)" })")
                #expect(requests.filter { $0.path.hasSuffix("/bank-transactions") }.count == 1)
                #expect(try fixture.count("push_state = 'quarantined'", target) == 0, "no row is to blame")
                #expect(try fixture.store.connection.queryValue(Int.self,
                    "SELECT count(*) FROM push_batches WHERE kind = 'transactions' AND state = 'parked' AND logref = 'lr-customer'") == 1)
                let interruption = try #require(try fixture.store.interruptions().first { $0.reason == "batch_parked" })
                #expect(interruption.customers.first?.message.contains("service not activated") == true, "names Flowpay's reason: \(interruption.customers)")
                #expect(try await drain.drain(other).transactionsPushed == 2, "other customers carry on")

                await flowpay.state.acceptCustomer(target.flowpayCustomerID)
                _ = try await fixture.store.requeueRejected(customerID: target.customerID)
                let again = try await drain.drain(target)
                #expect(again.transactionsPushed == rows && again.signalled)
                let all = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(all.count == rows && Set(all.map(\.id)).count == rows)
            }
        }
    }

    /// Flowpay's answer names the refused rows (by position and JSON pointer, or by id): the batch is cut exactly
    /// there, no bisecting. Three bad rows in the first batch of 1,000 and one in the second cost two requests
    /// per batch: the refused whole, then the rest in one request.
    @Test(arguments: [false, true])
    func rowsTheAnswerNamesAreCutOutInOneStep(namingIDs: Bool) async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 2_345)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                var accounts = OutboxDrain.Outcome()
                try await drain.pushAccountsIfChanged(target, runID: nil, outcome: &accounts)
                let refused = Set(try fixture.store.connection.query("""
                    SELECT flowpay_id FROM transactions WHERE customer_id = $1 AND id IN (
                        SELECT id FROM transactions WHERE customer_id = $1 ORDER BY id OFFSET 7 LIMIT 3)
                       OR id = (SELECT id FROM transactions WHERE customer_id = $1 ORDER BY id OFFSET 1500 LIMIT 1)
                    """, [target.customerID]).map { try $0.decode(String.self, at: 0) })
                #expect(refused.count == 4)
                await flowpay.state.refuse(refused, logref: "lr-named", namingIDs: namingIDs)
                let outcome = try await drain.drain(target)
                let posts = await flowpay.state.snapshot().requests.filter { $0.path.hasSuffix("/bank-transactions") }
                #expect(posts.map(\.status) == [422, 200, 422, 200, 200], "each batch refused once, then its rest in one request")
                #expect(outcome.transactionsPushed == 2_341 && !outcome.customerRefused)
                #expect(try fixture.count("push_state = 'quarantined'", target) == 4)
                let quarantined = Set(try fixture.store.connection.query(
                    "SELECT flowpay_id FROM transactions WHERE customer_id = $1 AND push_state = 'quarantined'", [target.customerID])
                    .map { try $0.decode(String.self, at: 0) })
                #expect(quarantined == refused, "exactly the rows the answer named")
                let received = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(received.count == 2_341 && Set(received.map(\.id)).isDisjoint(with: refused))
            }
        }
    }

    /// An answer that cannot say which rows (a 413, about the body's size) is bisected: the halves go out and
    /// are accepted, nothing is quarantined or parked.
    @Test func anUndecidedRefusalIsBisected() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 8)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                var accounts = OutboxDrain.Outcome()
                try await drain.pushAccountsIfChanged(target, runID: nil, outcome: &accounts)
                await flowpay.state.inject(.init(status: 413, retryAfter: nil, delayMilliseconds: nil, drop: nil, count: 1, logref: "lr-size"))
                let outcome = try await drain.drain(target)
                let posts = await flowpay.state.snapshot().requests.filter { $0.path.hasSuffix("/bank-transactions") }
                #expect(posts.map(\.status) == [413, 200, 200])
                #expect(outcome.transactionsPushed == 8 && !outcome.customerRefused)
                #expect(try fixture.count("push_state = 'quarantined'", target) == 0)
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
