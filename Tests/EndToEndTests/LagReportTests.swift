import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

@Suite struct LagReportTests {
    /// On today's date and on each awkward day (the sandboxes' histories, and so the rows picked here, change with the day).
    @Test(.serialized, arguments: [TestCalendar.today] + TestCalendar.awkwardDays)
    func theReportShowsStaleExpiredAndRejectedCustomersWorstFirst(today: Day) async throws {
        try await EndToEnd.with(today: today) { e2e in
            let customers = try await e2e.addGoCardlessCustomers(4)
            let first = try await e2e.run(["sync"])
            #expect(first.status == 0, "\(first.stderr)")

            // One consent expires, one batch is rejected by Flowpay, one customer goes stale.
            let expire = try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(#"{"expireRequisition":"gc-req-1"}"#.utf8))
            _ = await e2e.goCardless.apply(expire)
            let connection = try e2e.connect()
            defer { connection.close() }
            let staleID = customers[3]
            try connection.execute("""
                UPDATE watermarks SET last_pull_at = now() - interval '3 days'
                WHERE account_id IN (SELECT a.id FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE c.flowpay_customer_id = $1)
                """, [staleID])
            let rejectedID = customers[2]
            // Flowpay refuses one of five queued again: it is quarantined, the other four delivered.
            try await Self.queueAgainAndRefuseOne(of: rejectedID, rows: 5, logref: "lr-e2e-422", connection, e2e)
            let second = try await e2e.run(["sync", "--customer", rejectedID.uuidString, "--concurrency", "1"])
            #expect(second.status == 1)
            #expect(second.stdout.contains("rejected"))
            let third = try await e2e.run(["sync", "--customer", customers[1].uuidString])
            #expect(third.status == 1)
            #expect(third.stdout.contains("consent_expired"))

            let json = try await e2e.run(["lag", "--format", "json"])
            #expect(json.status == 0)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
            #expect(rows.count == 4)
            #expect(rows.first?["status"] as? String == "consent_expired", "worst first")
            let rejected = try #require(rows.first { $0["flowpayCustomerId"] as? String == rejectedID.uuidString.lowercased() })
            #expect(rejected["status"] as? String == "rejected")
            #expect(rejected["logref"] as? String == "lr-e2e-422")
            #expect(rejected["waitingToPush"] as? Int == 0)
            #expect(rejected["quarantined"] as? Int == 1)
            let stale = try #require(rows.first { $0["flowpayCustomerId"] as? String == staleID.uuidString.lowercased() })
            #expect((stale["lagSeconds"] as? Int ?? 0) >= 3 * 86_400 - 60)
            #expect(stale["status"] as? String == "ok")

            let csv = try await e2e.run(["lag", "--format", "csv", "--accounts"])
            #expect(csv.stdout.split(separator: "\n").count == 5)
            let interruptions = try await e2e.run(["lag", "--interruptions"])
            #expect(interruptions.stdout.contains("consent expired"))
            #expect(interruptions.stdout.contains("rejected by Flowpay"))
            #expect(interruptions.stdout.contains("lr-e2e-422"))

            // --sla: the 3-day-stale (and the expired) customer breach 26h; a generous SLA with the expired one still breaches.
            let breach = try await e2e.run(["lag", "--sla", "26h"])
            #expect(breach.status == 1)
            #expect(breach.stderr.contains("gc-merchant-3"))
            try connection.execute("UPDATE customers SET status = 'disabled' WHERE flowpay_customer_id = $1", [customers[1]])
            let fine = try await e2e.run(["lag", "--sla", "5d"])
            #expect(fine.status == 0, "\(fine.stderr)")
            #expect(try await e2e.run(["lag", "--sla", "soon"]).status == 2)
        }
    }

    /// The notice Flowpay asks for on an interruption: for each reason the impacted customers, since when and
    /// the expected next step (the command that makes the re-link, the logrefs of refused rows, the retry).
    @Test func theInterruptionNoticeSaysWhatHappensNextForEachReason() async throws {
        try await EndToEnd.with { e2e in
            let customers = try await e2e.addGoCardlessCustomers(2)
            // A bank that does not answer at all.
            let down = UUID()
            let added = try await e2e.run(["customers", "add", "--flowpay-id", down.uuidString, "--merchant-id", "bg-down", "--source", "berlingroup",
                                           "--consent", "down-consent", "--bank-url", "http://127.0.0.1:1"])
            try #require(added.status == 0, "\(added.stderr)")
            #expect(try await e2e.run(["sync", "--customer", customers[0].uuidString, "--customer", customers[1].uuidString]).status == 0)
            let expire = try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(#"{"expireRequisition":"gc-req-0"}"#.utf8))
            _ = await e2e.goCardless.apply(expire)
            // Flowpay refuses one of the second customer's transactions.
            let connection = try e2e.connect()
            defer { connection.close() }
            try await Self.queueAgainAndRefuseOne(of: customers[1], rows: 3, logref: "lr-notice-422", connection, e2e)
            #expect(try await e2e.run(["sync", "--min-interval", "0"]).status == 1)

            let notice = try await e2e.run(["lag", "--interruptions", "--format", "markdown"])
            #expect(notice.status == 0, "\(notice.stderr)")
            let text = notice.stdout
            #expect(text.hasPrefix("## BankSync interruption notice"))
            #expect(text.contains("3 customer(s) impacted"), "\(text)")
            #expect(text.contains("### Consent expired (1 customer(s))"))
            #expect(text.contains("banksync link --customer \(customers[0].uuidString.lowercased()) --source gocardless --institution"),
                    "the re-link command: \(text)")
            #expect(text.contains("### Rejected by Flowpay (1 customer(s))"))
            #expect(text.contains("lr-notice-422"))
            #expect(text.contains("banksync push --requeue-rejected --customer \(customers[1].uuidString.lowercased())"))
            #expect(text.contains("### Bank unavailable (1 customer(s))"))
            #expect(text.contains("| \(down.uuidString.lowercased()) | bg-down |"))
            #expect(text.contains("BankSync retries on its next scheduled run"))

            let csv = try await e2e.run(["lag", "--interruptions", "--format", "csv"])
            #expect(csv.stdout.split(separator: "\n").first?.hasSuffix("next step") == true)
            let json = try await e2e.run(["lag", "--interruptions", "--format", "json"])
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
            #expect(entries.count == 3)
            #expect(entries.allSatisfy { ($0["nextStep"] as? String)?.isEmpty == false && $0["since"] != nil })
            #expect(try await e2e.run(["lag", "--format", "markdown"]).status == 2, "markdown is the notice's format only")
        }
    }

    /// Queues `rows` of the customer's delivered bookings again and has Flowpay refuse the first of them.
    static func queueAgainAndRefuseOne(of customer: UUID, rows: Int, logref: String, _ connection: PostgresConnection,
                                       _ e2e: EndToEnd) async throws {
        try connection.execute("""
            WITH requeued AS (
                UPDATE transactions SET push_batch_id = NULL
                WHERE id IN (SELECT t.id FROM transactions t JOIN customers c ON c.id = t.customer_id
                             WHERE c.flowpay_customer_id = $1 AND t.status = 'booked' ORDER BY t.id LIMIT $2)
                RETURNING customer_id, id, account_id, ingest_xid
            )
            INSERT INTO push_queue (customer_id, transaction_id, account_id, ingest_xid) SELECT * FROM requeued
            """, [customer, rows])
        let refusedID = try connection.queryValue(String.self, """
            SELECT t.flowpay_id FROM push_queue q JOIN transactions t ON t.customer_id = q.customer_id AND t.id = q.transaction_id
            JOIN customers c ON c.id = t.customer_id
            WHERE c.flowpay_customer_id = $1 ORDER BY t.id LIMIT 1
            """, [customer])
        await e2e.flowpay.refuse([refusedID], logref: logref)
    }
}
