import ArgumentParser
import BankSyncCore
import Foundation
import Postgres
import Store

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "banksync-bench",
        abstract: "Release-mode benchmarks against a real PostgreSQL (DATABASE_URL). Not tests: they print figures.",
        subcommands: [IngestBenchmark.self])
}

struct IngestBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest synthetic transactions all-new, all-duplicate and 10%-new, beside plain COPY limits.",
        discussion: """
            With BENCH_DLT=1 it then measures dlt loading the same rows into the same server in the same modes \
            (merge on BankSync's natural dedup key), from the venv Benchmarks/lib/dlt-venv builds (BENCH_DLT_PYTHON).
            """)

    @Option(help: "Accounts.") var accounts = 500
    @Option(help: "Transactions per account (spread over --days booking days).") var perAccount = 2000
    @Option(help: "Booking days per account.") var days = 700
    @Option(help: "Runs of every phase; the summary uses each phase's median (single runs vary by ±15% on 2 cores).")
    var runs = 3
    @Option(help: "With BENCH_DLT=1: runs of dlt's three modes (dlt is about 10x slower, so once by default).")
    var dltRuns = 1

    func run() async throws {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            throw ValidationError("DATABASE_URL is not set (Benchmarks/ingest starts a throwaway server)")
        }
        guard runs >= 1, dltRuns >= 1 else { throw ValidationError("--runs and --dlt-runs must be at least 1") }
        let data = SyntheticHistory(accounts: accounts, perAccount: perAccount, days: days)
        print("ingest benchmark: \(data.total) transactions, \(accounts) accounts, \(days) booking days, \(runs) run(s); PostgreSQL \(try serverVersion(url))")
        var rates: [Phase: [Double]] = [:]
        for run in 1...runs {
            print("\nrun \(run)\n" + pad("phase", 34) + pad("rows/s", 12) + pad("seconds", 10) + "peak RSS")
            for (phase, rate) in try await runOnce(data, url) { rates[phase, default: []].append(rate) }
        }
        let median = rates.mapValues(Self.median)
        let dlt = ProcessInfo.processInfo.environment["BENCH_DLT"] == "1" ? measureDlt(data, url) : nil
        let limit = median[.limitIndexed]!
        print("""

            medians of \(runs) run(s), rows/s: indexed-COPY limit \(Int(limit)), unindexed \(Int(median[.limitUnindexed]!)), \
            with transactions' indexes \(Int(median[.limitTable]!))
            all new        = \(Int(median[.allNew]!)) rows/s, \(percent(median[.allNew]!, limit)) of the indexed-COPY limit (target ≥ 90%, issue 14), \
            \(percent(median[.allNew]!, median[.limitTable]!)) of COPY into a table with transactions' indexes
            all duplicates = \(Int(median[.duplicates]!)) rows/s, \(percent(median[.duplicates]!, limit)) of the indexed-COPY limit (target ≥ 200%)
            10% new        = \(Int(median[.tenPercentNew]!)) rows/s, \(percent(median[.tenPercentNew]!, limit)) of the indexed-COPY limit (target ≥ 120%, issue 32)
            """)
        if let dlt { printDltSummary(dlt, banksync: median) }
        if ProcessInfo.processInfo.environment["BENCH_DLT"] == "1", dlt == nil { throw ExitCode.failure }
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// dlt's runs per mode, or nil (with the reason printed) when dlt could not be measured: BankSync's figures stand.
    func measureDlt(_ data: SyntheticHistory, _ url: String) -> [DltComparison.Mode: [DltComparison.Load]]? {
        do {
            return try DltComparison(history: data, url: url, environment: ProcessInfo.processInfo.environment).measure(runs: dltRuns)
        } catch {
            print("\ndlt: not measured: \(error)")
            return nil
        }
    }

    func printDltSummary(_ dlt: [DltComparison.Mode: [DltComparison.Load]], banksync median: [Phase: Double]) {
        let phases: [(DltComparison.Mode, Phase)] = [(.allNew, .allNew), (.duplicates, .duplicates), (.tenPercentNew, .tenPercentNew)]
        let peak = dlt.values.joined().map(\.peakRSSMegabytes).max() ?? -1
        print("dlt (merge on account + the 9 fingerprint fields + occurrence ordinal), median of \(dltRuns) run(s), peak RSS \(peak) MB:")
        for (mode, phase) in phases {
            let rate = Self.median(dlt[mode, default: []].map(\.rate))
            print("  " + pad(mode.rawValue, 15) + "= \(Int(rate)) rows/s; BankSync/dlt = "
                + String(format: "%.1f", median[phase]! / rate) + "x (target >= 10x)")
        }
    }

    enum Phase: Hashable { case limitIndexed, limitUnindexed, limitTable, allNew, duplicates, tenPercentNew }

    /// Every phase once, on fresh databases; rows/s per phase.
    func runOnce(_ data: SyntheticHistory, _ url: String) async throws -> [Phase: Double] {
        var rates: [Phase: Double] = [:]
        rates[.limitIndexed] = try await measure("COPY limit, unique index") { try await data.plainCopy(url, indexes: .dedupOnly) }
        rates[.limitUnindexed] = try await measure("COPY limit, no index") { try await data.plainCopy(url, indexes: .none) }
        rates[.limitTable] = try await measure("COPY limit, transactions' indexes") { try await data.plainCopy(url, indexes: .likeTransactions) }

        let store = try await freshStore(url, database: "bench_ingest")
        defer { store.connection.close() }
        let accountRefs = try await data.createAccounts(store)
        rates[.allNew] = try await measure("ingest, all new") { try await data.ingest(store, accountRefs, keep: { _ in true }) }
        rates[.duplicates] = try await measure("ingest, all duplicates") { try await data.ingest(store, accountRefs, keep: { _ in true }) }

        let partial = try await freshStore(url, database: "bench_ingest_partial")
        defer { partial.connection.close() }
        let partialRefs = try await data.createAccounts(partial)
        _ = try await data.ingest(partial, partialRefs, keep: { $0 % 10 != 0 })
        rates[.tenPercentNew] = try await measure("ingest, 10% new") { try await data.ingest(partial, partialRefs, keep: { _ in true }) }
        return rates
    }

    func percent(_ rate: Double, _ limit: Double) -> String { "\(Int((rate / limit * 100).rounded()))%" }

    /// Runs one phase, returns rows/s and prints a line with its peak RSS (reset before the phase).
    func measure(_ name: String, _ body: () async throws -> Int) async throws -> Double {
        resetPeakRSS()
        let start = ContinuousClock.now
        let rows = try await body()
        let elapsed = start.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(rows) / seconds
        print(pad(name, 34) + pad(String(Int(rate)), 12) + pad(String(format: "%.2f", seconds), 10) + "\(peakRSSMegabytes()) MB")
        return rate
    }

    func freshStore(_ url: String, database: String) async throws -> Store {
        let admin = try PostgresConnection.connect(url)
        defer { admin.close() }
        // Fixed benchmark database names, not outside input.
        try admin.execute("DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        try admin.execute("CREATE DATABASE \(database)")
        let store = try Store.connect(try ConnectionString.replacingDatabase(in: url, with: database))
        _ = try await Migrator(migrations: try Migration.load(from: try Self.migrationsDirectory())).migrate(store.connection)
        return store
    }

    /// `BANKSYNC_SQL_DIR`, else where `banksync` itself looks (`./sql`, beside or above the executable…).
    static func migrationsDirectory() throws -> URL {
        if let explicit = ProcessInfo.processInfo.environment["BANKSYNC_SQL_DIR"] { return URL(fileURLWithPath: explicit) }
        guard let found = Migration.defaultDirectory() else {
            throw ValidationError("no sql/ folder with migrations found: set BANKSYNC_SQL_DIR")
        }
        return found
    }

    func serverVersion(_ url: String) throws -> String {
        let connection = try PostgresConnection.connect(url)
        defer { connection.close() }
        return try connection.queryValue(String.self, "SHOW server_version")
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

/// Linux: clearing the high-water mark makes VmHWM report the peak of the next phase only.
func resetPeakRSS() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

func peakRSSMegabytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return -1 }
    return kilobytes / 1024
}
