import ArgumentParser
import BankSyncCore
import Foundation
import Store

struct LagCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lag",
        abstract: "The sync-lag report: how fresh every customer's data is, worst first.",
        discussion: "With --sla, exits 1 when any customer is staler than the SLA (for monitoring). Example: banksync lag --interruptions --format markdown")

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv, markdown }

    @Option(help: "table, json, csv, or markdown (with --interruptions: a notice ready to send to Flowpay).")
    var format: Format = .table

    @Flag(help: "One row per account instead of per customer.")
    var accounts = false

    @Flag(help: "Group impacted customers by interruption reason, with since-when and the expected next step (the notice Flowpay asks for).")
    var interruptions = false

    @Option(help: "Exit 1 when a customer's last successful pull is older than this (e.g. 26h).")
    var sla: String?

    func run() async throws {
        let breached = try await reportingErrors { () async throws -> Bool in
            let slaSeconds = try sla.map { text -> Int in
                guard let duration = parseDuration(text) else { throw ConfigError(setting: "--sla", problem: "'\(text)' is not a duration like 26h") }
                return Int(duration.components.seconds)
            }
            let store = try Store.connect(try DatabaseSettings.load().connectionString)
            defer { store.connection.close() }
            try store.requireSchemaOfThisBuild()
            if interruptions {
                print(InterruptionNotice.render(try store.interruptions(), format: format))
                return false
            }
            let rows = try store.lagReport(perAccount: accounts)
            switch format {
            case .table: print(LagFormat.table(rows, perAccount: accounts))
            case .json: print(LagFormat.json(rows))
            case .csv: print(LagFormat.csv(rows, perAccount: accounts))
            case .markdown: throw ConfigError(setting: "--format", problem: "markdown is for --interruptions (the notice to Flowpay)")
            }
            guard let slaSeconds else { return false }
            let stale = rows.filter { $0.lagSeconds > slaSeconds || $0.status == "consent_expired" }
            if !stale.isEmpty {
                FileHandle.standardError.write(Data("banksync: \(stale.count) customer(s) staler than \(sla!): \(stale.map(\.merchantID).joined(separator: ", "))\n".utf8))
            }
            return !stale.isEmpty
        }
        if breached { throw ExitCode(ExitStatus.partialFailure) }
    }
}

/// `lag`'s formats: the CSV and JSON ones are `LagExport`'s (the ops console exports the same bytes).
enum LagFormat {
    static func table(_ rows: [LagRow], perAccount: Bool) -> String {
        Table.render(header: LagExport.header, rows: rows.map { LagExport.cells($0, perAccount: perAccount) })
    }

    static func csv(_ rows: [LagRow], perAccount: Bool) -> String { LagExport.csv(rows, perAccount: perAccount) }

    static func json(_ rows: [LagRow]) -> String { LagExport.json(rows) }

    static func iso(_ date: Date) -> String { LagExport.iso(date) }

    static func humanDuration(_ seconds: Int) -> String { LagExport.humanDuration(seconds) }
}
