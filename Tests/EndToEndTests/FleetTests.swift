import BankSyncCore
import Foundation
import Sandbox
import Testing
import TestSupport

/// The fleet sandbox (`sandbox --fleet`) and a fleet's lifetime at small scale: registered in bulk, backfilled,
/// synced again the same day, a day later; Flowpay ends with every booked transaction exactly once, and no
/// account is asked for more than GoCardless's daily budget allows.
@Suite struct FleetTests {
    @Test func theSameSeedGivesTheSameFleet() {
        let one = SandboxFleet(size: 50, seed: 7), again = SandboxFleet(size: 50, seed: 7), other = SandboxFleet(size: 50, seed: 8)
        let day = TestCalendar.today
        for index in [0, 9, 31, 49] {
            #expect(one.customer(index) == again.customer(index))
            #expect(one.bookedTransactions(ofCustomer: index, from: day.adding(days: -200), today: day)
                    == again.bookedTransactions(ofCustomer: index, from: day.adding(days: -200), today: day))
        }
        #expect((0..<50).map(one.customer) != (0..<50).map(other.customer), "another seed, another fleet")
        #expect((0..<50).filter { one.customer($0).source == "berlingroup" }.count == 5, "every tenth on the Berlin Group bank")
    }

    @Test func aFleetOf200SyncedTwiceAndADayLaterHoldsEveryBookingOnceWithinBudget() async throws {
        let fleet = SandboxFleet(size: 200, seed: 42, accounts: 1...2, historyDays: 90...100)
        try await EndToEnd.with { e2e in
            await e2e.goCardless.enableFleet(fleet, latencyMilliseconds: 0)
            await e2e.berlinGroup.enableFleet(fleet)
            let csv = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(UUID().uuidString).csv")
            defer { try? FileManager.default.removeItem(at: csv) }
            try fleet.writeCSV(to: csv.path, bankURL: e2e.berlinGroupURL)
            let imported = try await e2e.run(["customers", "import", csv.path])
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stdout.contains("imported 200 customer(s)"))
            #expect(try await e2e.run(["customers", "import", csv.path]).stdout.contains("200 already registered"), "an import is repeatable")

            let day1 = e2e.today
            let backfill = try await e2e.run(["sync", "--concurrency", "8"], on: day1)
            #expect(backfill.status == 0, "\(backfill.stdout.suffix(2_000))")
            let again = try await e2e.run(["sync", "--concurrency", "8", "--min-interval", "0"], on: day1)
            #expect(again.status == 0, "\(again.stdout.suffix(2_000))")
            #expect(again.stdout.contains("0 new transactions"), "\(again.stdout.suffix(300))")
            let sameDay = await e2e.goCardless.stats()
            #expect(sameDay["overBudgetRefusals"] == 0, "two syncs on one day stay within every account's budget")

            let day2 = day1.adding(days: 1)
            let daily = try await e2e.run(["sync", "--concurrency", "8", "--min-interval", "0"], on: day2)
            #expect(daily.status == 0, "\(daily.stdout.suffix(2_000))")
            let accounts = try e2e.connect().queryValue(Int.self, """
                SELECT count(*) FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE c.source = 'gocardless' AND a.active
                """)
            let rateLimited = await e2e.goCardless.rateLimitedCalls(on: day2)
            #expect(rateLimited <= 2 * accounts + accounts / 10, "a daily run: balances and transactions, details now and then (\(rateLimited) for \(accounts))")

            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(stored == received && received == distinct, "stored \(stored), received \(received), distinct \(distinct)")
            let expected = (0..<fleet.size).reduce(0) { total, index in
                total + fleet.bookedTransactions(ofCustomer: index, from: day1.adding(days: -fleet.customer(index).historyDays), today: day2)
            }
            #expect(stored == expected, "every booking the banks show, once (stored \(stored), the banks show \(expected))")
        }
    }

    /// A GoCardless customer's accounts are read side by side: their balances at once, and their daily
    /// transaction windows fetched ahead while the accounts before them are stored — a customer waits for the
    /// aggregator about twice, not twice per account. The sandbox counts the most calls it answered at once, per
    /// endpoint; a slow bank (400 ms a call) keeps calls made together overlapping, while calls made one after
    /// another never overlap, so the counts say which it was.
    @Test func aCustomersAccountsAreReadSideBySideAndStoredOnce() async throws {
        let fleet = SandboxFleet(size: 1, seed: 11, accounts: 4...4, historyDays: 90...90, berlinGroupEvery: 0)
        try await EndToEnd.with { e2e in
            #expect(try await e2e.registerFleet(fleet).status == 0)
            let first = try await e2e.run(["sync"])
            #expect(first.status == 0, "\(first.stdout.suffix(2_000))")
            _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(#"""
                {"responseDelayMilliseconds": 400, "resetMostAtOnce": true}
                """#.utf8)))
            let daily = try await e2e.run(["sync", "--min-interval", "0"])
            #expect(daily.status == 0, "\(daily.stdout.suffix(2_000))")
            let stats = await e2e.goCardless.stats()
            // An account whose details are due for their monthly refresh (spread by account) reads them before its
            // balances: three or four balances calls at once, never one after another.
            #expect((stats["mostAtOnce.balances"] ?? 0) >= 3, "the accounts' balances at once (\(stats))")
            // One of four accounts may be due for its deep re-read today (spread by account): read in its turn.
            #expect((stats["mostAtOnce.transactions"] ?? 0) >= 3, "the daily windows fetched side by side (\(stats))")
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(stored > 0 && stored == received && received == distinct, "stored \(stored), received \(received), distinct \(distinct)")
        }
    }

    @Test func anAccountOutOfBudgetIsSkippedWithItsReasonNotHammered() async throws {
        let fleet = SandboxFleet(size: 3, seed: 5, accounts: 1...1, historyDays: 90...90, berlinGroupEvery: 0)
        try await EndToEnd.with { e2e in
            #expect(try await e2e.registerFleet(fleet).status == 0)
            #expect(try await e2e.run(["sync"]).status == 0)
            // The first customer's account has spent its transactions budget for today elsewhere.
            let account = await e2e.goCardless.requisitionAccounts("fleet-req-0")
            let spent = try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data("""
                {"budgetAccount":"\(try #require(account.first))","budgetScope":"transactions","budgetRemaining":0}
                """.utf8))
            _ = await e2e.goCardless.apply(spent)
            for _ in 0..<3 {
                let run = try await e2e.run(["sync", "--min-interval", "0"])
                #expect(run.status == 1, "the skipped account makes the run partial")
            }
            #expect(await e2e.goCardless.stats()["overBudgetRefusals"] == 1, "asked once, refused, not asked again today")
            let lag = try await e2e.run(["lag", "--format", "json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(lag.stdout.utf8)) as? [[String: Any]])
            let skipped = try #require(rows.first { $0["merchantId"] as? String == "fleet-0" })
            #expect(skipped["status"] as? String == "rate_limited", "\(skipped)")
            #expect(rows.filter { $0["status"] as? String == "ok" }.count == 2, "the others are synced")
        }
    }
}

extension EndToEnd {
    /// The GoCardless sandbox serves `fleet` (no latency), and its customers are registered with `customers import`.
    func registerFleet(_ fleet: SandboxFleet) async throws -> BankSyncProcess.Outcome {
        await goCardless.enableFleet(fleet, latencyMilliseconds: 0)
        let csv = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: csv) }
        try fleet.writeCSV(to: csv.path, bankURL: berlinGroupURL)
        return try await run(["customers", "import", csv.path])
    }
}
