import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// `banksync link` then the customer's trip through the bank back to `banksync serve`, and the forgeries.
@Suite struct ConsentLinkTests {
    @Test func theLinkFlowEndToEndRefusingForgedCallbacks() async throws {
        try await EndToEnd.with { e2e in
            let port = FreePort.pick(pair: true)   // serve listens on port and port + 1 (metrics)
            var environment = e2e.environment
            environment["BANKSYNC_LISTEN"] = "127.0.0.1:\(port)"
            environment["BANKSYNC_METRICS_LISTEN"] = "127.0.0.1:\(port + 1)"
            environment["BANKSYNC_PUBLIC_URL"] = "http://127.0.0.1:\(port)"
            let (serve, out, err) = try BankSyncProcess.start(["serve"], environment: environment)
            defer { kill(serve.processIdentifier, SIGTERM) }
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            defer { Task { try? await http.shutdown() } }
            func get(_ url: String) async throws -> (Int, String, String?) {
                let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
                let body = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), String(buffer: body), response.headers.first(name: "Location"))
            }
            for _ in 0..<100 {   // wait for serve
                if (try? await get("http://127.0.0.1:\(port)/healthz"))?.0 == 200 { break }
                try await Task.sleep(for: .milliseconds(50))
            }

            let customer = UUID()
            let link = try await BankSyncProcess.run(["link", "--customer", customer.uuidString, "--merchant-id", "linked-merchant",
                                                      "--source", "gocardless", "--institution", "SANDBOXFINANCE_SFIN0000", "--history-days", "365"],
                                                     environment: environment)
            #expect(link.status == 0, "\(link.stderr)")
            let bankLink = link.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let requisition = try #require(bankLink.split(separator: "/").last.map(String.init))
            let connection = try e2e.connect()
            defer { connection.close() }
            let state = try connection.queryValue(String.self, "SELECT state FROM consent_links WHERE source_ref = $1", [requisition])

            // Forged: an unknown state.
            let forged = try await get("http://127.0.0.1:\(port)/consents/gocardless/callback?ref=forged-state&status=LN")
            #expect(forged.0 == 404)
            // Counted in /metrics, never stored: anyone can send these.
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'consent_link_unknown'") == 0)
            // Tampered: a real state, but the customer never approved; the query's status is ignored.
            let early = try await get("http://127.0.0.1:\(port)/consents/gocardless/callback?ref=\(state)&status=LN")
            #expect(early.0 == 200)
            #expect(early.1.contains("Not connected"))
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM customers WHERE flowpay_customer_id = $1", [customer]) == 0)

            // The customer approves at the bank and is sent back.
            let gcURL = try #require(e2e.environment["GOCARDLESS_API_URL"])
            let approved = try await get("\(gcURL)/sandbox-consent/\(requisition)?approve=true")
            #expect(approved.0 == 302)
            let back = try #require(approved.2)
            #expect(back.hasPrefix("http://127.0.0.1:\(port)/consents/gocardless/callback"))
            let done = try await get(back)
            #expect(done.0 == 200)
            #expect(done.1.contains("Your bank is connected"))
            let row = try #require(try connection.query("""
                SELECT c.status, c.history_days, c.consent_expires_at IS NOT NULL, (SELECT count(*) FROM accounts a WHERE a.customer_id = c.id)
                FROM customers c WHERE c.flowpay_customer_id = $1
                """, [customer]).first)
            #expect(try row.decode(String.self, at: 0) == "active")
            #expect(try row.decode(Int.self, at: 1) == 365)
            #expect(try row.decode(Bool.self, at: 2))
            #expect(try row.decode(Int.self, at: 3) == 2)
            // The same redirect again is refused.
            #expect(try await get(back).0 == 409)
            kill(serve.processIdentifier, SIGTERM)
            _ = await BankSyncProcess.finish(serve, out, err)
        }
    }
}
