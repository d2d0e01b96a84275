import BankSyncCore
import Flowpay
import Foundation
import Postgres
import Sandbox
@testable import Store
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
                    #expect(try fixture.count("\(queuedSQL)", target) == 0)
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

    /// A daily drain (the accounts changed, a few new transactions, the signal) costs 6 round trips: the open batches and
    /// the accounts call read together; the accounts batch recorded; its mark sent with the transactions batch's BEGIN,
    /// lock and rows; the batch and COMMIT; its mark with the signal's attempt counted; the signal marked. The signal
    /// is sent once, counted as attempted once.
    @Test func aDailyDrainIsSixRoundTripsAndCountsTheSignalsAttemptOnce() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 3)
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)
                _ = try await drain.drain(target)   // prepares the session's statements, as a worker's first customer does
                try await fixture.addTransactions(4, accountID: try fixture.accountID(of: target), customerID: target.customerID, salt: "day two")
                try fixture.store.connection.execute("UPDATE balances SET amount_minor = amount_minor + 1 WHERE account_id = $1",
                                                     [try fixture.accountID(of: target)])
                let before = fixture.store.connection.roundTrips
                let outcome = try await drain.drain(target)
                #expect(fixture.store.connection.roundTrips - before == 6)
                #expect(outcome.accountsPushed && outcome.transactionsPushed == 4 && outcome.signalled)
                let attempts = try fixture.store.connection.query("""
                    SELECT attempts, state FROM push_batches WHERE customer_id = $1 AND kind = 'updated' ORDER BY id
                    """, [target.customerID]).map { "\(try $0.decode(Int.self, at: 0)) \(try $0.decode(String.self, at: 1))" }
                #expect(attempts == ["1 sent", "1 sent"])
                let key = target.flowpayCustomerID.uuidString.lowercased()
                let events = await flowpay.state.snapshot().events.filter { $0.customer == key }.map(\.kind)
                #expect(events.suffix(3) == ["bank-accounts", "bank-transactions", "bank-accounts-updated"])
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
                #expect(try fixture.count("\(deliveredSQL)", target) == 1_500)
            }
        }
    }

    /// The push queue (migration 0028) on a database at 0027 holding queued rows, some of them in a batch still being
    /// sent, and delivered ones: after migrating, the unfinished batch finishes with exactly its rows, every other
    /// queued row reaches Flowpay once, delivered rows are not sent again, and the queue ends empty with no row left
    /// 'queued'; rows an older release still stores as 'queued' afterwards are delivered once too.
    @Test func rowsQueuedBeforeThePushQueueAreDeliveredOnceAfterMigrating() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                let store = Store(connection: try database.connect())
                let migrations = try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))
                _ = try await Migrator(migrations: migrations.filter { $0.version <= 27 }).migrate(store.connection)
                let fixture = PushFixture(store: store)
                let connection = fixture.store.connection
                let flowpayID = UUID()
                let customerID = try store.addCustomer(flowpayCustomerID: flowpayID, merchantID: "m-\(flowpayID)", source: .gocardless, sourceRef: "r")
                let accountID = try connection.queryValue(Int64.self, """
                    INSERT INTO accounts (customer_id, source_account_id, iban, iban_key, bic, currency)
                    VALUES ($1, $2, 'CZ6508000000192000145399', 'CZ6508000000192000145399', 'GIBACZPXXXX', 'CZK') RETURNING id
                    """, [customerID, "acc-\(flowpayID)"])
                // Eight rows as the 0027 release stored them: the first two delivered, six queued.
                try connection.execute("""
                    INSERT INTO transactions (account_id, customer_id, tx_key, content_key, status, booking_date, value_date, amount_minor,
                                              currency, counterparty_name, remittance, push_state)
                    SELECT $1, $2, k.key, k.key, 'booked', date '2026-11-25' - i, date '2026-11-25' - i, -1000 - i, 'CZK', 'Shop', 'row ' || i,
                           CASE WHEN i < 2 THEN 'pushed' ELSE 'queued' END
                    FROM generate_series(0, 7) AS i, LATERAL (SELECT sha256(int4send(i)) AS key) k
                    """, [accountID, customerID])
                let ids = try connection.query("SELECT id FROM transactions WHERE customer_id = $1 ORDER BY id", [customerID])
                    .map { try $0.decode(Int64.self, at: 0) }
                // A batch of three queued rows recorded (with its body and row list) but not yet answered.
                let inFlight = Array(ids[2..<5])
                let body = try OutboxDrain.body(try store.batchTransactions(rowIDs: inFlight))
                let open = try connection.queryValue(Int64.self, """
                    INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, row_count, payload, row_ids, attempts)
                    VALUES ($1, 'transactions', 'bsync-transactions-in-flight', '\\x02'::bytea, 3, $2, $3::bigint[], 1) RETURNING id
                    """, [customerID, body, "{" + inFlight.map(String.init).joined(separator: ",") + "}"])

                _ = try await Migrator(migrations: migrations).migrate(connection)
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM push_queue WHERE customer_id = $1", [customerID]) == 6)
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE push_state = 'queued'") == 0)
                #expect(try connection.queryValue(Bool.self, "SELECT to_regclass('transactions_outbox') IS NOT NULL"),
                        "the old index stays, empty: it finds rows an older release stores as 'queued'")

                let target = PushTarget(customerID: customerID, flowpayCustomerID: flowpayID)
                let outcome = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target)
                #expect(outcome.transactionsPushed == 6)
                let snapshot = await flowpay.state.snapshot()
                let received = snapshot.transactions[flowpayID.uuidString.lowercased()] ?? []
                #expect(received.count == 6, "the two rows delivered before the migration are not sent again")
                #expect(Set(received.map(\.id)).count == 6)
                #expect(snapshot.events.filter { $0.kind == "bank-transactions" }.map(\.count) == [3, 3], "the open batch first, as recorded")
                #expect(try connection.queryValue(String.self, "SELECT state FROM push_batches WHERE id = $1", [open]) == "sent")
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM push_queue") == 0)
                #expect(try fixture.count(deliveredSQL, target) == 8)

                // An older release's serve still syncing after the move: it stores two rows as 'queued' and records a
                // batch of one more 'queued' row that it never finishes. Both reach Flowpay once: the loose rows are
                // moved into the queue by the outbox, the batch's row is marked when the batch is delivered.
                try connection.execute("""
                    INSERT INTO transactions (account_id, customer_id, tx_key, content_key, status, booking_date, value_date, amount_minor,
                                              currency, counterparty_name, remittance, push_state)
                    SELECT $1, $2, k.key, k.key, 'booked', date '2026-11-26', date '2026-11-26', -2000 - i, 'CZK', 'Late', 'old release ' || i,
                           'queued'
                    FROM generate_series(10, 12) AS i, LATERAL (SELECT sha256(int4send(i)) AS key) k
                    """, [accountID, customerID])
                let late = try connection.query("SELECT id FROM transactions WHERE customer_id = $1 AND push_state = 'queued' ORDER BY id",
                                                [customerID]).map { try $0.decode(Int64.self, at: 0) }
                let oldBody = try OutboxDrain.body(try store.batchTransactions(rowIDs: [late[2]]))
                try connection.execute("""
                    INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, row_count, payload, row_ids, attempts)
                    VALUES ($1, 'transactions', 'bsync-transactions-old-release', '\\x03'::bytea, 1, $2, $3::bigint[], 1)
                    """, [customerID, oldBody, "{\(late[2])}"])
                for _ in 0..<2 { _ = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target) }
                let after = (await flowpay.state.snapshot()).transactions[flowpayID.uuidString.lowercased()] ?? []
                #expect(after.count == 9 && Set(after.map(\.id)).count == 9, "each of the old release's rows once (\(after.count))")
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE push_state = 'queued'") == 0)
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM push_queue") == 0)
                #expect(try fixture.count(deliveredSQL, target) == 11)
            }
        }
    }

    /// A batch lists its rows (migration 0018) instead of writing its id into each of them; one recorded before
    /// that names its rows in `push_batch_id`. On a database at 0017 holding pushed rows and an unfinished batch,
    /// migrated to 0018: every row reaches Flowpay once, the old batch first with exactly its rows, and no new
    /// batch takes a row an unfinished batch holds.
    @Test func aBatchRecordedBeforeRowListsFinishesThroughItsRows() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                let store = Store(connection: try database.connect())
                let migrations = try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))
                _ = try await Migrator(migrations: migrations.filter { $0.version <= 17 }).migrate(store.connection)
                let fixture = PushFixture(store: store)
                let connection = fixture.store.connection
                // Seven queued rows as the 0017 release stored them (this build's ingest needs this build's schema).
                let flowpayID = UUID()
                let customerID = try store.addCustomer(flowpayCustomerID: flowpayID, merchantID: "m-\(flowpayID)", source: .gocardless, sourceRef: "r")
                // The account too, by SQL: this build's account statement writes the balances' `dated_by` (0024).
                let accountID = try connection.queryValue(Int64.self, """
                    INSERT INTO accounts (customer_id, source_account_id, iban, iban_key, bic, currency)
                    VALUES ($1, $2, 'CZ6508000000192000145399', 'CZ6508000000192000145399', 'GIBACZPXXXX', 'CZK') RETURNING id
                    """, [customerID, "acc-\(flowpayID)"])
                try connection.execute("""
                    INSERT INTO transactions (account_id, customer_id, tx_key, content_key, status, booking_date, value_date, amount_minor,
                                              currency, counterparty_name, remittance, push_state)
                    SELECT $1, $2, k.key, k.key, 'booked', date '2026-11-25' - i, date '2026-11-25' - i, -1000 - i, 'CZK', 'Shop', 'legacy ' || i,
                           'queued'
                    FROM generate_series(0, 6) AS i, LATERAL (SELECT sha256(int4send(i)) AS key) k
                    """, [accountID, customerID])
                let target = PushTarget(customerID: customerID, flowpayCustomerID: flowpayID)
                // Before 0018: two rows already pushed in a sent batch, three in a batch still sending.
                let sent = try connection.queryValue(Int64.self, """
                    INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, row_count, state)
                    VALUES ($1, 'transactions', 'bsync-transactions-sent', '\\x01'::bytea, 2, 'sent') RETURNING id
                    """, [target.customerID])
                try connection.execute("""
                    UPDATE transactions SET push_batch_id = $1, push_state = 'pushed'
                    WHERE id IN (SELECT id FROM transactions WHERE customer_id = $2 ORDER BY id LIMIT 2)
                    """, [sent, target.customerID])
                let legacy = try connection.queryValue(Int64.self, """
                    INSERT INTO push_batches (customer_id, kind, idempotency_key, payload_hash, row_count)
                    VALUES ($1, 'transactions', 'bsync-transactions-legacy', '\\x00'::bytea, 3) RETURNING id
                    """, [target.customerID])
                try connection.execute("""
                    UPDATE transactions SET push_batch_id = $1
                    WHERE id IN (SELECT id FROM transactions WHERE customer_id = $2 ORDER BY id DESC LIMIT 3)
                    """, [legacy, target.customerID])
                _ = try await Migrator(migrations: migrations).migrate(connection)
                let outcome = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target)
                #expect(outcome.transactionsPushed == 5)
                let snapshot = await flowpay.state.snapshot()
                let received = snapshot.transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(received.count == 5, "the two rows pushed before the migration are not sent again")
                #expect(Set(received.map(\.id)).count == 5)
                #expect(snapshot.events.filter { $0.kind == "bank-transactions" }.map(\.count) == [3, 2])
                #expect(try fixture.count("\(deliveredSQL)", target) == 7)
                #expect(try connection.queryValue(String.self, "SELECT state FROM push_batches WHERE id = $1", [legacy]) == "sent")
            }
        }
    }

    /// Recording a batch writes nothing into its rows, so two recorders of one customer (a sync and a
    /// `banksync push`) must not both take a row. Each recorder, once it has read its rows, waits (up to a
    /// second) for the other to have read its own: without the outbox lock both read the same first rows.
    @Test func concurrentRecordersNeverTakeTheSameRow() async throws {
        try await TestDatabase.with { database in
            var fixture = try await PushFixture.make(database)
            let target = try await fixture.addCustomer(transactions: 300)
            let stores = [fixture.store, Store(connection: try database.connect())]
            let arrived = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, store) in stores.enumerated() {
                    group.addTask {
                        try await withBlockingIOExecutor("recorder-\(index)") {
                            _ = try await store.recordTransactionBatch(customerID: target.customerID, limit: 100) { _ in
                                arrived[index].signal()
                                _ = arrived[1 - index].wait(timeout: .now() + 1)
                                return Array("[]".utf8)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let held = try fixture.store.connection.query("""
                SELECT unnest(row_ids) FROM push_batches WHERE customer_id = $1 AND kind = 'transactions'
                """, [target.customerID]).map { try $0.decode(Int64.self, at: 0) }
            #expect(held.count == 200)
            #expect(Set(held).count == 200, "no row in two batches")
            #expect(try fixture.count("\(queuedSQL) AND push_batch_id IS NULL", target) == 300, "recording writes no row")
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
