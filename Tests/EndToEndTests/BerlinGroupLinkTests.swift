import Foundation
import Testing
import TestSupport

/// `banksync link` for a Berlin Group customer asks the bank for the consent as the customer's stored settings
/// describe it: with the client certificate and key a mutual-TLS bank requires.
@Suite struct BerlinGroupLinkTests {
    @Test func aRenewalLinkPresentsTheStoredClientCertificate() async throws {
        try await EndToEnd.with { e2e in
            let customer = try await e2e.addBerlinGroupCustomer(consent: "mtls-consent", merchant: "mtls-merchant")
            var environment = e2e.environment
            environment["BANKSYNC_PUBLIC_URL"] = "http://127.0.0.1:9"
            // Store a certificate that cannot be loaded: a link made without it would succeed against the sandbox.
            let connection = try e2e.connect()
            defer { connection.close() }
            try connection.execute("""
                UPDATE customers SET source_config = source_config || '{"clientCertificate": "/nonexistent/qwac.pem", "clientKey": "/nonexistent/qwac.key"}'::jsonb
                WHERE flowpay_customer_id = $1
                """, [customer])
            let link = try await BankSyncProcess.run(["link", "--customer", customer.uuidString, "--source", "berlingroup",
                                                      "--bank-url", e2e.berlinGroupURL], environment: environment)
            #expect(link.status != 0, "\(link.stdout)")
            #expect(link.stderr.contains("/nonexistent/qwac.pem"), "\(link.stderr)")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM consent_links") == 0, "no link without the consent")

            // With the customer's certificate given on the command line it is stored for the renewal.
            let given = try await BankSyncProcess.run(["link", "--customer", customer.uuidString, "--source", "berlingroup",
                                                       "--bank-url", e2e.berlinGroupURL, "--client-certificate", "/nonexistent/new.pem",
                                                       "--client-key", "/nonexistent/new.key"], environment: environment)
            #expect(given.status != 0 && given.stderr.contains("/nonexistent/new.pem"), "\(given.stderr)")
        }
    }
}
