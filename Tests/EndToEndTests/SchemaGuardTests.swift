import AsyncHTTPClient
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// Every command that touches data refuses a database at another schema version than the build's (exit 3, one
/// line), and a running `serve` stops when the schema moves under it.
@Suite struct SchemaGuardTests {
    static let newerVersion = 9999
    static let refusal = "banksync: the database schema is at version 9999, newer than this banksync's \(Store.schemaVersionOfThisBuild)"

    /// A newer banksync migrated the database: what the old one would see.
    static func recordNewerMigration(_ e2e: EndToEnd) throws {
        let connection = try e2e.connect()
        defer { connection.close() }
        try connection.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, '9999_from_a_newer_banksync', 'x')",
                               [newerVersion])
    }

    @Test func everyGuardedCommandRefusesANewerSchema() async throws {
        try await EndToEnd.with { e2e in
            try Self.recordNewerMigration(e2e)
            let csv = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-import-\(UUID()).csv")
            try "flowpay_customer_id,merchant_id,source,reference\n\(UUID().uuidString),m-guard,gocardless,req-guard\n"
                .write(to: csv, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: csv) }
            var linkEnvironment = e2e.environment
            linkEnvironment["BANKSYNC_PUBLIC_URL"] = "http://127.0.0.1:9"
            var secretsEnvironment = e2e.environment
            secretsEnvironment["BANKSYNC_SECRETS_KEY"] = Data(repeating: 1, count: 32).base64EncodedString()
            secretsEnvironment["BANKSYNC_SECRETS_NEW_KEY"] = Data(repeating: 2, count: 32).base64EncodedString()
            let commands: [(arguments: [String], environment: [String: String])] = [
                (["prune"], e2e.environment),
                (["customers", "import", csv.path], e2e.environment),
                (["link", "--customer", UUID().uuidString, "--merchant-id", "m-guard", "--source", "gocardless",
                  "--institution", "SANDBOXFINANCE_SFIN0000"], linkEnvironment),
                (["push"], e2e.environment),
                (["push", "--drop-rejected", "--reason", "guard test"], e2e.environment),
                (["sync", "--no-push"], e2e.environment),
                (["customers", "add", "--flowpay-id", UUID().uuidString, "--merchant-id", "m-guard-add", "--source", "gocardless",
                  "--requisition", "req-guard-add"], e2e.environment),
                (["customers", "list"], e2e.environment),
                (["customers", "show", UUID().uuidString], e2e.environment),
                (["customers", "remove", UUID().uuidString], e2e.environment),
                (["api-key", "create", "--label", "guard"], e2e.environment),
                (["api-key", "list"], e2e.environment),
                (["api-key", "revoke", "1"], e2e.environment),
                (["unreadable", "list"], e2e.environment),
                (["unreadable", "dismiss", "--reason", "guard test"], e2e.environment),
                (["held", "list"], e2e.environment),
                (["held", "release", "bs_guard", "--reason", "guard test"], e2e.environment),
                (["held", "merge", "bs_guard", "--reason", "guard test"], e2e.environment),
                (["lag"], e2e.environment),
                (["lag", "--interruptions"], e2e.environment),
                (["secrets", "rotate"], secretsEnvironment),
            ]
            for (arguments, environment) in commands {
                let outcome = try await BankSyncProcess.run(arguments, environment: environment)
                let command = arguments.prefix(arguments.first == "sync" || arguments.first == "lag" ? 1 : 2).joined(separator: " ")
                #expect(outcome.status == 3, "\(command): \(outcome.stderr)")
                let lines = outcome.stderr.split(separator: "\n")
                #expect(lines.count == 1 && lines.first?.hasPrefix(Self.refusal) == true, "\(command): \(outcome.stderr)")
            }
            let connection = try e2e.connect()
            defer { connection.close() }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM customers") == 0, "import and add wrote nothing")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM api_keys") == 0, "api-key create wrote nothing")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM consent_links") == 0, "link wrote nothing")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM sync_runs") == 0, "sync wrote nothing")

            // serve refuses to start: it exits before it listens (one that answers instead is a failure, and is stopped).
            let port = FreePort.pick(pair: true)
            var environment = e2e.environment
            environment["BANKSYNC_LISTEN"] = "127.0.0.1:\(port)"
            environment["BANKSYNC_METRICS_LISTEN"] = "127.0.0.1:\(port + 1)"
            let (process, out, err) = try BankSyncProcess.start(["serve"], environment: environment)
            while process.isRunning {
                let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz")
                if let answer = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)), answer.status == .ok {
                    Issue.record("serve started on a database at a newer schema")
                    process.terminate()
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let serve = await BankSyncProcess.finish(process, out, err)
            #expect(serve.status == 3, "\(serve.stderr)")
            let lines = serve.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines.first?.hasPrefix(Self.refusal) == true, "\(serve.stderr)")
        }
    }

    /// Migrated under a running serve: its private `/readyz` answers 503 with why (the public one never shows the
    /// schema version), and serve shuts down and exits non-zero for its supervisor to restart it.
    @Test func serveStopsWhenTheSchemaMovesUnderIt() async throws {
        try await EndToEnd.with { e2e in
            let port = FreePort.pick(pair: true)
            var environment = e2e.environment
            environment["BANKSYNC_LISTEN"] = "127.0.0.1:\(port)"
            environment["BANKSYNC_METRICS_LISTEN"] = "127.0.0.1:\(port + 1)"
            let (serve, out, err) = try BankSyncProcess.start(["serve"], environment: environment)
            let http = HTTPClient.shared   // process-wide, needs no shutdown
            func get(_ url: String) async throws -> (status: Int, body: String) {
                let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(20))
                return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            var up = false
            for _ in 0..<200 where serve.isRunning {
                if (try? await get("http://127.0.0.1:\(port)/healthz"))?.status == 200 { up = true; break }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard up else {
                serve.terminate()
                let outcome = await BankSyncProcess.finish(serve, out, err)
                Issue.record("serve did not start: \(outcome.stderr)")
                return
            }
            let publicReady = try await get("http://127.0.0.1:\(port)/readyz")
            #expect(publicReady.status == 200)
            #expect(!publicReady.body.contains("schema") && !publicReady.body.contains("\(Store.schemaVersionOfThisBuild)"), "\(publicReady.body)")
            let privateReady = try await get("http://127.0.0.1:\(port + 1)/readyz")
            #expect(privateReady.status == 200)
            #expect(privateReady.body.contains("\"schema\":\(Store.schemaVersionOfThisBuild)"), "\(privateReady.body)")

            try Self.recordNewerMigration(e2e)
            // Asking readiness re-reads the schema version (besides the periodic check).
            let moved = try await get("http://127.0.0.1:\(port + 1)/readyz")
            #expect(moved.status == 503)
            #expect(moved.body.contains("schema moved") && moved.body.contains("newer than this banksync"), "\(moved.body)")
            let outcome = await BankSyncProcess.finish(serve, out, err)
            #expect(outcome.status == 3, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("serve stopped: the database schema is at version 9999"), "\(outcome.stderr)")
        }
    }
}
