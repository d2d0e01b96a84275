import Aggregators
import BankSyncCore
import Foundation
import Logging
import Postgres
import Sandbox
import Store
import SyncEngine
import Testing
import TestSupport

/// A connector's failures as the sync engine records them, against the real database.
@Suite struct CustomerSyncTests: CustomerSyncing {
    func count(_ store: Store, _ sql: String, _ parameters: [any PostgresEncodable]) throws -> Int {
        try store.connection.queryValue(Int.self, sql, parameters)
    }

    @Test func anAccountOutOfBudgetIsSkippedWithItsReason() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m1", source: .gocardless, sourceRef: "sandbox-req-1")
                let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
                try await peers.goCardlessControl(#"{"budgetAccount": "\#(accounts[0])", "budgetScope": "transactions", "budgetRemaining": 0}"#)
                let outcome = try await sync(store, peers, customer)
                #expect(outcome.problem?.code == "rate_limited")
                #expect(outcome.accountsSkipped == 1)
                let skipped = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[0]])
                let other = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[1]])
                #expect(try count(store, "SELECT count(*) FROM transactions WHERE account_id = $1", [skipped]) == 0)
                #expect(try count(store, "SELECT count(*) FROM transactions WHERE account_id = $1", [other]) > 500)
                #expect(try count(store, "SELECT count(*) FROM sync_events WHERE account_id = $1 AND code = 'rate_limited'", [skipped]) == 1)
                #expect(try store.bookedThrough(accountID: skipped) == nil)
                #expect(try store.bookedThrough(accountID: other) == today)
            }
        }
    }

    /// A reconciliation verdict goes with the next statement; one the database refuses does not fail the statement it
    /// rode with or the sync: every account is stored, and the refusal is recorded per account (`reconciliation_failed`)
    /// once the session is idle. Once the database takes verdicts again, the next sync stores them.
    @Test func aVerdictTheDatabaseRefusesIsRecordedAndTheSyncGoesOn() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-verdict", source: .gocardless, sourceRef: "sandbox-req-1")
                try store.connection.executeScript("""
                    CREATE FUNCTION refuse_verdict() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'verdicts refused'; END $$;
                    CREATE TRIGGER refuse_verdict BEFORE INSERT OR UPDATE ON account_reconciliation FOR EACH ROW EXECUTE FUNCTION refuse_verdict();
                    """)
                let outcome = try await sync(store, peers, customer)
                #expect(outcome.succeeded, "\(String(describing: outcome.problem))")
                let accounts = try count(store, "SELECT count(*) FROM accounts WHERE customer_id = $1", [customer])
                #expect(accounts >= 2)
                #expect(try count(store, "SELECT count(*) FROM accounts a WHERE a.customer_id = $1 AND NOT EXISTS "
                                    + "(SELECT 1 FROM transactions t WHERE t.account_id = a.id)", [customer]) == 0, "every account stored")
                #expect(try count(store, "SELECT count(*) FROM sync_events WHERE customer_id = $1 AND code = 'reconciliation_failed' "
                                    + "AND message LIKE '%verdicts refused%'", [customer]) == accounts)
                #expect(try count(store, "SELECT count(*) FROM account_reconciliation", []) == 0)
                try store.connection.executeScript("DROP TRIGGER refuse_verdict ON account_reconciliation")
                #expect(try await sync(store, peers, customer).succeeded)
                #expect(try count(store, "SELECT count(*) FROM account_reconciliation", []) == accounts)
            }
        }
    }

    /// A consent that lapsed longer than the history allowed (200 days without a read, 90 days allowed): the
    /// renewed window cannot reach back to the day after the last one read, and the 109 days in between are
    /// recorded for the account — in `lag` and as an interruption — instead of being skipped in silence.
    @Test func aLapseLongerThanTheAllowedHistoryIsRecordedAsAGap() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-gap", source: .gocardless, sourceRef: "sandbox-req-1")
                #expect(try await sync(store, peers, customer).succeeded)
                let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
                let lapsed = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[0]])
                let other = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[1]])
                try store.connection.execute("UPDATE customers SET history_days = 90 WHERE id = $1", [customer])
                try store.connection.execute("UPDATE watermarks SET booked_through = $2 WHERE account_id = $1", [lapsed, today.adding(days: -200)])

                #expect(try await sync(store, peers, customer).succeeded)
                #expect(try store.connection.queryValue(Int64?.self, "SELECT gap_days FROM watermarks WHERE account_id = $1", [lapsed]) == 109)
                #expect(try store.connection.queryValue(String.self, "SELECT last_gap_from || ' ' || last_gap_to FROM watermarks WHERE account_id = $1",
                                                        [lapsed]) == "\(today.adding(days: -199)) \(today.adding(days: -91))")
                #expect(try store.connection.queryValue(Int64?.self, "SELECT gap_days FROM watermarks WHERE account_id = $1", [other]) == nil)
                let lag = try #require(try store.lagReport().first { $0.merchantID == "m-gap" })
                #expect(lag.gapDays == 109 && lag.status == "history_gap")
                let gap = try #require(try store.interruptions().first { $0.reason == "history_gap" })
                #expect(gap.customers.first?.message.contains("109 day(s) never read") == true, "\(gap.customers)")

                // The next run reads from the new watermark: no further gap.
                #expect(try await sync(store, peers, customer).succeeded)
                #expect(try store.connection.queryValue(Int64?.self, "SELECT gap_days FROM watermarks WHERE account_id = $1", [lapsed]) == 109)
            }
        }
    }

    /// A bank that lists fewer days than asked (here: nothing before ten days ago, while the window after a lapse
    /// starts 37 days back): the bookings stored for the days read again did not come back, so the days between the
    /// last day read before and the oldest booking listed are recorded as a gap, with an event saying why.
    @Test func aBankListingLessThanAskedLeavesARecordedGap() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-less", source: .gocardless, sourceRef: "sandbox-req-1")
                #expect(try await sync(store, peers, customer).succeeded)
                let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
                let short = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[0]])
                let other = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[1]])
                try store.connection.execute("UPDATE watermarks SET booked_through = $2 WHERE account_id IN ($1, $3)",
                                             [short, today.adding(days: -30), other])
                try await peers.goCardlessControl(#"{"ledgerAccount": "\#(accounts[0])", "ledger": {"listsFrom": "\#(today.adding(days: -10))"}}"#)

                #expect(try await sync(store, peers, customer).succeeded)
                let gap = try store.connection.queryValue(String.self, "SELECT last_gap_from || ' ' || last_gap_to FROM watermarks WHERE account_id = $1", [short])
                let parts = gap.split(separator: " ").compactMap { Day(iso: String($0)) }
                #expect(parts.first == today.adding(days: -29), "\(gap)")
                #expect(parts.last.map { $0 >= today.adding(days: -11) && $0 < today } == true, "\(gap)")
                #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE account_id = $1 AND code = 'history_gap' AND message LIKE '%never listed%'", [short]) == 1)
                // The account whose bank listed everything it was asked for has no gap.
                #expect(try store.connection.queryValue(Int64?.self, "SELECT gap_days FROM watermarks WHERE account_id = $1", [other]) == nil)
                let lag = try #require(try store.lagReport().first { $0.merchantID == "m-less" })
                #expect(lag.gapDays > 0 && lag.status == "history_gap", "\(lag)")
            }
        }
    }

    /// A deep read ops asked for in the console (`watermarks.deep_read_from`): the next sync's window reaches back to
    /// that day once — rows the daily window would never read again come back — and the request is cleared.
    @Test func aRequestedDeepReadReachesBackOnce() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-deep", source: .gocardless, sourceRef: "sandbox-req-1")
                #expect(try await sync(store, peers, customer).succeeded)
                let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
                let account = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[0]])
                let missing = "SELECT count(*) FROM transactions WHERE account_id = $1 AND booking_date BETWEEN $2 AND $3"
                let range: [any PostgresEncodable] = [account, today.adding(days: -60), today.adding(days: -30)]
                let stored = try count(store, missing, range)
                #expect(stored > 0)
                try store.connection.execute("DELETE FROM transactions WHERE account_id = $1 AND booking_date BETWEEN $2 AND $3", range)

                #expect(try await sync(store, peers, customer).succeeded)   // the daily window does not reach them
                #expect(try count(store, missing, range) == 0)
                _ = try store.requestDeepRead(accountID: account, from: today.adding(days: -61), today: today, by: "test")
                // A read the bank refuses keeps the request: the next run tries it again.
                try await peers.goCardlessControl(#"{"faultAccount": "\#(accounts[0])", "faultScope": "transactions", "faultStatus": 403, "faultType": "AccountAccessForbidden", "faultTimes": 1}"#)
                _ = try await sync(store, peers, customer)
                #expect(try count(store, missing, range) == 0)
                #expect(try store.connection.queryValue(String?.self, "SELECT deep_read_from::text FROM watermarks WHERE account_id = $1", [account])
                        == today.adding(days: -61).description)
                #expect(try await sync(store, peers, customer).succeeded)
                #expect(try count(store, missing, range) == stored)
                #expect(try store.connection.queryValue(String?.self, "SELECT deep_read_from::text FROM watermarks WHERE account_id = $1", [account]) == nil)
            }
        }
    }

    /// A deep read over a range that ends before the daily window (ops console, from…to): that range is read on its
    /// own, days outside it are not; a range backwards, past today or older than the consent allows is refused.
    @Test func aRequestedDeepReadOverARangeReadsThatRangeOnly() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-range", source: .gocardless, sourceRef: "sandbox-req-1")
                #expect(try await sync(store, peers, customer).succeeded)
                let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
                let account = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[0]])
                let missing = "SELECT count(*) FROM transactions WHERE account_id = $1 AND booking_date BETWEEN $2 AND $3"
                let inside: [any PostgresEncodable] = [account, today.adding(days: -50), today.adding(days: -40)]
                let outside: [any PostgresEncodable] = [account, today.adding(days: -70), today.adding(days: -60)]
                let (storedInside, storedOutside) = (try count(store, missing, inside), try count(store, missing, outside))
                #expect(storedInside > 0 && storedOutside > 0)
                try store.connection.execute("DELETE FROM transactions WHERE account_id = $1 AND booking_date BETWEEN $2 AND $3",
                                             [account, today.adding(days: -70), today.adding(days: -40)])

                #expect(throws: ConsoleActionError.self) {
                    try store.requestDeepRead(accountID: account, from: today.adding(days: -40), to: today.adding(days: -50), today: today, by: "test")
                }
                #expect(throws: ConsoleActionError.self) {
                    try store.requestDeepRead(accountID: account, from: today.adding(days: -5), to: today.adding(days: 1), today: today, by: "test")
                }
                #expect(throws: ConsoleActionError.self) {   // older than the customer's history allows
                    try store.requestDeepRead(accountID: account, from: today.adding(days: -(SyncWindow.defaultHistoryDays + 1)),
                                              to: today.adding(days: -300), today: today, by: "test")
                }
                _ = try store.requestDeepRead(accountID: account, from: today.adding(days: -55), to: today.adding(days: -35), today: today, by: "test")
                #expect(try await sync(store, peers, customer).succeeded)
                #expect(try count(store, missing, inside) == storedInside)
                #expect(try count(store, missing, outside) == 0, "days outside the range are not read")
                #expect(try store.connection.queryValue(String?.self, "SELECT deep_read_to::text FROM watermarks WHERE account_id = $1", [account]) == nil)
            }
        }
    }

    @Test func anExpiredConsentMarksTheCustomer() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m1", source: .gocardless, sourceRef: "sandbox-req-3")
                #expect(try await sync(store, peers, customer).succeeded)
                try await peers.goCardlessControl(#"{"expireRequisition": "sandbox-req-3"}"#)
                let outcome = try await sync(store, peers, customer)
                #expect(outcome.problem?.code == "consent_expired")
                #expect(try store.customer(id: customer)?.customer.status == "consent_expired")
                #expect(try count(store, "SELECT count(*) FROM sync_events WHERE customer_id = $1 AND code = 'consent_expired'", [customer]) == 1)
            }
        }
    }

    @Test func aMalformedPageStoresNothingOfThatWindow() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with(pageSize: 50) { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m1", source: .berlingroup, sourceRef: "sandbox-consent-1",
                                                     sourceConfig: #"{"baseURL": "\#(peers.berlinGroupURL)"}"#)
                let broken = try await peers.berlinGroupSource().accounts().accounts[0].account.sourceAccountID
                try await peers.berlinGroupControl(#"{"malformedAccount": "\#(broken)"}"#)
                let outcome = try await sync(store, peers, customer)
                #expect(outcome.problem?.code == "malformed_data")
                #expect(outcome.problem?.message.contains(broken) == true, "the error names the account")
                let brokenID = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [broken])
                #expect(try count(store, "SELECT count(*) FROM transactions WHERE account_id = $1", [brokenID]) == 0)
                #expect(try store.bookedThrough(accountID: brokenID) == nil)
                #expect(try count(store, "SELECT count(*) FROM transactions WHERE customer_id = $1", [customer]) > 500, "the other account is stored")
                #expect(try count(store, "SELECT count(*) FROM sync_events WHERE account_id = $1 AND code = 'malformed_data'", [brokenID]) == 1)
            }
        }
    }
}
