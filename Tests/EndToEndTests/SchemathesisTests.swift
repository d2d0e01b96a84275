import AsyncHTTPClient
import Foundation
import Postgres
import Testing
import TestSupport

/// The OpenAPI spec at /openapi.yaml is kept true: schemathesis (from PyPI; scripts/test installs it) runs
/// every check against a live `banksync serve` with a valid key and must report no failures — no 5xx, every
/// response matching its schema and documented status, 405 for undeclared methods. The same live server's
/// /metrics is checked against what the sync stored.
@Suite struct SchemathesisTests {
    @Test func theLiveServerMatchesItsOpenAPISpec() async throws {
        try await EndToEnd.with { e2e in
            let customers = try await e2e.addGoCardlessCustomers(1, prefix: "st")
            let synced = try await e2e.run(["sync", "--customer", customers[0].uuidString, "--no-push"])
            #expect(synced.status == 0, "\(synced.stderr)")
            let key = try await e2e.run(["api-key", "create", "--label", "schemathesis"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(key.hasPrefix("bsk_"))
            let port = FreePort.pick(pair: true)   // serve listens on port and port + 1 (metrics)
            var environment = e2e.environment
            environment["BANKSYNC_LISTEN"] = "127.0.0.1:\(port)"
            environment["BANKSYNC_METRICS_LISTEN"] = "127.0.0.1:\(port + 1)"
            environment["BANKSYNC_API_RATE_PER_MINUTE"] = "1000000"
            environment["BANKSYNC_CLIENT_RATE_PER_MINUTE"] = "1000000"
            environment["FLOWPAY_WEBHOOK_SECRET"] = "whsec"
            let (serve, out, err) = try BankSyncProcess.start(["serve"], environment: environment)
            defer { kill(serve.processIdentifier, SIGKILL) }

            // A real merchant and a real cursor, so the feeds answer 200 with data and schemathesis checks
            // those bodies against the schema (random merchants only ever reach the 404 path).
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { Task { try? await http.shutdown() } }
            // Rows become visible to the feed once every older transaction on the server has ended (other
            // tests write concurrently), so poll until the first page has data.
            var firstPage: [String: Any] = [:]
            for _ in 0..<600 where firstPage["nextPage"] == nil {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/flowpay/v1/bank-transactions?merchantId=st-merchant-0&size=5")
                request.headers.add(name: "X-API-Key", value: key)
                if let response = try? await http.execute(request, timeout: .seconds(10)), response.status == .ok {
                    let body = try await response.body.collect(upTo: 1 << 20)
                    firstPage = (try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
                }
                if firstPage["nextPage"] == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            let cursor = try #require(firstPage["nextPage"] as? String, "the feed serves the synced merchant's transactions")
            let configuration = FileManager.default.temporaryDirectory.appendingPathComponent("schemathesis-\(UUID().uuidString).toml")
            try """
                [parameters]
                merchantId = "st-merchant-0"
                page = "\(cursor)"
                """.write(to: configuration, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: configuration) }

            let schemathesis = Process()
            // scripts/test installs it and names it in SCHEMATHESIS_BIN; otherwise it is looked up on PATH.
            let executable = ProcessInfo.processInfo.environment["SCHEMATHESIS_BIN"] ?? "schemathesis"
            schemathesis.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            schemathesis.arguments = [executable, "--config-file", configuration.path, "run", "http://127.0.0.1:\(port)/openapi.yaml",
                                      "-H", "X-API-Key: \(key)", "--checks", "all", "--max-examples", "25", "--generation-deterministic"]
            schemathesis.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory(),
                                        "NO_COLOR": "1"]
            let output = Pipe()
            schemathesis.standardOutput = output
            schemathesis.standardError = output
            try schemathesis.run()
            let text = await BankSyncProcess.onOwnThread { String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
            await BankSyncProcess.onOwnThread { schemathesis.waitUntilExit() }
            if schemathesis.terminationStatus == 127 || text.contains("No such file") {
                Issue.record("schemathesis is not installed (scripts/test installs it with pip)")
                return
            }
            #expect(schemathesis.terminationStatus == 0, "\(text.suffix(4000))")
            #expect(text.contains("7 selected / 7 total"), "every operation of the spec was tested: \(text.prefix(1500))")

            // /metrics on the same live server's metrics listener: the database gauges match what the sync stored, and the HTTP
            // latency histogram has the feed's route and status.
            let connection = try e2e.connect()
            defer { connection.close() }
            let stored = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'")
            let metrics = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port + 1)/metrics"), timeout: .seconds(10))
            #expect(metrics.status == .ok)
            let exposition = String(buffer: try await metrics.body.collect(upTo: 16 << 20))
            #expect(stored > 0)
            #expect(exposition.contains("banksync_transactions_stored \(stored).0"), "\(exposition.prefix(2000))")
            #expect(exposition.contains("banksync_transactions_waiting_to_push \(stored).0"), "synced with --no-push: all wait")
            #expect(exposition.contains(#"banksync_sync_lag_seconds{merchant="st-merchant-0"}"#))
            #expect(exposition.contains(#"banksync_consent_days_left{merchant="st-merchant-0"}"#))
            #expect(exposition.contains(#"http_route="/flowpay/v1/bank-transactions""#) && exposition.contains(#"http_response_status_code="200""#))

            // A removed customer's per-merchant series leave the exposition at the next scrape.
            try connection.execute("DELETE FROM transactions WHERE customer_id IN (SELECT id FROM customers WHERE merchant_id = 'st-merchant-0')")
            try connection.execute("DELETE FROM customers WHERE merchant_id = 'st-merchant-0'")
            let after = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port + 1)/metrics"), timeout: .seconds(10))
            let afterText = String(buffer: try await after.body.collect(upTo: 16 << 20))
            #expect(!afterText.contains(#"merchant="st-merchant-0""#), "\(afterText.prefix(2000))")
            #expect(afterText.contains("banksync_transactions_stored 0.0"), "the totals drop with the customer's accounts")

            kill(serve.processIdentifier, SIGTERM)
            let stopped = await BankSyncProcess.finish(serve, out, err)
            #expect(!stopped.stderr.contains("Fatal error"))
        }
    }
}
