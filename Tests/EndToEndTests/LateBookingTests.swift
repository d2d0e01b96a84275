import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

/// Bookings that reach the bank weeks late are found by a deep re-read, delivered once, and counted.
@Suite(.serialized) struct LateBookingTests {
    @Test func lateBookingsAreDeliveredByADeepReRead() async throws {
        try await EndToEnd.with { e2e in
            let (_, accounts) = try await e2e.addGoCardlessCustomer(requisition: "late-req", merchant: "late")
            #expect(try await e2e.run(["sync", "--rescan-every", "0"]).status == 0)
            _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self,
                from: Data(#"{"lateAccount":"\#(accounts[0])","lateDaysBack":[20,45]}"#.utf8)))
            // The daily window (7 days of overlap) does not reach them…
            #expect(try await e2e.run(["sync", "--min-interval", "0", "--rescan-every", "0"], on: e2e.today.adding(days: 1)).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE source_tx_id LIKE 'late-%'") == 0)
            // …a deep re-read does, once.
            for _ in 0..<2 {
                let deep = try await e2e.run(["sync", "--min-interval", "0", "--rescan-days", "60"], on: e2e.today.adding(days: 1))
                #expect(deep.status == 0, "\(deep.stdout) \(deep.stderr)")
            }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE source_tx_id LIKE 'late-%'") == 2)
            #expect(try connection.queryValue(String.self, "SELECT counterparty_iban FROM transactions WHERE source_tx_id LIKE 'late-%' LIMIT 1")
                    == "123456789/0800", "a domestic account number is the counter account when there is no IBAN")
            #expect(try connection.queryValue(Int.self, "SELECT late_bookings FROM watermarks") == 2)
            #expect(try connection.queryValue(Int.self, "SELECT latest_late_days FROM watermarks") == 46)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'late_booking'") == 1)
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(received == stored && distinct == stored)
            let lag = try await e2e.run(["lag", "--accounts", "--format", "json"])
            #expect(lag.stdout.contains("lastDeepReadAt"), "\(lag.stdout)")
            let table = try await e2e.run(["lag"])
            #expect(table.stdout.contains("deep read") && table.stdout.contains("late"), "\(table.stdout)")
        }
    }

    /// The sandbox bank sends bookings as banks do: some with only `bookingDateTime`, some with only
    /// `valueDate`, some counterparties as a domestic number. Each is stored with that day as its booking date
    /// and pushed once, over a backfill and a later daily run.
    @Test func datesAndAccountsAsBanksSendThem() async throws {
        try await EndToEnd.with { e2e in
            _ = try await e2e.addGoCardlessCustomer(requisition: "odd-req", merchant: "odd")
            #expect(try await e2e.run(["sync"]).status == 0)
            #expect(try await e2e.run(["sync", "--min-interval", "0"], on: e2e.today.adding(days: 2)).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }
            let dateTimeOnly = try connection.queryValue(Int.self, """
                SELECT count(*) FROM transactions WHERE status = 'booked' AND NOT raw ? 'bookingDate' AND raw ? 'bookingDateTime'
                  AND booking_date = (raw->>'bookingDateTime')::timestamptz::date
                """)
            let valueDateOnly = try connection.queryValue(Int.self, """
                SELECT count(*) FROM transactions WHERE status = 'booked' AND NOT raw ? 'bookingDate' AND NOT raw ? 'bookingDateTime'
                  AND booking_date = (raw->>'valueDate')::date
                """)
            let withoutDay = try connection.queryValue(Int.self, """
                SELECT count(*) FROM transactions WHERE status = 'booked' AND NOT raw ? 'bookingDate' AND NOT raw ? 'bookingDateTime'
                  AND NOT raw ? 'valueDate'
                """)
            let domestic = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE counterparty_iban LIKE '%/0800'")
            #expect(dateTimeOnly > 5 && valueDateOnly > 5 && domestic > 50,
                    "date-time only \(dateTimeOnly), value date only \(valueDateOnly), domestic numbers \(domestic)")
            #expect(withoutDay == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'malformed_data'") == 0)
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(received == stored && distinct == stored)
        }
    }
}
