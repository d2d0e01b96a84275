import BankSyncCore
import Foundation
import Sandbox
import Store
import Testing
import TestSupport

/// `banksync push` killed with SIGKILL at a random instant, then restarted to finish, 32 times over: after every
/// finish Flowpay holds every transaction exactly once, and no batch was ever sent under two different idempotency keys.
@Suite struct CrashSafetyTests {
    @Test func killedPushProcessesNeverLoseOrDuplicate() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                var accounts: [(PushTarget, Int64)] = []
                for _ in 0..<3 {
                    let target = try await fixture.addCustomer(transactions: 1_200)
                    accounts.append((target, try fixture.accountID(of: target)))
                }
                // Slow every partner call so kills land before, during and after requests: a kill during the
                // delay leaves a batch the sandbox may accept while its sender never learns it did.
                try await flowpay.inject(#"{"delayMilliseconds":60,"count":100000}"#)
                let environment = flowpay.environment(databaseURL: database.connectionString)
                var generator = SystemRandomNumberGenerator()
                var snapshot = await flowpay.state.snapshot()
                for run in 0..<32 {
                    // New data arrives before every crash, so every kill has work to interrupt.
                    for (target, accountID) in accounts {
                        try await fixture.addTransactions(Int.random(in: 1...700, using: &generator), accountID: accountID,
                                                          customerID: target.customerID, salt: "run \(run)")
                    }
                    let requestsBefore = snapshot.requests.count
                    let (process, out, err) = try BankSyncProcess.start(["push"], environment: environment)
                    if run % 2 == 0 {
                        // Anywhere from start-up on: before the token, while batches are recorded, mid-request.
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...600, using: &generator)))
                    } else {
                        // Once this process is talking to Flowpay (however slow its start-up on a busy machine),
                        // so that a share of the kills lands with a batch in flight.
                        let deadline = ContinuousClock.now + .seconds(10)
                        while await flowpay.state.snapshot().requests.count == requestsBefore, ContinuousClock.now < deadline, process.isRunning {
                            try await Task.sleep(for: .milliseconds(5))
                        }
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...150, using: &generator)))
                    }
                    kill(process.processIdentifier, SIGKILL)
                    _ = await BankSyncProcess.finish(process, out, err)

                    // Restart and finish: after every crash, Flowpay holds every transaction exactly once.
                    let finish = try await BankSyncProcess.run(["push"], environment: environment)
                    #expect(finish.status == 0, "run \(run): \(finish.stderr)")
                    snapshot = await flowpay.state.snapshot()
                    for (target, _) in accounts {
                        let received = snapshot.transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                        #expect(received.count == (try fixture.count("status = 'booked'", target)), "run \(run): every transaction once")
                        #expect(Set(received.map(\.id)).count == received.count, "run \(run): no transaction twice")
                        #expect(try fixture.count("(push_state <> 'pushed' OR \(queuedSQL))", target) == 0, "run \(run): nothing left unpushed")
                        let events = snapshot.events.filter { $0.customer == target.flowpayCustomerID.uuidString.lowercased() }
                        #expect(events.last?.kind == "bank-accounts-updated", "run \(run): the signal comes after the data")
                    }
                }
                for (target, _) in accounts {
                    // A transaction id never appears under two keys: batches were never re-formed.
                    var keyOfTransaction: [String: String] = [:]
                    for transaction in snapshot.transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? [] {
                        if let key = keyOfTransaction[transaction.id] { #expect(key == transaction.idempotencyKey) }
                        keyOfTransaction[transaction.id] = transaction.idempotencyKey
                    }
                }
                #expect(!snapshot.requests.contains { $0.status == 422 }, "no idempotency key reused for another body")
                // The kills did land mid-request: some batches were resent after a crash (same key, replayed).
                let requestsPerKey = Dictionary(grouping: snapshot.requests.compactMap(\.idempotencyKey), by: { $0 }).mapValues(\.count)
                let resent = requestsPerKey.values.filter { $0 > 1 }.count
                print("crash safety: \(snapshot.requests.count) requests, \(resent) batches resent after a kill")
                #expect(resent > 0)
                #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM push_batches WHERE state = 'sending'") == 0)
            }
        }
    }

    /// The same, with Flowpay refusing a few rows of every delivery: `push` and `push --requeue-rejected` are
    /// killed at random instants while batches are being split and requeued. After every finish each row Flowpay
    /// accepts is there exactly once and the refused ones are quarantined; once Flowpay accepts them, a requeue
    /// delivers them, exactly once.
    @Test func killedWhileBisectingAndRequeueingNeverLosesOrDuplicates() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 1_000)
                let accountID = try fixture.accountID(of: target)
                try await flowpay.inject(#"{"delayMilliseconds":40,"count":100000}"#)
                let environment = flowpay.environment(databaseURL: database.connectionString)
                var generator = SystemRandomNumberGenerator()
                var refused: Set<String> = []
                for run in 0..<12 {
                    try await fixture.addTransactions(Int.random(in: 300...900, using: &generator), accountID: accountID,
                                                      customerID: target.customerID, salt: "bisect \(run)")
                    let fresh = try fixture.store.connection.query("""
                        SELECT flowpay_id FROM transactions WHERE customer_id = $1 AND \(queuedSQL) ORDER BY random() LIMIT 3
                        """, [target.customerID]).map { try $0.decode(String.self, at: 0) }
                    refused.formUnion(fresh)
                    let fixed = run % 4 == 3
                    if fixed { refused = [] }
                    await flowpay.state.refuse(refused, logref: "lr-bisect")
                    let arguments = run % 2 == 0 ? ["push"] : ["push", "--requeue-rejected"]
                    let (process, out, err) = try BankSyncProcess.start(arguments, environment: environment)
                    try await Task.sleep(for: .milliseconds(Int.random(in: 100...900, using: &generator)))
                    kill(process.processIdentifier, SIGKILL)
                    _ = await BankSyncProcess.finish(process, out, err)

                    let finish = try await BankSyncProcess.run(fixed ? ["push", "--requeue-rejected"] : ["push"], environment: environment)
                    #expect(finish.status == 0 || finish.status == 1, "run \(run): \(finish.stderr)")
                    let received = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                    let ids = Set(received.map(\.id))
                    #expect(ids.count == received.count, "run \(run): no transaction twice")
                    #expect(ids.isDisjoint(with: refused), "run \(run): a refused row never counts as delivered")
                    #expect(try fixture.count("\(deliveredSQL)", target) == received.count, "run \(run): pushed means received")
                    #expect(try fixture.count("push_state = 'quarantined'", target) == refused.count, "run \(run): refused rows quarantined")
                    #expect(try fixture.count("\(queuedSQL)", target) == 0, "run \(run): nothing stranded in the outbox")
                }
                #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM push_batches WHERE state = 'sending'") == 0)
            }
        }
    }
}
