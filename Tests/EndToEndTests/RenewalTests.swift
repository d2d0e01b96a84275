import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

/// A customer's lifetime beyond one consent: renewals through `link` and the bank's redirect back to
/// `serve`, a move to another source with the same IBANs, identical fees on sibling accounts. Afterwards
/// Flowpay holds every booking exactly once and the accounts call names each IBAN once.
@Suite(.serialized) struct RenewalTests {
    @Test func aRenewedGoCardlessConsentPushesNothingTwice() async throws {
        try await EndToEnd.with { e2e in
            let customer = try #require(try await e2e.addGoCardlessCustomers(1, accountsEach: 2).first)
            #expect(try await e2e.run(["sync"]).status == 0)
            let before = try await delivered(e2e, customer)
            #expect(before.count > 1000)

            try await ServeHarness.with(e2e) { serve in
                let link = try await serve.link(["--customer", customer.uuidString, "--source", "gocardless",
                                                 "--institution", "SANDBOXFINANCE_SFIN0000"])
                #expect(link.status == 0, "\(link.stderr)")
                let requisition = try #require(link.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "/").last)
                let gcURL = try #require(e2e.environment["GOCARDLESS_API_URL"])
                // The customer reconnects the same bank accounts: new account ids, new transaction ids.
                let approved = try await serve.get("\(gcURL)/sandbox-consent/\(requisition)?approve=true&renewing=gc-req-0")
                let back = try #require(approved.location)
                let done = try await serve.get(back)
                #expect(done.status == 200, "\(done.body)")
            }
            try await expectRenewedCleanly(e2e, customer, deliveredBefore: before.count)
        }
    }

    @Test func aRenewedBerlinGroupConsentKeepsItsSettingsAndPushesNothingTwice() async throws {
        try await EndToEnd.with { e2e in
            await e2e.berlinGroup.makeValidConsent(id: "bg-first", accountCount: 2)
            let customer = UUID()
            let added = try await e2e.run(["customers", "add", "--flowpay-id", customer.uuidString, "--merchant-id", "bg-renewing",
                                           "--source", "berlingroup", "--consent", "bg-first", "--bank-url", e2e.berlinGroupURL,
                                           "--stable-transaction-ids"])
            #expect(added.status == 0, "\(added.stderr)")
            #expect(try await e2e.run(["sync"]).status == 0)
            let before = try await delivered(e2e, customer)
            #expect(before.count > 1000)

            try await ServeHarness.with(e2e) { serve in
                let link = try await serve.link(["--customer", customer.uuidString, "--source", "berlingroup", "--bank-url", e2e.berlinGroupURL])
                #expect(link.status == 0, "\(link.stderr)")
                // The test sandbox does not know its own port: send the customer to the SCA page on the bank's real address.
                let sca = try #require(URL(string: link.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
                #expect(try await serve.get(e2e.berlinGroupURL + sca.path + "?approve=true&renewing=bg-first").status == 302)
                let connection = try e2e.connect()
                defer { connection.close() }
                let consent = sca.lastPathComponent
                let state = try connection.queryValue(String.self, "SELECT state FROM consent_links WHERE source_ref = $1", [consent])
                let done = try await serve.get("\(serve.baseURL)/consents/berlingroup/callback?state=\(state)")
                #expect(done.status == 200, "\(done.body)")
                let config = try connection.queryValue(String.self, "SELECT source_config::text FROM customers WHERE flowpay_customer_id = $1", [customer])
                #expect(config.contains("\"stableTransactionIds\": true"), "the renewal kept the customer's settings: \(config)")
            }
            try await expectRenewedCleanly(e2e, customer, deliveredBefore: before.count)
        }
    }

    @Test func aMoveFromGoCardlessToABerlinGroupBankWithTheSameIBANsPushesNothingTwice() async throws {
        try await EndToEnd.with { e2e in
            let (customer, before) = try await moveToBerlinGroup(e2e, stableIDs: false, dialect: .aggregator)
            try await expectRenewedCleanly(e2e, customer, deliveredBefore: before)
        }
    }

    /// The same move, with the bank's own API writing the bookings its own way: counterparties as IBANs where
    /// GoCardless gave domestic numbers, the text as parts with a suffix, its own bank codes, its own ids. The bookings
    /// are recognised by date, amount, currency and counterparty account (the text only breaks ties): nothing is sent
    /// twice, nothing held, and the deep read over 35 days adopts the rest.
    @Test func aMoveToABankThatWritesBookingsItsOwnWayPushesNothingTwice() async throws {
        try await EndToEnd.with { e2e in
            let (customer, before) = try await moveToBerlinGroup(e2e, stableIDs: true, dialect: .bankAPI)
            let deep = try await e2e.run(["sync", "--customer", customer.uuidString, "--rescan-days", "35"])
            #expect(deep.status == 0, "\(deep.stdout) \(deep.stderr)")
            #expect(deep.stdout.contains("0 new transactions, 0 pushed"), "\(deep.stdout)")
            let connection = try e2e.connect()
            defer { connection.close() }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM held_transactions") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'") == before)
            try await expectRenewedCleanly(e2e, customer, deliveredBefore: before)
        }
    }

    /// A GoCardless customer with two accounts, backfilled, moves to the Berlin Group bank through `link` and the bank's
    /// redirect back to `serve`; the bank serves the same IBANs and bookings with its own ids, written in `dialect`.
    /// Returns the customer and how many bookings Flowpay held before the move.
    func moveToBerlinGroup(_ e2e: EndToEnd, stableIDs: Bool, dialect: SyntheticBank.Dialect) async throws -> (UUID, Int) {
        let customer = try #require(try await e2e.addGoCardlessCustomers(1, accountsEach: 2).first)
        #expect(try await e2e.run(["sync"]).status == 0)
        let before = try await delivered(e2e, customer).count
        let accounts = await e2e.goCardless.bankAccounts(ofRequisition: "gc-req-0")
        try await ServeHarness.with(e2e) { serve in
            let link = try await serve.link(["--customer", customer.uuidString, "--source", "berlingroup", "--bank-url", e2e.berlinGroupURL])
            #expect(link.status == 0, "\(link.stderr)")
            let consent = try #require(link.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "/").last.map(String.init))
            // The bank authorises the consent over the customer's accounts (same IBANs, same bookings, its own ids).
            await e2e.berlinGroup.makeValidConsent(id: consent, mirroring: accounts, stableIDs: stableIDs, dialect: dialect)
            let connection = try e2e.connect()
            defer { connection.close() }
            let state = try connection.queryValue(String.self, "SELECT state FROM consent_links WHERE source_ref = $1", [consent])
            let done = try await serve.get("\(serve.baseURL)/consents/berlingroup/callback?state=\(state)")
            #expect(done.status == 200, "\(done.body)")
        }
        return (customer, before)
    }

    /// After the new consent is linked: the next sync stores and pushes nothing new, the accounts are the same
    /// rows, the accounts call names each IBAN once, and later bookings still arrive exactly once.
    func expectRenewedCleanly(_ e2e: EndToEnd, _ customer: UUID, deliveredBefore: Int) async throws {
        let connection = try e2e.connect()
        defer { connection.close() }
        let accountsBefore = try connection.queryValue(Int.self, "SELECT count(*) FROM accounts")
        let renewed = try await e2e.run(["sync", "--customer", customer.uuidString])
        #expect(renewed.status == 0, "\(renewed.stdout) \(renewed.stderr)")
        #expect(renewed.stdout.contains("0 new transactions, 0 pushed"), "\(renewed.stdout)")
        #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM accounts") == accountsBefore, "the same account rows")
        #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM accounts WHERE NOT active") == 0)
        #expect(try await delivered(e2e, customer).count == deliveredBefore)

        // Days later, under the new consent: new bookings arrive, nothing twice.
        for offset in 1...3 {
            let later = try await e2e.run(["sync", "--customer", customer.uuidString], on: e2e.today.adding(days: offset))
            #expect(later.status == 0, "\(later.stdout) \(later.stderr)")
        }
        let after = try await delivered(e2e, customer)
        #expect(Set(after.map(\.id)).count == after.count, "every Flowpay id once")
        let stored = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'")
        #expect(after.count == stored, "every stored booking delivered once")
        #expect(after.count > deliveredBefore)
        let accountsCall = try #require(await e2e.flowpay.snapshot().accounts[customer.uuidString.lowercased()])
        let ibans = try #require(try JSONSerialization.jsonObject(with: Data(accountsCall.utf8)) as? [[String: Any]]).compactMap { $0["iban"] as? String }
        #expect(ibans.count == 2)
        #expect(Set(ibans).count == 2)
        let lag = try await e2e.run(["lag", "--accounts", "--format", "csv"])
        #expect(lag.stdout.split(separator: "\n").count == 3, "a header and the two accounts: \(lag.stdout)")
    }

    /// The same monthly fee on two accounts of one customer (no counterparty, no id): two distinct ids, both delivered.
    @Test(arguments: ["SANDBOXFINANCE_SFIN0000", "NOIDBANK_NOIDCZPP"])
    func identicalFeesOnSiblingAccountsAreTwoTransactions(institution: String) async throws {
        try await EndToEnd.with { e2e in
            let (customer, _) = try await e2e.addGoCardlessCustomer(requisition: "fees", institution: institution, accounts: 2, merchant: "fees")
            #expect(try await e2e.run(["sync"]).status == 0)
            let received = try await delivered(e2e, customer)
            #expect(Set(received.map(\.id)).count == received.count)
            let fees = received.filter { Double($0.amount) == -99 && $0.bookingDate.hasSuffix("-01") }
            let months = Set(fees.map { $0.bookingDate.prefix(7) })
            #expect(fees.count == 2 * months.count, "one fee per account and month")
            #expect(months.count >= 12)
        }
    }

    /// The bank corrects a booking's text inside the overlap window (a bank without transaction ids, so the
    /// fingerprint changes): held by the first fetch, recognised by the second, delivered once, the change recorded.
    @Test func aBankEditInTheOverlapIsDeliveredOnce() async throws {
        try await EndToEnd.with { e2e in
            let (customer, accounts) = try await e2e.addGoCardlessCustomer(requisition: "edits", institution: "NOIDBANK_NOIDCZPP", merchant: "edits")
            #expect(try await e2e.run(["sync"]).status == 0)
            let before = try await delivered(e2e, customer).count
            for offset in 1...4 {
                _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(
                    #"{"editAccount":"\#(accounts[0])","editDay":"\#(e2e.today.adding(days: -offset))"}"#.utf8)))
            }
            // The first fetch after the edits holds the new versions (one fetch is no evidence); the next one decides.
            for offset in 1...2 {
                let next = try await e2e.run(["sync", "--customer", customer.uuidString], on: e2e.today.adding(days: offset))
                #expect(next.status == 0, "\(next.stderr)")
            }
            let connection = try e2e.connect()
            defer { connection.close() }
            let edits = try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'transaction_changed'")
            #expect(edits >= 1, "days with bookings were edited")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE remittance LIKE '%(corrected by the bank)'") == edits)
            let after = try await delivered(e2e, customer)
            let stored = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'")
            #expect(after.count == stored)
            #expect(Set(after.map(\.id)).count == after.count)
            #expect(after.count >= before)
            let lag = try await e2e.run(["lag", "--format", "json"])
            #expect(lag.stdout.contains("\"edits\":\(edits)") || lag.stdout.contains("\"edits\" : \(edits)"), "\(lag.stdout)")
        }
    }

    /// The bank's redirect back to `serve` starts the customer's first sync at once (while the bank still
    /// allows the full history), and the lag report shows how much history it received.
    @Test func aLinkedConsentIsSyncedAtOnceByServe() async throws {
        try await EndToEnd.with { e2e in
            let customer = UUID()
            try await ServeHarness.with(e2e, extraEnvironment: ["BANKSYNC_PRIORITY_SYNC_POLL": "1s"]) { serve in
                let link = try await serve.link(["--customer", customer.uuidString, "--merchant-id", "linked-now", "--source", "gocardless",
                                                 "--institution", "SHORTBANK_SHRTCZPP", "--history-days", "365"])
                #expect(link.status == 0, "\(link.stderr)")
                let requisition = try #require(link.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "/").last)
                let gcURL = try #require(e2e.environment["GOCARDLESS_API_URL"])
                let approved = try await serve.get("\(gcURL)/sandbox-consent/\(requisition)?approve=true")
                #expect(try await serve.get(try #require(approved.location)).status == 200)
                let connection = try e2e.connect()
                defer { connection.close() }
                var synced = 0
                for _ in 0..<600 where synced == 0 {
                    try await Task.sleep(for: .milliseconds(100))
                    synced = try connection.queryValue(Int.self, """
                        SELECT count(*) FROM sync_events e JOIN customers c ON c.id = e.customer_id
                        WHERE c.flowpay_customer_id = $1 AND e.code = 'synced'
                        """, [customer])
                }
                #expect(synced == 1, "serve synced the new customer without a sync run")
            }
            #expect(try await delivered(e2e, customer).count > 0)
            let lag = try await e2e.run(["lag", "--format", "json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(lag.stdout.utf8)) as? [[String: Any]])
            let row = try #require(rows.first { $0["merchantId"] as? String == "linked-now" })
            #expect(row["historyRequestedDays"] as? Int == 90, "capped by what the bank allows: \(row)")
            #expect((row["historyReceivedDays"] as? Int ?? 0) >= 85)
        }
    }

    func delivered(_ e2e: EndToEnd, _ customer: UUID) async throws -> [FlowpaySandboxState.Transaction] {
        await e2e.flowpay.snapshot().transactions[customer.uuidString.lowercased()] ?? []
    }
}
