import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

@Suite struct SyncRunTests {
    @Test func twoWorkersStartedTogetherSyncEachCustomerOnce() async throws {
        try await EndToEnd.with { e2e in
            let customers = try await e2e.addGoCardlessCustomers(8)
            async let first = e2e.run(["sync", "--concurrency", "2"])
            async let second = e2e.run(["sync", "--concurrency", "2"])
            let outcomes = try await [first, second]
            for outcome in outcomes { #expect(outcome.status == 0, "\(outcome.stderr)") }
            let connection = try e2e.connect()
            defer { connection.close() }
            // Each customer synced by exactly one of the two runs.
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'synced'") == customers.count)
            #expect(try connection.queryValue(Int.self, "SELECT count(DISTINCT customer_id) FROM sync_events WHERE code = 'synced'") == customers.count)
            let totals = outcomes.map { $0.stdout }.joined()
            #expect(totals.contains("sync run"))
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(stored > 1000)
            #expect(received == stored)
            #expect(distinct == stored)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE \(queuedSQL)") == 0)
            // A second run finds nothing new and pushes nothing, and says why.
            let again = try await e2e.run(["sync"])
            #expect(again.status == 0)
            #expect(again.stdout.contains("0 new transactions, 0 pushed"))
            #expect(again.stdout.contains("8 customers not due (synced within --min-interval 1h); --min-interval 0 syncs them now"),
                    "\(again.stdout)")
            #expect(try connection.queryValue(Int.self, "SELECT (counts->>'notDue')::int FROM sync_runs ORDER BY id DESC LIMIT 1") == 8)
        }
    }

    @Test func aWorkerKilledMidRunIsCompletedByTheNextRun() async throws {
        try await EndToEnd.with { e2e in
            _ = try await e2e.addGoCardlessCustomers(10, accountsEach: 2)
            // Slow Flowpay down so the kill lands while work is in flight.
            await e2e.flowpay.inject(.init(status: nil, retryAfter: nil, delayMilliseconds: 40, drop: nil, count: 100_000, logref: nil))
            let connection = try e2e.connect()
            defer { connection.close() }
            let (process, out, err) = try BankSyncProcess.start(["sync", "--concurrency", "3"], environment: e2e.environment)
            // Kill once work is under way (however slow the machine), at a random point after that.
            for _ in 0..<2400 where try connection.queryValue(Int.self, "SELECT count(*) FROM transactions") == 0 {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...600)))
            kill(process.processIdentifier, SIGKILL)
            _ = await BankSyncProcess.finish(process, out, err)
            let pushedBefore = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE \(deliveredSQL)")
            let storedBefore = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'")
            #expect(storedBefore > 0, "the kill came after some work")
            #expect(pushedBefore < storedBefore || storedBefore < 10_000, "…and before all of it")

            let next = try await e2e.run(["sync", "--concurrency", "3"])
            #expect(next.status == 0, "\(next.stderr)")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE \(queuedSQL)") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM push_batches WHERE state = 'sending'") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM watermarks WHERE booked_through IS NULL") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id WHERE w.account_id IS NULL") == 0,
                    "every account synced")
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(received == stored)
            #expect(distinct == stored)
        }
    }

    @Test func badArgumentsExitTwoWithOneLine() async throws {
        try await EndToEnd.with { e2e in
            let empty = try await e2e.run(["sync"])
            #expect(empty.status == 0)
            #expect(empty.stdout.contains("no customers are registered yet"), "\(empty.stdout)")
            let badHistory = try await e2e.run(["customers", "add", "--flowpay-id", UUID().uuidString, "--merchant-id", "x",
                                                "--source", "gocardless", "--requisition", "r", "--history-days", "60"])
            #expect(badHistory.status == 2)
            #expect(badHistory.stderr.contains("--history-days: 60 is outside 90…730"))
            let badSource = try await e2e.run(["customers", "add", "--flowpay-id", UUID().uuidString, "--merchant-id", "x", "--source", "plaid"])
            #expect(badSource.status == 2)
            #expect(badSource.stderr.contains("unknown source 'plaid'"))
            var environment = e2e.environment
            environment["FLOWPAY_ENV"] = "staging"
            let badEnv = try await BankSyncProcess.run(["sync"], environment: environment)
            #expect(badEnv.status == 2)
            #expect(badEnv.stderr.contains("FLOWPAY_ENV"))
            environment = e2e.environment
            environment["DATABASE_URL"] = "host=127.0.0.1 port=1 dbname=x connect_timeout=2"
            #expect(try await BankSyncProcess.run(["sync"], environment: environment).status == 3)
        }
    }
}
