import Foundation
import Postgres
import Testing
import TestSupport

/// The commands the ops console shows as the same from a shell: `customers pause|resume` and `reconciliation
/// acknowledge`, each recorded on the customer's timeline with who and why.
@Suite struct OperatorCommandsTests {
    @Test func pauseResumeAndAcknowledgeFromAShell() async throws {
        try await EndToEnd.with { e2e in
            let customer = try #require(try await e2e.addGoCardlessCustomers(1).first)
            let id = customer.uuidString.lowercased()
            #expect(try await e2e.run(["sync"]).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }

            let noReason = try await e2e.run(["customers", "pause", id])
            #expect(noReason.status != 0 && noReason.stderr.contains("--reason"))
            let pause = try await e2e.run(["customers", "pause", id, "--reason", "customer closing the account"])
            #expect(pause.status == 0, "\(pause.stderr)")
            #expect(pause.stdout.contains("paused customer \(id) (before: not paused)"))
            let lag = try await e2e.run(["lag", "--format", "json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(lag.stdout.utf8)) as? [[String: Any]])
            #expect(rows.first { ($0["flowpayCustomerId"] as? String)?.lowercased() == id }?["status"] as? String == "paused")
            let resume = try await e2e.run(["customers", "resume", id, "--reason", "account stays open"])
            #expect(resume.status == 0 && resume.stdout.contains("before: paused (customer closing the account)"), "\(resume.stderr)")
            #expect(try connection.queryValue(Bool.self, "SELECT paused_at IS NULL FROM customers WHERE flowpay_customer_id = $1", [customer]))
            let unknown = try await e2e.run(["customers", "pause", UUID().uuidString, "--reason", "x"])
            #expect(unknown.status != 0 && unknown.stderr.contains("no customer has Flowpay customer id"))

            let account = try connection.queryValue(Int64.self, """
                SELECT a.id FROM accounts a JOIN customers c ON c.id = a.customer_id WHERE c.flowpay_customer_id = $1 LIMIT 1
                """, [customer])
            try connection.execute("""
                INSERT INTO account_reconciliation (account_id, state, currency, first_day, reconciled_through, mismatch_from, mismatch_to,
                                                    difference_minor, held_minor, mismatch_since)
                VALUES ($1, 'mismatch', 'CZK', DATE '2026-11-01', DATE '2026-11-19', DATE '2026-11-19', DATE '2026-11-20', 5000, 0, now())
                ON CONFLICT (account_id) DO UPDATE SET state = 'mismatch', mismatch_from = excluded.mismatch_from, mismatch_to = excluded.mismatch_to,
                    difference_minor = excluded.difference_minor, currency = excluded.currency
                """, [account])
            let acknowledge = try await e2e.run(["reconciliation", "acknowledge", "--account", String(account), "--reason", "bank confirmed a fee"])
            #expect(acknowledge.status == 0, "\(acknowledge.stderr)")
            #expect(acknowledge.stdout.contains("difference 5000 minor CZK 2026-11-20…2026-11-20"))
            #expect(try connection.queryValue(Int64?.self, "SELECT acknowledged_difference FROM account_reconciliation WHERE account_id = $1", [account])
                    == 5000)
            let nothing = try await e2e.run(["reconciliation", "acknowledge", "--account", "999999", "--reason", "x"])
            #expect(nothing.status != 0 && nothing.stderr.contains("has no difference to acknowledge"))

            let events = try connection.query("""
                SELECT e.code, e.message FROM sync_events e JOIN customers c ON c.id = e.customer_id
                WHERE c.flowpay_customer_id = $1 AND e.code IN ('customer_paused', 'customer_resumed', 'difference_acknowledged') ORDER BY e.id
                """, [customer]).map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) }
            #expect(events.map(\.0) == ["customer_paused", "customer_resumed", "difference_acknowledged"])
            #expect(events.allSatisfy { $0.1.contains("in the CLI") })
        }
    }
}
