import BankSyncCore
import Foundation
import Postgres

/// The ingest bench's dlt comparison (BENCH_DLT=1): dlt (https://dlthub.com, PyPI `dlt[postgres]`) loads the same
/// rows into the same PostgreSQL server, in the same three modes, with write_disposition="merge" on BankSync's
/// natural dedup key: the account plus the nine fingerprint fields of `DedupKey` plus the occurrence ordinal
/// (what the stored key `SHA-256(fingerprint ‖ ordinal)` stands for; Benchmarks/lib/dlt_ingest.py names it).
///
/// The rows are written once to a JSON Lines file as they are generated; each dlt load is a separate Python
/// process (`.build/dlt-venv`, built by Benchmarks/lib/dlt-venv) that times its own `pipeline.run` and reports its
/// peak RSS. Each mode gets a fresh database, as BankSync's phases do.
struct DltComparison {
    enum Mode: String, CaseIterable {
        case allNew = "all new", duplicates = "all duplicates", tenPercentNew = "10% new"
    }

    struct Load {
        let rows: Int
        let seconds: Double
        let peakRSSMegabytes: Int
        var rate: Double { Double(rows) / seconds }
    }

    enum Failure: Error, CustomStringConvertible {
        case noPython(path: String)
        case noScript(path: String)
        case loadFailed(step: String, exitCode: Int32)
        case noResult(step: String, output: String)

        var description: String {
            switch self {
            case .noPython(let path):
                "no Python with dlt at \(path): run Benchmarks/lib/dlt-venv (Benchmarks/ingest does when BENCH_DLT=1) or set BENCH_DLT_PYTHON"
            case .noScript(let path): "the dlt loader \(path) is missing (run from the repository root or set BENCH_DLT_SCRIPT)"
            case .loadFailed(let step, let exitCode): "\(step): the dlt process exited with status \(exitCode) (its error is above)"
            case .noResult(let step, let output): "\(step): the dlt process printed no dlt-result line; it printed: \(output.suffix(500))"
            }
        }
    }

    let history: SyntheticHistory
    let url: String
    let python: String
    let script: String
    /// Holds the rows file and dlt's pipeline folders; removed at the end.
    let workDirectory: String

    init(history: SyntheticHistory, url: String, environment: [String: String]) throws {
        self.history = history
        self.url = url
        python = environment["BENCH_DLT_PYTHON"] ?? ".build/dlt-venv/bin/python"
        script = environment["BENCH_DLT_SCRIPT"] ?? "Benchmarks/lib/dlt_ingest.py"
        workDirectory = environment["BENCH_DLT_DIR"] ?? ".build/bench-dlt"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw Failure.noPython(path: python) }
        guard FileManager.default.fileExists(atPath: script) else { throw Failure.noScript(path: script) }
    }

    var rowsFile: String { workDirectory + "/rows.jsonl" }

    /// Writes the rows file, measures every mode `runs` times, and returns each mode's runs.
    func measure(runs: Int) throws -> [Mode: [Load]] {
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        let written = try history.writeJSONLines(to: rowsFile)
        print("\ndlt: \(written) rows written to \(rowsFile); merge on (account, the 9 fingerprint fields, occurrence ordinal); "
            + "each mode measured \(runs) time(s) (--dlt-runs; dlt is about 10x slower, so once by default)")
        var loads: [Mode: [Load]] = [:]
        for run in 1...runs {
            print("\ndlt run \(run)\n" + pad("phase", 34) + pad("rows/s", 12) + pad("seconds", 10) + "peak RSS")
            for (mode, load) in try runOnce() { loads[mode, default: []].append(load) }
        }
        return loads
    }

    func runOnce() throws -> [Mode: Load] {
        var loads: [Mode: Load] = [:]
        let full = try freshDatabase("bench_dlt")
        loads[.allNew] = try load("dlt, all new", database: full, pipelines: "all", fresh: true)
        loads[.duplicates] = try load("dlt, all duplicates", database: full, pipelines: "all", fresh: false)
        let partial = try freshDatabase("bench_dlt_partial")
        _ = try load("dlt, 90% preload (not a figure)", database: partial, pipelines: "partial", fresh: true, skipEveryTenth: true)
        loads[.tenPercentNew] = try load("dlt, 10% new", database: partial, pipelines: "partial", fresh: false)
        return loads
    }

    /// One dlt process; prints the phase's line like BankSync's phases.
    func load(_ step: String, database: String, pipelines: String, fresh: Bool, skipEveryTenth: Bool = false) throws -> Load {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "--rows-file", rowsFile, "--per-account", String(history.perAccount),
                             "--pipelines-dir", workDirectory + "/pipelines-" + pipelines]
            + (fresh ? ["--fresh"] : []) + (skipEveryTenth ? ["--skip-every-tenth"] : [])
        // The connection goes through the environment (the script hands it to dlt's own configuration), never argv.
        process.environment = ProcessInfo.processInfo.environment.merging(["BENCH_DLT_DATABASE_URL": database]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure.loadFailed(step: step, exitCode: process.terminationStatus) }
        guard let line = printed.split(separator: "\n").last(where: { $0.hasPrefix("dlt-result ") }),
              let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst("dlt-result ".count).utf8)) as? [String: Any],
              let rows = object["rows"] as? Int, let seconds = object["seconds"] as? Double,
              let peakKilobytes = object["peak_rss_kb"] as? Int else {
            throw Failure.noResult(step: step, output: printed)
        }
        let load = Load(rows: rows, seconds: seconds, peakRSSMegabytes: peakKilobytes / 1024)
        print(pad(step, 34) + pad(String(Int(load.rate)), 12) + pad(String(format: "%.2f", seconds), 10) + "\(load.peakRSSMegabytes) MB")
        return load
    }

    /// Drops and creates the database; returns its conninfo.
    func freshDatabase(_ name: String) throws -> String {
        let admin = try PostgresConnection.connect(url)
        defer { admin.close() }
        // Fixed benchmark database names, not outside input.
        try admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try admin.execute("CREATE DATABASE \(name)")
        return try ConnectionString.replacingDatabase(in: url, with: name)
    }
}

extension SyntheticHistory {
    /// Every row as one JSON object a line, account by account (`perAccount` lines each, in index order), written
    /// as generated: one account's lines in memory at a time. The occurrence ordinal is counted per account the way
    /// `WindowKeys` counts it. Returns the rows written.
    func writeJSONLines(to path: String) throws -> Int {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let file = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? file.close() }
        var written = 0
        for account in 0..<accounts {
            var occurrences: [[UInt8]: Int] = [:]
            var lines = ""
            lines.reserveCapacity(perAccount * 400)
            for index in 0..<perAccount {
                let transaction = transaction(account: account, index: index)
                let fingerprint = DedupKey.fingerprint(transaction)
                let occurrence = (occurrences[fingerprint] ?? 0) + 1
                occurrences[fingerprint] = occurrence
                // Key fields absent from a transaction are "" as in the fingerprint (dlt's key columns are NOT NULL).
                lines += "{\"account_id\":\(account),\"status\":\(json(transaction.status.rawValue))"
                    + ",\"booking_date\":\(json(transaction.bookingDate?.description ?? ""))"
                    + ",\"value_date\":\(json(transaction.valueDate?.description ?? ""))"
                    + ",\"amount_minor\":\(transaction.amount.minorUnits),\"currency\":\(json(transaction.amount.currency.code))"
                    + ",\"counterparty_iban\":\(json(transaction.counterpartyIBAN ?? ""))"
                    + ",\"counterparty_name\":\(json(transaction.counterpartyName ?? ""))"
                    + ",\"remittance\":\(json(transaction.remittance ?? ""))"
                    + ",\"bank_tx_code\":\(json(transaction.bankTransactionCode ?? ""))"
                    + ",\"source_tx_id\":\(transaction.sourceID.map(json) ?? "null"),\"occurrence\":\(occurrence)"
                    + ",\"raw\":\(transaction.rawJSON ?? "null")}\n"
                written += 1
            }
            try file.write(contentsOf: Data(lines.utf8))
        }
        return written
    }
}

/// A JSON string literal.
private func json(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
