import Aggregators
import AsyncHTTPClient
import BankSyncCore
import Foundation
import Logging
import Postgres
import Sandbox
import Store
import SyncEngine
import Testing
import TestSupport

/// The Fio banka source against the Fio sandbox and a real database: the 90-day first sync, the authorised deep
/// backfill, daily runs, and each of Fio's refusals with the state it leaves. The interval is short (Fio's 30 s
/// would make the suite slow); the sandbox's own call log is what the rule is checked on.
@Suite struct FioTests {
    static let interval: Duration = .milliseconds(400)
    static let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()

    struct Harness {
        let store: Store
        let fio: FioSandboxState
        let baseURL: String
        let vault: TokenVault
        let today: Day

        /// A Fio customer over a new sandbox account; returns the customer id and its token.
        func addCustomer(historyDays: Int = 730, known: Bool = true, seed: UInt64 = 7) async throws -> (id: Int64, token: String) {
            let token = "tok" + UUID().uuidString.replacingOccurrences(of: "-", with: "") + "X9"
            if known { await fio.addAccount(token: token, accountID: "\(2_000_000_000 + seed)", seed: seed) }
            let id = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-\(token.suffix(12))", source: .fio,
                                           sourceRef: TokenVault.fingerprint(ofToken: token), historyDays: historyDays)
            try store.putSealedSecret(customerID: id, sealed: try vault.seal(token))
            return (id, token)
        }

        func sources() -> SourceFactory {
            SourceFactory(goCardless: nil, fio: FioConfiguration(baseURL: baseURL, minInterval: FioTests.interval), vault: vault)
        }

        func customerSync(_ sources: SourceFactory, today day: Day? = nil) -> CustomerSync {
            CustomerSync(store: store, sources: sources, flowpay: nil, overlapDays: 7, today: day ?? today, logger: Logger(label: "fio-test"))
        }

        /// One sync of `customer`; a deferral (the slot taken) is waited out here, as the run's claim loop does.
        func sync(_ customer: Int64, today day: Day? = nil, waitDeferrals: Bool = true) async throws -> CustomerOutcome {
            let sources = sources()
            var outcome: CustomerOutcome
            repeat {
                let record = try #require(try store.customer(id: customer))
                outcome = await customerSync(sources, today: day).sync(record, runID: try store.startRun(worker: "fio-test").id)
                guard waitDeferrals, let deferral = outcome.deferred, deferral.reason == .slotTaken else { break }
                try await Task.sleep(for: .milliseconds(max(10, Int64(deferral.retryAt.timeIntervalSinceNow * 1_000) + 20)))
            } while true
            await sources.shutdown()
            return outcome
        }

        func count(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
            try store.connection.queryValue(Int.self, sql, parameters)
        }

        /// Every text BankSync wrote about the customer: events, run errors, quarantined rows' reasons.
        func everythingWritten() throws -> String {
            let events = try store.connection.query("SELECT code || ' ' || message FROM sync_events").map { try $0.decode(String.self, at: 0) }
            let runs = try store.connection.query("SELECT coalesce(error, '') FROM sync_runs").map { try $0.decode(String.self, at: 0) }
            let refused = try store.connection.query("SELECT field || ' ' || reason FROM ingest_quarantine").map { try $0.decode(String.self, at: 0) }
            let customers = try store.connection.query("SELECT source_ref || source_config::text FROM customers").map { try $0.decode(String.self, at: 0) }
            return (events + runs + refused + customers).joined(separator: "\n")
        }
    }

    static func with<T>(_ body: (Harness) async throws -> T) async throws -> T {
        try await TestDatabase.with { database in
            let store = Store(connection: try database.connect())
            _ = try await Migrator(migrations: try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))).migrate(store.connection)
            let fio = FioSandboxState(interval: interval, today: TestCalendar.today)
            let (port, server) = try await startServer(router: FioSandbox.router(state: fio), name: "fio-test")
            defer { server.cancel() }
            return try await body(Harness(store: store, fio: fio, baseURL: "http://127.0.0.1:\(port)/v1/rest", vault: try TokenVault(base64: key),
                                          today: TestCalendar.today))
        }
    }

    @Test func theFirstSyncReads90DaysWithBalancesAndSaysHowToGetMore() async throws {
        try await Self.with { h in
            let (customer, token) = try await h.addCustomer()
            let outcome = try await h.sync(customer)
            #expect(outcome.succeeded, "\(String(describing: outcome.problem))")
            let expected = await h.fio.movementCount(token: token, from: h.today.adding(days: -89), to: h.today)
            #expect(expected > 50)
            #expect(try h.count("SELECT count(*) FROM transactions") == expected)
            #expect(try h.count("SELECT count(DISTINCT source_tx_id) FROM transactions") == expected, "column22 is the source id")
            #expect(await h.fio.calls(of: token).count == 1, "one call answers the account, its balances and its movements")
            let iban = try h.store.connection.queryValue(String.self, "SELECT iban FROM accounts")
            #expect(iban == CzechIBAN.from(accountNumber: "2000000007", bankCode: "2010"))
            #expect(try h.count("SELECT count(*) FROM balances WHERE type = 'closingBooked' AND reference_date IN ($1::date, $2::date)",
                                [h.today.description, h.today.adding(days: -90).description]) == 2, "opening and closing balances")
            // A VS stays findable, a card payment abroad keeps its original amount in the raw row.
            #expect(try h.count("SELECT count(*) FROM transactions WHERE remittance LIKE '%VS:20%'") > 0)
            #expect(try h.count("SELECT count(*) FROM transactions WHERE raw->'column18'->>'value' LIKE '% EUR'") > 0)
            #expect(try h.count("SELECT count(*) FROM transactions WHERE counterparty_iban = 'CZ6508000000192000145399'") > 0)
            let short = try h.store.connection.queryValue(String.self, "SELECT message FROM sync_events WHERE code = 'history_short'")
            #expect(short.contains("banksync link --source fio"))
            #expect(try !h.everythingWritten().contains(token))
        }
    }

    @Test func theAuthorisedBackfillThenDailyRunsStoreEveryMovementOnce() async throws {
        try await Self.with { h in
            let (customer, token) = try await h.addCustomer()
            #expect(try await h.sync(customer).succeeded)
            let record = try #require(try h.store.customer(id: customer))
            let sources = h.sources()
            // Without the holder's authorisation Fio answers 422: the backfill stops with history_short's reason.
            await #expect(throws: SourceError.self) {
                _ = try await h.customerSync(sources).fioDeepBackfill(record, days: 730, pieceDays: 366, runID: try h.store.startRun(worker: "t").id)
            }
            #expect(await h.fio.authorise(token: token))
            let backfill = try await h.customerSync(sources).fioDeepBackfill(record, days: 730, pieceDays: 366, runID: try h.store.startRun(worker: "t").id)
            await sources.shutdown()
            #expect(backfill.calls == 2, "730 days in two pieces of 366")
            var expected = await h.fio.movementCount(token: token, from: h.today.adding(days: -730), to: h.today)
            #expect(try h.count("SELECT count(*) FROM transactions") == expected)
            for day in 1...3 {
                let next = h.today.adding(days: day)
                await h.fio.setToday(next)
                let outcome = try await h.sync(customer, today: next)
                #expect(outcome.succeeded)
                expected = await h.fio.movementCount(token: token, from: h.today.adding(days: -730), to: next)
                #expect(try h.count("SELECT count(*) FROM transactions") == expected, "day +\(day)")
            }
            #expect(try h.count("SELECT count(*) - count(DISTINCT source_tx_id) FROM transactions") == 0)
            #expect(try h.count("SELECT count(*) FROM transactions WHERE NOT \(queuedSQL)") == 0,
                    "every movement queued for Flowpay once")
            let gap = try #require(await h.fio.shortestGap(of: token))
            #expect(gap >= Self.interval, "the bank never saw two calls within the interval")
            #expect(await h.fio.calls(of: token).filter { $0.status == 409 }.isEmpty)
        }
    }

    @Test func aConflictIsObeyedAndRetriedAfterTheInterval() async throws {
        try await Self.with { h in
            let (customer, token) = try await h.addCustomer()
            // Another tool of the merchant's uses the token just before us: Fio answers our call 409 (the bank's interval
            // made long enough that our call surely falls inside it).
            await h.fio.setInterval(.seconds(30))
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            // Shut down whatever happens: a client dropped unshut stops the whole test process (AsyncHTTPClient's deinit).
            var otherTool: (any Error)?
            do {
                _ = try await http.execute(HTTPClientRequest(url: "\(h.baseURL)/periods/\(token)/\(h.today)/\(h.today)/transactions.json"),
                                           timeout: .seconds(60))
            } catch { otherTool = error }
            try await http.shutdown()
            if let otherTool { throw otherTool }
            let outcome = try await h.sync(customer, waitDeferrals: false)
            #expect(outcome.deferred?.reason == .conflict)
            #expect(try h.count("SELECT count(*) FROM fio_call_slots WHERE last_status = 409") == 1, "the 409 is recorded on the slot")
            #expect(try h.count("SELECT count(*) FROM sync_events WHERE code = 'rate_limited'") == 1)
            #expect(try h.count("SELECT count(*) FROM transactions") == 0)
            await h.fio.setInterval(Self.interval)
            let retryAt = try #require(outcome.deferred?.retryAt)
            try await Task.sleep(for: .milliseconds(max(0, Int64(retryAt.timeIntervalSinceNow * 1_000)) + 20))
            #expect(try await h.sync(customer).succeeded)
            #expect(try h.count("SELECT count(*) FROM transactions") == (await h.fio.movementCount(token: token, from: h.today.adding(days: -89), to: h.today)))
            #expect(try !h.everythingWritten().contains(token))
        }
    }

    @Test func anUnknownTokenParksTheCustomerWithTheNextStep() async throws {
        try await Self.with { h in
            let (customer, token) = try await h.addCustomer(known: false)
            let outcome = try await h.sync(customer)
            #expect(outcome.problem?.code == "consent_expired")
            #expect(outcome.problem?.message.contains("new read-only token") == true)
            #expect(try h.store.customer(id: customer)?.customer.status == "consent_expired")
            #expect(outcome.problem?.message.contains(token) == false)
            #expect(try !h.everythingWritten().contains(token))
        }
    }

    @Test func aLockedHistoryIsHistoryShortNotAFailure() async throws {
        try await Self.with { h in
            await h.fio.setUnlockedDays(30)   // the bank counts fewer days than we ask for
            let (customer, token) = try await h.addCustomer()
            let outcome = try await h.sync(customer)
            #expect(outcome.succeeded, "a 422 never fails the run")
            let message = try h.store.connection.queryValue(String.self, "SELECT message FROM sync_events WHERE code = 'history_short'")
            #expect(message.contains("banksync link --source fio"))
            #expect(try !h.everythingWritten().contains(token))
        }
    }

    @Test func aTruncatedAnswerStoresNothingAndTheNextRunEverything() async throws {
        try await Self.with { h in
            let (customer, token) = try await h.addCustomer()
            await h.fio.truncateNextAnswer(token: token)
            let outcome = try await h.sync(customer)
            #expect(outcome.problem?.code == "malformed_data")
            #expect(try h.count("SELECT count(*) FROM transactions") == 0)
            #expect(try h.count("SELECT count(*) FROM watermarks WHERE booked_through IS NOT NULL") == 0)
            #expect(try await h.sync(customer).succeeded)
            #expect(try h.count("SELECT count(*) FROM transactions") == (await h.fio.movementCount(token: token, from: h.today.adding(days: -89), to: h.today)))
            #expect(try !h.everythingWritten().contains(token))
        }
    }

    /// A column null in every movement, for each column Fio sends: the date or the amount missing sets the movement
    /// aside (kept raw, `banksync unreadable list`); any other is stored without it. Nothing is lost.
    @Test func aNullColumnInEveryPosition() async throws {
        try await Self.with { h in
            for column in FioSandboxState.columnNumbers {
                await h.fio.setNullColumn(column)
                let (customer, token) = try await h.addCustomer(seed: UInt64(100 + column))
                let outcome = try await h.sync(customer)
                let expected = await h.fio.movementCount(token: token, from: h.today.adding(days: -89), to: h.today)
                let stored = try h.count("SELECT count(*) FROM transactions WHERE customer_id = $1", [customer])
                let setAside = try h.count("SELECT count(*) FROM ingest_quarantine WHERE customer_id = $1", [customer])
                #expect(stored + setAside == expected, "column \(column): nothing lost")
                if column == 0 || column == 1 {
                    #expect(setAside == expected, "column \(column): unreadable without it")
                    #expect(outcome.problem == nil || outcome.problem?.code == "malformed_data")
                } else {
                    #expect(stored == expected, "column \(column): stored without it")
                    #expect(outcome.succeeded, "column \(column): \(String(describing: outcome.problem))")
                }
                #expect(try !h.everythingWritten().contains(token))
            }
        }
    }
}
