import Aggregators
import AsyncHTTPClient
import Foundation
import Logging
import Store
import Testing
import TestSupport
@testable import PullAPI

/// The consent callback reaches a Berlin Group bank as the customer's stored settings describe it: with the
/// client certificate and key for a bank that requires mutual TLS, not from the base URL alone.
@Suite struct ConsentCallbackBankTests {
    static let settings = #"{"baseURL": "http://127.0.0.1:1/xs2a", "clientCertificate": "/etc/banksync/qwac-missing.pem", "clientKey": "/etc/banksync/qwac-missing.key", "stableTransactionIds": true}"#

    @Test func theCallbacksBankConfigurationCarriesTheStoredCertificate() async throws {
        try await TestDatabase.with { database in
            let store = Store(connection: try database.connect())
            defer { store.connection.close() }
            _ = try await Migrator(migrations: try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))).migrate(store.connection)
            let state = Store.newLinkState()
            try store.createConsentLink(flowpayCustomerID: UUID(), merchantID: "m-mtls", source: .berlingroup, sourceRef: "consent-mtls",
                                        sourceConfig: Self.settings, historyDays: 90, state: state)
            let link = try #require(try store.consentLink(state: state))
            let configuration = try ConsentCallbacks.berlinGroupConfiguration(link)
            #expect(configuration.baseURL == "http://127.0.0.1:1/xs2a")
            #expect(configuration.consentID == "consent-mtls")
            #expect(configuration.clientCertificatePath == "/etc/banksync/qwac-missing.pem")
            #expect(configuration.clientKeyPath == "/etc/banksync/qwac-missing.key")
            #expect(configuration.stableTransactionIDs)

            // And the callback uses it: it loads the certificate before it asks the bank (here the file is missing,
            // which it says, instead of asking the bank without one).
            let pool = ConnectionPool(connectionString: database.connectionString, size: 1)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let callbacks = ConsentCallbacks(pool: pool, goCardless: nil, http: http, logger: Logger(label: "test"))
            var refusal: (any Error)?
            do { _ = try await callbacks.readConsent(link) } catch { refusal = error }
            try await http.shutdown()
            await pool.close()
            guard case SourceError.unauthorised(let detail)? = refusal as? SourceError else {
                Issue.record("expected the certificate to be loaded, got \(String(describing: refusal))")
                return
            }
            #expect(detail.contains("qwac-missing.pem"))
        }
    }
}
