@testable import Aggregators
import AsyncHTTPClient
import BankSyncCore
import Foundation
import Sandbox
import Testing
import TestSupport

/// The clients connectors are given never follow a redirect: a bank's answer cannot take our token, consent
/// id or client certificate to another host, nor hand us another host's data as the bank's.
@Suite struct RedirectTests {
    @Test func aGoCardlessRedirectToAnotherPortIsNotFollowed() async throws {
        try await SandboxPeers.with { peers in
            // The same GoCardless world on a second port: a followed redirect would be answered there, with data.
            let (otherPort, other) = try await startServer(router: GoCardlessSandbox.router(state: peers.goCardless, publicURL: { "http://127.0.0.1" }),
                                                           name: "gc-elsewhere")
            defer { other.cancel() }
            let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
            let elsewhere = "http://127.0.0.1:\(otherPort)/api/v2/accounts/\(accounts[1])/balances/"
            try await peers.goCardlessControl(#"{"faultAccount": "\#(accounts[0])", "faultScope": "balances", "faultStatus": 302, "faultLocation": "\#(elsewhere)"}"#)
            // The client SourceFactory gives every GoCardless customer.
            let http = peers.goCardlessConfiguration.makeHTTPClient()
            let source = GoCardlessSource(client: GoCardlessClient(configuration: peers.goCardlessConfiguration, httpClient: http),
                                          requisitionID: "sandbox-req-1")
            let snapshot: SourceSnapshot
            do { snapshot = try await source.accounts() } catch {
                try await http.shutdown()
                throw error
            }
            try await http.shutdown()
            let account = try #require(snapshot.accounts.first { $0.account.sourceAccountID == accounts[0] })
            #expect(account.account.balances.isEmpty, "another account's balances, fetched elsewhere with our token, are not taken")
            let reason = try #require(account.missing.first?.reason)
            #expect(reason.description.contains("redirect") && reason.description.contains("not followed"), "\(reason)")
        }
    }

    @Test func aBerlinGroupBanksClientDoesNotFollowARedirect() async throws {
        try await SandboxPeers.with { peers in
            // The client SourceFactory gives a Berlin Group bank, sent to the (answering) Berlin Group sandbox on another port.
            let http = try BerlinGroupConfiguration(baseURL: peers.goCardlessURL, consentID: "sandbox-consent-1").makeHTTPClient()
            let target = peers.berlinGroupURL + "/v1/consents/sandbox-consent-1/status"
            var refusal: SourceError?
            do {
                let response = try await SourceHTTP(client: http).send(.GET, peers.goCardlessURL + "/_sandbox/redirect?to=" + target,
                                                                       headers: [("X-Request-ID", UUID().uuidString), ("Consent-ID", "sandbox-consent-1")])
                Issue.record("the redirect was followed: HTTP \(response.status)")
            } catch {
                refusal = error as? SourceError
            }
            try await http.shutdown()
            #expect(refusal?.description.contains("not followed") == true, "\(String(describing: refusal))")
        }
    }
}
