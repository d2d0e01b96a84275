import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

/// The whole pipeline across the days where calendars bite: a backfill on an awkward day, then daily runs
/// over the following days (a month, a February, a year turning over), with banks that book late.
@Suite struct CalendarTests {
    @Test(.serialized, arguments: TestCalendar.awkwardDays)
    func dailyRunsAcrossAnAwkwardDayDeliverEveryBookingExactlyOnce(start: Day) async throws {
        try await EndToEnd.with(today: start) { e2e in
            _ = try await e2e.addGoCardlessCustomers(2, accountsEach: 2)
            _ = try await e2e.addGoCardlessCustomer(requisition: "noid-req", institution: "NOIDBANK_NOIDCZPP", merchant: "noid-merchant")
            _ = try await e2e.addBerlinGroupCustomer(consent: "calendar-consent", merchant: "bg-merchant")

            for offset in 0...3 {
                let day = start.adding(days: offset)
                let run = try await e2e.run(["sync", "--min-interval", "0"], on: day)
                #expect(run.status == 0, "\(day): \(run.stdout) \(run.stderr)")
            }
            let again = try await e2e.run(["sync", "--min-interval", "0"], on: start.adding(days: 3))
            #expect(again.stdout.contains("0 new transactions, 0 pushed"), "\(again.stdout)")

            let connection = try e2e.connect()
            defer { connection.close() }
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(stored > 1000)
            #expect(received == stored)
            #expect(distinct == stored)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE \(queuedSQL)") == 0)
            #expect(try connection.queryValue(Int.self,
                "SELECT count(*) FROM watermarks WHERE booked_through IS DISTINCT FROM $1::date", [start.adding(days: 3)]) == 0)
            // The bank's balances agree with every account's bookings to the cent, through its last closed day.
            #expect(try connection.queryValue(Int.self, """
                SELECT count(*) FROM account_reconciliation WHERE state = 'reconciled' AND reconciled_through = $1::date
                """, [start.adding(days: 3 - SyntheticBank.booksCloseAfterDays)]) == 6)
            let lag = try await e2e.run(["lag", "--format", "json"])
            #expect(lag.status == 0)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(lag.stdout.utf8)) as? [[String: Any]])
            #expect(rows.count == 4)
            #expect(rows.allSatisfy { $0["status"] as? String == "ok" }, "\(lag.stdout)")
        }
    }
}
