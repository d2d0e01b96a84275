import Foundation
import Testing
import TestSupport

/// A Berlin Group bank that requires mutual TLS (an eIDAS QWAC), as a real bank's API gateway does: nginx with
/// `ssl_verify_client on` in front of the Berlin Group sandbox, under certificates made for the test by openssl.
/// Onboarding, the daily sync and a renewal link present the customer's stored client certificate; without it
/// the bank refuses the handshake and the customer's failure is recorded, nothing stored.
@Suite struct BerlinGroupMutualTLSTests {
    @Test func aBankThatRequiresAClientCertificateIsSyncedAndRelinkedWithTheStoredOne() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        try await EndToEnd.with { e2e in
            guard let upstream = URL(string: e2e.berlinGroupURL)?.port else { throw E2EError.setup("no sandbox port") }
            let tls = NginxProxy.TLS(certificate: pki.serverCertificate, key: pki.serverKey, clientCA: pki.clientCA)
            try await NginxProxy.with(upstreamPort: upstream, tls: tls) { bank in
                await e2e.berlinGroup.makeValidConsent(id: "mtls-bank-consent", accountCount: 1)
                await e2e.berlinGroup.makeValidConsent(id: "no-cert-consent", accountCount: 1)
                let withCertificate = UUID()
                let added = try await e2e.run(["customers", "add", "--flowpay-id", withCertificate.uuidString, "--merchant-id", "mtls-m",
                                               "--source", "berlingroup", "--consent", "mtls-bank-consent", "--bank-url", bank.baseURL,
                                               "--client-certificate", pki.clientCertificate, "--client-key", pki.clientKey,
                                               "--bank-ca", pki.serverCA])
                #expect(added.status == 0, "\(added.stderr)")
                let without = UUID()
                let addedWithout = try await e2e.run(["customers", "add", "--flowpay-id", without.uuidString, "--merchant-id", "no-cert-m",
                                                      "--source", "berlingroup", "--consent", "no-cert-consent", "--bank-url", bank.baseURL,
                                                      "--bank-ca", pki.serverCA])
                #expect(addedWithout.status == 0, "\(addedWithout.stderr)")

                let sync = try await e2e.run(["sync"])
                let connection = try e2e.connect()
                defer { connection.close() }
                let stored = """
                    SELECT count(*) FROM transactions t JOIN customers c ON c.id = t.customer_id WHERE c.flowpay_customer_id = $1
                    """
                #expect(try connection.queryValue(Int.self, stored, [withCertificate]) > 0, "\(sync.stderr)")
                #expect(try connection.queryValue(Int.self, stored, [without]) == 0)
                // The customer without a certificate fails alone, with its reason on record.
                let lag = try await e2e.run(["lag", "--interruptions", "--format", "json"])
                #expect(lag.stdout.contains("no-cert-m"), "\(lag.stdout)")
                let (sent, received, distinct) = try await e2e.assertExactlyOnce()
                #expect(sent == received && received == distinct)

                // A renewal link asks the mutual-TLS bank for the consent with the stored certificate and CA.
                var environment = e2e.environment
                environment["BANKSYNC_PUBLIC_URL"] = "http://127.0.0.1:9"
                let link = try await BankSyncProcess.run(["link", "--customer", withCertificate.uuidString, "--source", "berlingroup",
                                                          "--bank-url", bank.baseURL], environment: environment)
                #expect(link.status == 0, "\(link.stderr)")
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM consent_links") == 1)
                // Without a certificate the bank refuses the consent request: no link is made.
                let refused = try await BankSyncProcess.run(["link", "--customer", without.uuidString, "--source", "berlingroup",
                                                             "--bank-url", bank.baseURL], environment: environment)
                #expect(refused.status != 0, "\(refused.stdout)")
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM consent_links") == 1)
            }
        }
    }
}

/// Two certificate authorities made with openssl for one test: one signs the bank's server certificate (for
/// 127.0.0.1), the other the customer's client certificate, which the bank requires.
struct TestPKI {
    let folder: URL
    var serverCA: String { folder.appendingPathComponent("server-ca.pem").path }
    var serverCertificate: String { folder.appendingPathComponent("server.pem").path }
    var serverKey: String { folder.appendingPathComponent("server.key").path }
    var clientCA: String { folder.appendingPathComponent("client-ca.pem").path }
    var clientCertificate: String { folder.appendingPathComponent("client.pem").path }
    var clientKey: String { folder.appendingPathComponent("client.key").path }

    static func make() async throws -> TestPKI {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let pki = TestPKI(folder: folder)
        let path = folder.path
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(path)/server.ext", atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test bank CA", "-keyout", "\(path)/server-ca.key", "-out", pki.serverCA],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", pki.serverKey, "-out", "\(path)/server.csr"],
            ["x509", "-req", "-in", "\(path)/server.csr", "-CA", pki.serverCA, "-CAkey", "\(path)/server-ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "\(path)/server.ext", "-out", pki.serverCertificate],
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test QTSP", "-keyout", "\(path)/client-ca.key", "-out", pki.clientCA],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=BankSync test TPP", "-keyout", pki.clientKey, "-out", "\(path)/client.csr"],
            ["x509", "-req", "-in", "\(path)/client.csr", "-CA", pki.clientCA, "-CAkey", "\(path)/client-ca.key", "-CAcreateserial",
             "-days", "2", "-out", pki.clientCertificate],
        ]
        for step in steps {
            let outcome = try await BankSyncProcess.runTool("/usr/bin/openssl", step, environment: ProcessInfo.processInfo.environment)
            guard outcome.status == 0 else { throw E2EError.setup("openssl \(step.joined(separator: " ")): \(outcome.stderr)") }
        }
        return pki
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}
