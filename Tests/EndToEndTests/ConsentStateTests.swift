import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

/// Only a consent the bank reports as expired parks a customer; our own certificate running out is an ops
/// problem; a parked customer is looked at again daily and comes back once the consent is valid.
@Suite(.serialized) struct ConsentStateTests {
    @Test func anExpiredCertificateParksNobodyAndAnExpiredConsentComesBackWhenValid() async throws {
        try await EndToEnd.with { e2e in
            let customer = try await e2e.addBerlinGroupCustomer(consent: "bg-states", merchant: "bg-states")
            #expect(try await e2e.run(["sync"]).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }
            func status() throws -> String {
                try connection.queryValue(String.self, "SELECT status FROM customers WHERE flowpay_customer_id = $1", [customer])
            }
            func control(_ json: String) async throws {
                _ = await e2e.berlinGroup.apply(try JSONDecoder().decode(BerlinGroupSandboxState.Control.self, from: Data(json.utf8)))
            }

            // Our certificate expired: an ops problem, the customer is not told to reconnect.
            try await control(#"{"certificateExpired": true}"#)
            let refused = try await e2e.run(["sync", "--customer", customer.uuidString])
            #expect(refused.status == 1)
            #expect(refused.stdout.contains("source_unauthorised"), "\(refused.stdout)")
            #expect(try status() == "active")
            #expect(!(try await e2e.run(["lag", "--interruptions"])).stdout.contains("consent expired"))
            try await control(#"{"certificateExpired": false}"#)

            // The bank says the consent expired: parked, reported as such.
            try await control(#"{"expireConsent": "bg-states"}"#)
            #expect(try await e2e.run(["sync", "--customer", customer.uuidString]).status == 1)
            #expect(try status() == "consent_expired")
            // Not claimed again the same day…
            #expect(try await e2e.run(["sync", "--min-interval", "0"]).stdout.contains("0 customers"))
            // …but a day later, once the customer reconnected the consent, it is active and synced again.
            try await control(#"{"validateConsent": "bg-states"}"#)
            try connection.execute("UPDATE customers SET last_sync_at = now() - interval '25 hours' WHERE flowpay_customer_id = $1", [customer])
            let recheck = try await e2e.run(["sync"])
            #expect(recheck.status == 0, "\(recheck.stdout)")
            #expect(try status() == "active")
        }
    }

    /// A Berlin Group consent allows 4 reads of an account a day: the fifth is a 429 ACCESS_EXCEEDED, and that
    /// account is skipped for the run with its reason (no retry loop) while other customers sync.
    @Test func aReadBudgetUsedUpSkipsTheAccountWithItsReason() async throws {
        try await EndToEnd.with { e2e in
            let bank = try await e2e.addBerlinGroupCustomer(consent: "bg-budget", merchant: "bg-budget")
            _ = try await e2e.addGoCardlessCustomers(1)
            _ = await e2e.berlinGroup.apply(try JSONDecoder().decode(BerlinGroupSandboxState.Control.self, from: Data(#"{"dailyReadLimit": 4}"#.utf8)))
            // The backfill is two reads (730 days in two pieces, oldest first), then one read a run.
            #expect(try await e2e.run(["sync", "--min-interval", "0"]).status == 0)
            #expect(await e2e.berlinGroup.transactionReadsToday() == 2, "one account, two pieces")
            for _ in 0..<2 { #expect(try await e2e.run(["sync", "--min-interval", "0"]).status == 0) }
            let fifth = try await e2e.run(["sync", "--min-interval", "0"])
            #expect(fifth.status == 1)
            #expect(fifth.stdout.contains("\(bank.uuidString.lowercased()) rate_limited"), "\(fifth.stdout)")
            #expect(fifth.stdout.contains("2 customers"), "the other customer synced too: \(fifth.stdout)")
            let lag = try await e2e.run(["lag", "--interruptions"])
            #expect(lag.stdout.contains("rate limited"), "\(lag.stdout)")

            // The skip lasts the day: the next run asks the bank nothing for that account and says why.
            let readsBefore = await e2e.berlinGroup.transactionReadsToday()
            let sixth = try await e2e.run(["sync", "--min-interval", "0"])
            #expect(sixth.status == 1)
            #expect(sixth.stdout.contains("\(bank.uuidString.lowercased()) rate_limited"), "\(sixth.stdout)")
            #expect(await e2e.berlinGroup.transactionReadsToday() == readsBefore, "no read spent on a used-up budget")
            // The next day the budget is back and the account syncs.
            let nextDay = try await e2e.run(["sync", "--min-interval", "0"], on: e2e.today.adding(days: 1))
            #expect(nextDay.status == 0, "\(nextDay.stdout)")
        }
    }
}
