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
        abstract: "Ingest synthetic transactions all-new, all-duplicate and 10%-new, beside plain COPY limits.")

    @Option(help: "Accounts.") var accounts = 500
    @Option(help: "Transactions per account (spread over --days booking days).") var perAccount = 2000
    @Option(help: "Booking days per account.") var days = 700

    func run() async throws {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            throw ValidationError("DATABASE_URL is not set (Benchmarks/ingest starts a throwaway server)")
        }
        let data = SyntheticHistory(accounts: accounts, perAccount: perAccount, days: days)
        print("ingest benchmark: \(data.total) transactions, \(accounts) accounts, \(days) booking days; PostgreSQL \(try serverVersion(url))")
        print(pad("phase", 34) + pad("rows/s", 12) + pad("seconds", 10) + "peak RSS")

        let limitIndexed = try await measure("COPY limit, unique index") { try await data.plainCopy(url, indexes: .dedupOnly) }
        _ = try await measure("COPY limit, no index") { try await data.plainCopy(url, indexes: .none) }
        let limitTable = try await measure("COPY limit, transactions' indexes") { try await data.plainCopy(url, indexes: .likeTransactions) }

        let store = try await freshStore(url, database: "bench_ingest")
        let accountRefs = try data.createAccounts(store)
        let allNew = try await measure("ingest, all new") { try await data.ingest(store, accountRefs, keep: { _ in true }) }
        let duplicates = try await measure("ingest, all duplicates") { try await data.ingest(store, accountRefs, keep: { _ in true }) }

        let partial = try await freshStore(url, database: "bench_ingest_partial")
        let partialRefs = try data.createAccounts(partial)
        _ = try await data.ingest(partial, partialRefs, keep: { $0 % 10 != 0 })
        let tenPercent = try await measure("ingest, 10% new") { try await data.ingest(partial, partialRefs, keep: { _ in true }) }

        print("""

            all new        = \(percent(allNew, limitIndexed)) of the indexed-COPY limit (target ≥ 70%), \(percent(allNew, limitTable)) of COPY into a table with transactions' indexes
            all duplicates = \(percent(duplicates, limitIndexed)) of the indexed-COPY limit (target > 100%)
            10% new        = \(percent(tenPercent, limitIndexed)) of the indexed-COPY limit (target > 100%)
            """)
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
        let store = Store(connection: try PostgresConnection.connect(url + " dbname=\(database)"))
        let sql = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("sql")
        _ = try await Migrator(migrations: try Migration.load(from: sql)).migrate(store.connection)
        return store
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
