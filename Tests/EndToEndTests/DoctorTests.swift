import Foundation
import Testing
import TestSupport

/// `banksync doctor` against the sandbox peers: passes when everything works, and names what does not
/// (with a fix), never printing a secret.
@Suite struct DoctorTests {
    @Test func doctorPassesAgainstTheSandboxAndNamesWhatIsWrong() async throws {
        try await EndToEnd.with { e2e in
            _ = try await e2e.addGoCardlessCustomers(1)
            _ = try await e2e.addBerlinGroupCustomer(consent: "doctor-consent", merchant: "bg-doctor")
            var environment = e2e.environment
            environment["FLOWPAY_WEBHOOK_SECRET"] = "doctor-webhook-secret"

            let healthy = try await BankSyncProcess.run(["doctor"], environment: environment)
            #expect(healthy.status == 0, "\(healthy.stdout)\n\(healthy.stderr)")
            for check in ["✓ configuration", "✓ database", "✓ migrations", "✓ Flowpay token", "✓ Flowpay API", "✓ GoCardless",
                          "✓ bank \(e2e.berlinGroupURL)"] {
                #expect(healthy.stdout.contains(check), "\(check) in:\n\(healthy.stdout)")
            }
            #expect(!healthy.stdout.contains("✗"))
            for secret in ["e2e-secret", "e2e-key", "doctor-webhook-secret"] {
                #expect(!(healthy.stdout + healthy.stderr).contains(secret), "a secret was printed")
            }

            // A wrong Flowpay secret: a clear line, a fix, exit 1, the wrong secret not echoed.
            var wrongSecret = environment
            wrongSecret["FLOWPAY_CLIENT_SECRET"] = "not-the-flowpay-secret"
            let refused = try await BankSyncProcess.run(["doctor"], environment: wrongSecret)
            #expect(refused.status == 1)
            let refusedLine = try #require(refused.stdout.split(separator: "\n").first { $0.hasPrefix("✗ Flowpay token") })
            #expect(refusedLine.contains("fix:"))
            #expect(!(refused.stdout + refused.stderr).contains("not-the-flowpay-secret"))

            // An unreachable database.
            var noDatabase = environment
            noDatabase["DATABASE_URL"] = "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=3"
            let unreachable = try await BankSyncProcess.run(["doctor"], environment: noDatabase)
            #expect(unreachable.status == 1)
            #expect(unreachable.stdout.split(separator: "\n").contains { $0.hasPrefix("✗ database: cannot connect") }, "\(unreachable.stdout)")

            // A bank client certificate ten days from its expiry is a warning, not a failure.
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let certificate = folder.appendingPathComponent("qwac.pem").path, key = folder.appendingPathComponent("qwac.key").path
            let openssl = try await BankSyncProcess.runTool("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "10",
                "-subj", "/CN=banksync-doctor-test", "-keyout", key, "-out", certificate,
            ], environment: [:])
            try #require(openssl.status == 0, "\(openssl.stderr)")
            await e2e.berlinGroup.makeValidConsent(id: "doctor-consent-mtls", accountCount: 1)
            let added = try await e2e.run(["customers", "add", "--flowpay-id", UUID().uuidString, "--merchant-id", "bg-mtls",
                                           "--source", "berlingroup", "--consent", "doctor-consent-mtls", "--bank-url", e2e.berlinGroupURL,
                                           "--client-certificate", certificate, "--client-key", key])
            try #require(added.status == 0, "\(added.stderr)")
            let warned = try await BankSyncProcess.run(["doctor"], environment: environment)
            #expect(warned.status == 0, "\(warned.stdout)")
            #expect(warned.stdout.split(separator: "\n").contains { $0.hasPrefix("! bank \(e2e.berlinGroupURL)") && $0.contains("expires") },
                    "\(warned.stdout)")

            // Consent links in use without BANKSYNC_PUBLIC_URL: the bank could not send customers back.
            try e2e.connect().execute("""
                INSERT INTO consent_links (state, flowpay_customer_id, merchant_id, source, source_ref, history_days, expires_at)
                VALUES ('doctor-state', gen_random_uuid(), 'm-link', 'gocardless', 'req-link', 90, now() + interval '1 day')
                """)
            let noPublicURL = try await BankSyncProcess.run(["doctor"], environment: environment)
            #expect(noPublicURL.status == 1)
            #expect(noPublicURL.stdout.contains("✗ public URL"), "\(noPublicURL.stdout)")
        }
    }
}
