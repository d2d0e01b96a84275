import ArgumentParser
import Flowpay
import Foundation
import Logging
import Store
import SyncEngine

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "One bounded sync run: pull every due customer, deduplicate, push what is new to Flowpay.",
        discussion: "Safe to run from several machines at once. Exit 0: all synced; 1: some customers failed; 2: configuration error; 3: could not run. Example: banksync sync --concurrency 8 --min-interval 0 --customer 0f8e…")

    @Option(help: "Customers synced at the same time: a number, or auto (start at 32 and follow the aggregator's latency and throttling between 4 and --max-concurrency).")
    var concurrency = "auto"

    @Option(help: "With --concurrency auto: the most customers synced at once (each holds a database connection; never more than the server has free, less 5).")
    var maxConcurrency = 128

    @Option(help: "Lease per customer, e.g. 10m or 600s: only a backstop for a worker that hangs while connected.")
    var lease = "10m"

    @Option(help: "Skip customers whose last sync finished less than this long ago, e.g. 1h or 0 (--customer always syncs).")
    var minInterval = "1h"

    @Option(help: "Days re-read before each account's watermark.")
    var overlapDays = 7

    @Option(help: "Only this customer (Flowpay customer id).")
    var customer: String?

    @Flag(help: "Pull and store only; do not push to Flowpay.")
    var noPush = false

    @Option(help: "Make this run's windows reach this many days back for every account (late bookings after an incident).")
    var rescanDays: Int?

    @Option(help: "How often each account's window reaches --rescan-depth days back, e.g. 7d; 0 turns periodic deep re-reads off.")
    var rescanEvery = "7d"

    @Option(help: "Days a periodic deep re-read reaches back.")
    var rescanDepth = 35

    @Option(help: "A first sync longer than this many days is fetched and committed in pieces of this size, oldest first (each piece is one read of the account).")
    var backfillPieceDays = CustomerSync.defaultBackfillPieceDays

    func run() async throws {
        let summary = try await reportingErrors { () async throws -> SyncRun.Summary in
            var options = SyncRun.Options()
            guard (1...1_000).contains(maxConcurrency) else { throw ConfigError(setting: "--max-concurrency", problem: "must be 1…1000") }
            if concurrency == "auto" {
                options.adaptive = ConcurrencyController.Bounds(initial: min(32, maxConcurrency), minimum: min(4, maxConcurrency),
                                                                maximum: maxConcurrency)
            } else {
                guard let fixed = Int(concurrency), fixed >= 1 else {
                    throw ConfigError(setting: "--concurrency", problem: "'\(concurrency)' is not auto or a number of at least 1")
                }
                options.concurrency = fixed
            }
            guard let leaseDuration = parseDuration(lease) else { throw ConfigError(setting: "--lease", problem: "'\(lease)' is not a duration like 10m") }
            options.lease = leaseDuration
            guard let interval = parseDuration(minInterval) else {
                throw ConfigError(setting: "--min-interval", problem: "'\(minInterval)' is not a duration like 1h")
            }
            options.minInterval = interval
            guard (0...60).contains(overlapDays) else { throw ConfigError(setting: "--overlap-days", problem: "must be 0…60") }
            options.overlapDays = overlapDays
            if let customer {
                guard let id = UUID(uuidString: customer) else { throw ConfigError(setting: "--customer", problem: "'\(customer)' is not a UUID") }
                options.only = id
            }
            options.today = try ClockSettings.load().fixedToday
            guard (1...730).contains(rescanDepth) else { throw ConfigError(setting: "--rescan-depth", problem: "must be 1…730") }
            guard let every = parseDuration(rescanEvery), every == .zero || every >= .seconds(86_400) else {
                throw ConfigError(setting: "--rescan-every", problem: "'\(rescanEvery)' is not 0 or a duration of a day or more, like 7d")
            }
            options.rescan.days = every == .zero ? 0 : rescanDepth
            options.rescan.every = every == .zero ? .seconds(86_400) : every
            guard (30...730).contains(backfillPieceDays) else {
                throw ConfigError(setting: "--backfill-piece-days", problem: "must be 30…730")
            }
            options.backfillPieceDays = backfillPieceDays
            if let rescanDays {
                guard (1...730).contains(rescanDays) else { throw ConfigError(setting: "--rescan-days", problem: "must be 1…730") }
                options.rescan.forcedDays = rescanDays
            }
            let database = try DatabaseSettings.load()
            let flowpayConfiguration = noPush ? nil : try FlowpaySettings.load()
            let vault = try FioSettings.vault(required: false)
            if vault == nil { try FioSettings.requireKeyForFioCustomers(database) }
            let sources = SourceFactory(goCardless: try GoCardlessSettings.load(), fio: try FioSettings.load(), vault: vault,
                                        goCardlessConnections: max(64, 3 * (options.adaptive?.maximum ?? options.concurrency)))
            let http = flowpayConfiguration.map(FlowpayClient.makeHTTPClient)
            var flowpay: FlowpayClient?
            if let flowpayConfiguration, let http { flowpay = FlowpayClient(configuration: flowpayConfiguration, http: http) }
            let logger = Logger(label: "banksync.sync")
            let progress = ProgressDisplay()
            defer { progress.finish() }
            let run = SyncRun(connectionString: database.connectionString, sources: sources, flowpay: flowpay, options: options, logger: logger)
            let summary: SyncRun.Summary
            do {
                summary = try await run.run { done, total, outcome in
                    progress.update(done: done, total: total, outcome: outcome)
                    var metadata: Logger.Metadata = [
                        "customer": "\(outcome.flowpayCustomerID.uuidString.lowercased())", "accounts": "\(outcome.accounts)", "new": "\(outcome.newTransactions)",
                        "duplicates": "\(outcome.duplicates)", "pushed": "\(outcome.pushed)",
                    ]
                    if let problem = outcome.problem {
                        metadata["problem"] = "\(problem.code)"
                        metadata["detail"] = "\(problem.message)"
                        if !progress.isTerminal { logger.warning("customer not fully synced", metadata: metadata) }
                    } else if !progress.isTerminal {
                        logger.info("customer synced", metadata: metadata)
                    }
                }
            } catch {
                await sources.shutdown()
                try? await http?.shutdown()
                throw error
            }
            await sources.shutdown()
            try await http?.shutdown()
            return summary
        }
        let newCount = summary.outcomes.reduce(0) { $0 + $1.newTransactions }
        let pushed = summary.outcomes.reduce(0) { $0 + $1.pushed }
        print("sync run \(summary.runID): \(summary.outcomes.count) customers, \(newCount) new transactions, \(pushed) pushed, \(summary.failed.count) failed")
        if summary.customersRegistered == 0 {
            let line = "no customers are registered yet; add one with `banksync customers add …` or `banksync link …`"
            print(line)
            Logger(label: "banksync.sync").notice("no customers registered", metadata: ["run": "\(summary.runID)"])
        } else if summary.notDue > 0 {
            print("\(summary.notDue) customer\(summary.notDue == 1 ? "" : "s") not due (synced within --min-interval \(minInterval)); "
                  + "--min-interval 0 syncs them now")
            Logger(label: "banksync.sync").notice("customers not due", metadata: [
                "run": "\(summary.runID)", "not_due": "\(summary.notDue)", "min_interval": "\(minInterval)"])
        }
        if !summary.failed.isEmpty {
            for outcome in summary.failed {
                print("  failed: \(outcome.flowpayCustomerID.uuidString.lowercased()) \(outcome.problem?.code ?? "") — \(outcome.problem?.message ?? "")")
            }
            throw ExitCode(ExitStatus.partialFailure)
        }
    }
}

/// `90s`, `10m`, `26h`, `2d`.
func parseDuration(_ text: String) -> Duration? {
    guard let unit = text.last, let value = Int(text.dropLast()), value >= 0 else { return Int(text).map { .seconds($0) } }
    switch unit {
    case "s": return .seconds(value)
    case "m": return .seconds(value * 60)
    case "h": return .seconds(value * 3600)
    case "d": return .seconds(value * 86_400)
    default: return nil
    }
}
