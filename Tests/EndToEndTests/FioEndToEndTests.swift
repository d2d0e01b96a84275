import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

/// Fio banka end to end, through the real `banksync` processes: registration with a sealed token, the 90-day first
/// sync, `link --source fio` with the merchant's confirmation on standard input and the authorised 730-day
/// backfill, two `sync` processes and `serve`'s priority syncs at once, daily runs, a key rotation — every movement
/// at Flowpay exactly once, the bank never called twice for the token within its interval (its own log), and the
/// token in no output of any process.
@Suite struct FioEndToEndTests {
    static let interval = "500ms"

    @Test func fioFromRegistrationToDailyRunsWithItsRules() async throws {
        try await EndToEnd.with { e2e in
            let fio = FioSandboxState(interval: .milliseconds(500), today: e2e.today)
            let token = "e2eFio" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
            await fio.addAccount(token: token, accountID: "2900233061", seed: 33)
            let (fioPort, fioServer) = try await startServer(router: FioSandbox.router(state: fio), name: "e2e-fio")
            defer { fioServer.cancel() }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fio-e2e-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let tokenFile = directory.appendingPathComponent("token").path
            try (token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            var environment = e2e.environment
            environment["FIO_API_URL"] = "http://127.0.0.1:\(fioPort)/v1/rest"
            environment["FIO_MIN_INTERVAL"] = Self.interval
            environment["BANKSYNC_SECRETS_KEY"] = key
            var outputs: [String] = []
            func run(_ arguments: [String], _ env: [String: String]? = nil, stdin: String? = nil) async throws -> BankSyncProcess.Outcome {
                let outcome = try await Self.run(arguments, environment: env ?? environment, stdin: stdin)
                outputs.append(outcome.stdout + outcome.stderr)
                return outcome
            }
            let customer = UUID()
            let id = customer.uuidString.lowercased()

            // Registration: the key is required and checked; the token only ever read from its file.
            var noKey = environment
            noKey["BANKSYNC_SECRETS_KEY"] = nil
            let refused = try await run(["customers", "add", "--flowpay-id", id, "--merchant-id", "fio-m", "--source", "fio", "--token-file", tokenFile], noKey)
            #expect(refused.status == 2 && refused.stderr.contains("BANKSYNC_SECRETS_KEY"))
            var badKey = environment
            badKey["BANKSYNC_SECRETS_KEY"] = "c2hvcnQ="
            #expect(try await run(["customers", "add", "--flowpay-id", id, "--merchant-id", "fio-m", "--source", "fio", "--token-file", tokenFile], badKey).status == 2)
            let added = try await run(["customers", "add", "--flowpay-id", id, "--merchant-id", "fio-m", "--source", "fio", "--token-file", tokenFile])
            #expect(added.status == 0, "\(added.stderr)")
            #expect(try await run(["customers", "add", "--help"]).stdout.contains("fio"))
            _ = try await run(["customers", "list"])
            _ = try await run(["customers", "show", id])

            let keyless = try await run(["sync"], noKey)
            #expect(keyless.status == 2 && keyless.stderr.contains("BANKSYNC_SECRETS_KEY"), "a run with Fio customers needs the key")
            // The first sync: 90 days.
            let first = try await run(["sync"])
            #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
            // The holder authorises in Internetbanking (the sandbox's control), confirms, and link reads 730 days.
            #expect(await fio.authorise(token: token))
            let link = try await run(["link", "--source", "fio", "--customer", id, "--history-days", "730", "--piece-days", "366"], stdin: "done\n")
            #expect(link.status == 0, "\(link.stdout)\(link.stderr)")
            #expect(link.stdout.contains("Internetbanking") && link.stdout.contains("[cs]") && link.stdout.contains("[en]"))

            // Two sync processes and serve's priority syncs at once, for one token.
            let serve = try Self.startServe(environment)
            let connection = try e2e.connect()
            defer { connection.close() }
            let shared = environment
            async let one = Self.runs(3, ["sync", "--customer", id], shared)
            async let two = Self.runs(3, ["sync", "--customer", id], shared)
            for _ in 0..<6 {
                try connection.execute("UPDATE customers SET priority_sync_at = now()")
                try await Task.sleep(for: .milliseconds(300))
            }
            let loops = try await one + two
            outputs += loops.map { $0.stdout + $0.stderr }
            #expect(loops.allSatisfy { $0.status == 0 }, "\(loops.map(\.stderr))")
            kill(serve.0.processIdentifier, SIGTERM)
            let serveOutcome = await BankSyncProcess.finish(serve.0, serve.1, serve.2)
            outputs.append(serveOutcome.stdout + serveOutcome.stderr)

            // Daily runs.
            var last = e2e.today
            for day in 1...2 {
                last = e2e.today.adding(days: day)
                await fio.setToday(last)
                var env = environment
                env["BANKSYNC_TODAY"] = last.description
                await e2e.flowpay.setToday(last)
                let daily = try await run(["sync", "--min-interval", "0"], env)
                #expect(daily.status == 0, "\(daily.stderr)")
            }
            // Rotation: every token re-sealed; the old key no longer opens it, the new one does.
            let newKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            var rotating = environment
            rotating["BANKSYNC_SECRETS_NEW_KEY"] = newKey
            let rotated = try await run(["secrets", "rotate"], rotating)
            #expect(rotated.status == 0 && rotated.stdout.contains("1 stored token"), "\(rotated.stderr)")
            environment["BANKSYNC_SECRETS_KEY"] = newKey
            environment["BANKSYNC_TODAY"] = last.description
            #expect(try await run(["sync", "--min-interval", "0"]).status == 0)

            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            let expected = await fio.movementCount(token: token, from: e2e.today.adding(days: -730), to: last)
            #expect(stored == expected)
            #expect(received == expected && distinct == expected, "every movement at Flowpay exactly once")
            let lag = try await run(["lag", "--format", "csv"])
            #expect(lag.stdout.contains("fio-m") && lag.stdout.contains("fio"))

            let calls = await fio.calls(of: token)
            // At least the sequential ones: the first sync, link's two pieces, two daily runs and the last run (how many of
            // the concurrent runs found the customer free depends on scheduling).
            #expect(calls.count >= 6)
            #expect(calls.allSatisfy { $0.status == 200 }, "no 409: the interval was kept across processes")
            let gap = try #require(await fio.shortestGap(of: token))
            #expect(gap >= .milliseconds(500))
            for output in outputs { #expect(!output.contains(token), "the token appeared in an output") }
        }
    }

    /// `customers import` takes a Fio customer's token file path as its reference: the token is sealed, never stored
    /// or shown in clear; without the key the import stops at once (exit 2) naming the setting.
    @Test func importSealsFioTokensFromTheirFiles() async throws {
        try await EndToEnd.with { e2e in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fio-import-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let token = "importFio" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
            let tokenFile = directory.appendingPathComponent("m-1.token").path
            try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let csv = directory.appendingPathComponent("customers.csv").path
            try "flowpay_customer_id,merchant_id,source,reference\n\(UUID().uuidString),fio-import-1,fio,\(tokenFile)\n"
                .write(toFile: csv, atomically: true, encoding: .utf8)
            let noKey = try await e2e.run(["customers", "import", csv])
            #expect(noKey.status == 2 && noKey.stderr.contains("BANKSYNC_SECRETS_KEY"))
            var environment = e2e.environment
            environment["BANKSYNC_SECRETS_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let imported = try await BankSyncProcess.run(["customers", "import", csv], environment: environment)
            #expect(imported.status == 0 && imported.stdout.contains("imported 1 customer"), "\(imported.stderr)")
            let listed = try await BankSyncProcess.run(["customers", "list"], environment: environment)
            #expect(listed.stdout.contains("fio:"))
            for output in [noKey, imported, listed] { #expect(!(output.stdout + output.stderr).contains(token)) }
            let connection = try e2e.connect()
            defer { connection.close() }
            let sealed = try connection.queryValue(String.self, "SELECT encode(sealed, 'escape') FROM customer_secrets")
            #expect(!sealed.contains(token), "sealed at rest")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM customers WHERE source_ref LIKE '%' || $1 || '%'", [token]) == 0)
        }
    }

    /// `banksync` with `stdin` fed to it (the merchant's confirmation for `link`).
    static func run(_ arguments: [String], environment: [String: String], stdin: String?) async throws -> BankSyncProcess.Outcome {
        guard let stdin else { return try await BankSyncProcess.run(arguments, environment: environment) }
        let process = Process()
        process.executableURL = BankSyncProcess.executable
        process.arguments = arguments
        var env = environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"]
        process.environment = env
        process.currentDirectoryURL = BankSyncProcess.packageRoot
        let input = Pipe(), out = Pipe(), err = Pipe()
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        // A child that exits before reading its input must not take the test down with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        try process.run()
        try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8))
        try? input.fileHandleForWriting.close()
        return await BankSyncProcess.finish(process, out, err)
    }

    static func runs(_ count: Int, _ arguments: [String], _ environment: [String: String]) async throws -> [BankSyncProcess.Outcome] {
        var outcomes: [BankSyncProcess.Outcome] = []
        for _ in 0..<count { outcomes.append(try await BankSyncProcess.run(arguments, environment: environment)) }
        return outcomes
    }

    static func startServe(_ environment: [String: String]) throws -> (Process, Pipe, Pipe) {
        let port = FreePort.pick(pair: true)
        var env = environment
        env["BANKSYNC_LISTEN"] = "127.0.0.1:\(port)"
        env["BANKSYNC_METRICS_LISTEN"] = "127.0.0.1:\(port + 1)"
        env["BANKSYNC_PRIORITY_SYNC_POLL"] = "1s"
        return try BankSyncProcess.start(["serve"], environment: env)
    }
}
