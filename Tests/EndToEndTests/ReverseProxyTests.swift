import Foundation
import Testing
import TestSupport

/// `serve` behind a real reverse proxy (nginx, as an ingress would be): the per-address limit counts the client
/// the proxy saw, but believes the proxy's `X-Forwarded-For` only because the proxy is trusted
/// (`BANKSYNC_TRUSTED_PROXIES`), and an authenticated poller is never refused because of an anonymous flood from
/// its own address. Clients are played from different loopback addresses (`LoopbackClient`).
@Suite struct ReverseProxyTests {
    static let feed = "/flowpay/v1/bank-accounts?merchantId=proxied"

    @Test(.enabled(if: NginxProxy.binary != nil, "nginx is not installed and could not be: scripts/test installs Debian's nginx package"))
    func behindATrustedProxyEachClientHasItsOwnBucketAndThePollerIsNeverRefused() async throws {
        try await EndToEnd.with { e2e in
            _ = try await e2e.addGoCardlessCustomer(requisition: "proxied-req", merchant: "proxied")
            let key = try await e2e.run(["api-key", "create", "--label", "poller"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // One anonymous request a minute per client: the second one from the same client is refused, whatever the timing.
            try await ServeHarness.with(e2e, extraEnvironment: ["BANKSYNC_CLIENT_RATE_PER_MINUTE": "1",
                                                                "BANKSYNC_TRUSTED_PROXIES": "\(NginxProxy.sourceAddress)/32, fd00::/8",
                                                                "BANKSYNC_PRIORITY_SYNC_POLL": "0"]) { serve in
                try await NginxProxy.with(upstreamPort: serve.port) { proxy in
                    func viaProxy(from client: String, _ headers: [(String, String)] = []) async throws -> Int {
                        try await LoopbackClient.get(port: proxy.port, Self.feed, from: client, headers: headers)
                    }
                    // nginx appends the address it sees to X-Forwarded-For: each client is counted on its own.
                    #expect(try await viaProxy(from: "127.0.0.10") == 401)
                    #expect(try await viaProxy(from: "127.0.0.10") == 429, "the same client: one bucket")
                    #expect(try await viaProxy(from: "127.0.0.11") == 401, "another client behind the same proxy: its own bucket")
                    // What a client writes to the left of what the proxy appended changes nothing.
                    #expect(try await viaProxy(from: "127.0.0.10", [("X-Forwarded-For", "198.51.100.9")]) == 429, "a forged hop")
                    #expect(try await viaProxy(from: "127.0.0.11", [("Forwarded", "for=198.51.100.9")]) == 429, "a Forwarded header nginx passed on")
                    // A client that is not a trusted proxy cannot choose its bucket: its X-Forwarded-For is ignored.
                    #expect(try await LoopbackClient.get(port: serve.port, Self.feed, from: "127.0.0.12", headers: [("X-Forwarded-For", "198.51.100.1")]) == 401)
                    #expect(try await LoopbackClient.get(port: serve.port, Self.feed, from: "127.0.0.12", headers: [("X-Forwarded-For", "198.51.100.2")]) == 429,
                            "counted as the peer, not as its header says")
                    // An anonymous flood from the poller's own address is refused; the poller keeps getting its answers.
                    var flood: [Int] = []
                    var poller: [Int] = []
                    for _ in 0..<15 {
                        flood.append(try await viaProxy(from: "127.0.0.20"))
                        poller.append(try await viaProxy(from: "127.0.0.20", [("X-API-Key", key)]))
                    }
                    #expect(flood.dropFirst().allSatisfy { $0 == 429 }, "the flood: \(flood)")
                    #expect(poller.allSatisfy { $0 == 200 }, "the poller: \(poller)")
                }
            }
        }
    }

    /// A `BANKSYNC_TRUSTED_PROXIES` that is not a list of CIDRs stops serve at start with one line naming it (exit 2).
    @Test func aBadTrustedProxiesSettingIsAConfigurationError() async throws {
        try await EndToEnd.with { e2e in
            var environment = e2e.environment
            environment["BANKSYNC_LISTEN"] = "127.0.0.1:\(FreePort.pick(pair: true))"
            environment["BANKSYNC_METRICS_LISTEN"] = "off"
            for bad in ["10.0.0.0/33", "ingress.internal", "10.0.0.1/8", "fd00::/129"] {
                environment["BANKSYNC_TRUSTED_PROXIES"] = bad
                let (serve, out, err) = try BankSyncProcess.start(["serve"], environment: environment)
                // A serve that took the value would run on: stop it instead of waiting for ever (a bound, not a measurement).
                for _ in 0..<200 where serve.isRunning { try await Task.sleep(for: .milliseconds(50)) }
                if serve.isRunning { kill(serve.processIdentifier, SIGTERM) }
                let outcome = await BankSyncProcess.finish(serve, out, err)
                #expect(outcome.status == 2, "\(bad): \(outcome.stderr)")
                #expect(outcome.stderr.contains("BANKSYNC_TRUSTED_PROXIES") && outcome.stderr.contains(bad), "\(outcome.stderr)")
            }
        }
    }
}
