import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TestSupport

/// The monitoring kit (scheduler/monitoring/) names only metrics a live `/metrics` really exposes: the rules
/// and the dashboard are checked by `scripts/check-monitoring` against a scrape of a running `banksync serve`.
@Suite struct MonitoringTests {
    @Test func everyMetricTheRulesAndTheDashboardNameIsExposed() async throws {
        try await EndToEnd.with { e2e in
            let customers = try await e2e.addGoCardlessCustomers(2)
            #expect(try await e2e.run(["sync"]).status == 0)
            // Series that exist only once something happened: a consent with a known expiry, a dropped webhook,
            // requests on the public listener.
            let connection = try e2e.connect()
            defer { connection.close() }
            try connection.execute("UPDATE customers SET consent_expires_at = now() + interval '5 days' WHERE flowpay_customer_id = $1", [customers[0]])
            let scrape = try await ServeHarness.with(e2e) { serve in
                var webhook = HTTPClientRequest(url: "\(serve.baseURL)/webhooks/flowpay")
                webhook.method = .POST
                webhook.body = .bytes(ByteBuffer(string: #"{"id":"00000000-0000-0000-0000-000000000001","state":"NEW"}"#))
                _ = try await serve.http.execute(webhook, timeout: .seconds(10))
                _ = try await serve.get("\(serve.baseURL)/flowpay/v1/bank-transactions?merchantId=gc-merchant-0")
                _ = try await serve.get("\(serve.baseURL)/healthz")
                return try await serve.get(serve.metricsURL)
            }
            #expect(scrape.status == 200)
            #expect(scrape.body.contains(#"banksync_customers_interrupted{reason="consent_expired"} 0"#), "\(scrape.body.prefix(600))")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-metrics-\(UUID().uuidString).txt")
            try scrape.body.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let check = try await BankSyncProcess.runTool(BankSyncProcess.packageRoot.appendingPathComponent("scripts/check-monitoring").path,
                                                          ["--metrics", file.path], environment: [:])
            #expect(check.status == 0, "\(check.stdout)\n\(check.stderr)")
        }
    }

    /// A reconciliation difference is exposed per currency while an active account has it, and leaves the
    /// exposition once no active account reconciles in that currency (it does not repeat its last value for ever).
    @Test func aReconciliationDifferenceLeavesTheScrapeWithItsLastAccount() async throws {
        try await EndToEnd.with { e2e in
            _ = try await e2e.addGoCardlessCustomers(1)
            #expect(try await e2e.run(["sync"]).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }
            try connection.execute("""
                INSERT INTO account_reconciliation (account_id, state, currency, mismatch_from, mismatch_to, difference_minor)
                SELECT id, 'mismatch', 'XTS', current_date - 3, current_date - 2, 1234 FROM accounts ORDER BY id LIMIT 1
                ON CONFLICT (account_id) DO UPDATE SET state = 'mismatch', currency = 'XTS', difference_minor = 1234
                """)
            let series = #"banksync_reconciliation_difference{currency="XTS"}"#
            let (before, after) = try await ServeHarness.with(e2e) { serve in
                let before = try await serve.get(serve.metricsURL)
                try connection.execute("UPDATE accounts SET active = false WHERE id = (SELECT account_id FROM account_reconciliation WHERE currency = 'XTS')")
                return (before, try await serve.get(serve.metricsURL))
            }
            #expect(before.body.contains("\(series) 12.34"), "\(before.body)")
            #expect(!after.body.contains(series), "\(after.body)")
        }
    }
}
