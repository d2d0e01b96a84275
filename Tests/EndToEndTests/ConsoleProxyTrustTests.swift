import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// The console believes forward-auth headers only from its own proxy list (`BANKSYNC_CONSOLE_TRUSTED_PROXIES`),
/// never from the public API's ingress list (`BANKSYNC_TRUSTED_PROXIES`): a peer trusted to name a client for rate
/// limits must not be able to name an approver.
@Suite struct ConsoleProxyTrustTests {
    @Test func theIngressListNamesNoConsoleUserAndTheConsoleListDoes() async throws {
        try await EndToEnd.with { e2e in
            for (setting, signedIn) in [("BANKSYNC_TRUSTED_PROXIES", false), ("BANKSYNC_CONSOLE_TRUSTED_PROXIES", true)] {
                let consolePort = FreePort.pick()
                let status = try await ServeHarness.with(e2e, extraEnvironment: ["BANKSYNC_CONSOLE_LISTEN": "127.0.0.1:\(consolePort)",
                                                                                 setting: "127.0.0.1/32"]) { serve in
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(consolePort)/console")
                    request.headers.add(name: "X-Forwarded-User", value: "mallory")
                    request.headers.add(name: "X-Forwarded-Groups", value: "banksync-approver")
                    let response = try await serve.http.execute(request, timeout: .seconds(20))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    return Int(response.status.code)
                }
                #expect((status == 200) == signedIn, "\(setting): \(status)")
            }
            let bad = try await BankSyncProcess.run(["serve"], environment: e2e.environment.merging(
                ["BANKSYNC_CONSOLE_LISTEN": "127.0.0.1:\(FreePort.pick())", "BANKSYNC_CONSOLE_TRUSTED_PROXIES": "not-a-cidr"]) { $1 })
            #expect(bad.status == 2 && bad.stderr.contains("BANKSYNC_CONSOLE_TRUSTED_PROXIES"), "\(bad.stderr)")
        }
    }
}
