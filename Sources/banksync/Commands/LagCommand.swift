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

enum LagFormat {
    static let header = ["merchant", "flowpay id", "source", "accounts", "booked through", "last pull", "last push", "waiting", "unsendable", "consent days",
                         "status", "lag", "history", "gap", "deep read", "late", "edits", "refused", "held", "reconciled through", "difference",
                         "last error", "logref"]

    static func cells(_ row: LagRow, perAccount: Bool) -> [String] {
        [perAccount ? "\(row.merchantID) \(row.account ?? "-")" : row.merchantID, row.flowpayCustomerID.uuidString.lowercased(), row.source,
         String(row.accounts), row.bookedThrough ?? "-", row.lastPullAt.map(iso) ?? "never", row.lastPushAt.map(iso) ?? "never",
         String(row.waitingToPush), String(row.unsendable), row.consentDaysLeft.map(String.init) ?? "-", row.status, humanDuration(row.lagSeconds),
         history(row), row.gapDays == 0 ? "-" : "\(row.gapDays)d", row.lastDeepReadAt.map { String(iso($0).prefix(10)) } ?? "-", String(row.lateBookings), String(row.edits), String(row.quarantined),
         row.held == 0 ? "0" : "\(row.held) possible edit(s) since \(row.heldSince.map(iso) ?? "?")",
         row.reconciledThrough ?? "-", row.reconciliation, String((row.lastError ?? "").prefix(80)),
         row.logref ?? ""]
    }

    /// `received/requested` days of the first sync, flagged when the bank gave much less than asked.
    static func history(_ row: LagRow) -> String {
        guard let requested = row.historyRequestedDays, let received = row.historyReceivedDays else { return "-" }
        return "\(received)/\(requested)d" + (isShort(row) ? " SHORT" : "")
    }

    static func isShort(_ row: LagRow) -> Bool {
        guard let requested = row.historyRequestedDays, let received = row.historyReceivedDays else { return false }
        return received * 10 < requested * 9
    }

    static func table(_ rows: [LagRow], perAccount: Bool) -> String {
        Table.render(header: header, rows: rows.map { cells($0, perAccount: perAccount) })
    }

    static func csv(_ rows: [LagRow], perAccount: Bool) -> String {
        Table.csv(header: header, rows: rows.map { cells($0, perAccount: perAccount) })
    }

    static func json(_ rows: [LagRow]) -> String {
        let objects: [[String: Any]] = rows.map { row in
            var object: [String: Any] = [
                "flowpayCustomerId": row.flowpayCustomerID.uuidString.lowercased(), "merchantId": row.merchantID, "source": row.source,
                "accounts": row.accounts, "waitingToPush": row.waitingToPush, "status": row.status, "lagSeconds": row.lagSeconds,
            ]
            object["account"] = row.account
            object["bookedThrough"] = row.bookedThrough
            object["lastPullAt"] = row.lastPullAt.map(iso)
            object["lastPushAt"] = row.lastPushAt.map(iso)
            object["consentDaysLeft"] = row.consentDaysLeft
            object["lastError"] = row.lastError
            object["logref"] = row.logref
            object["edits"] = row.edits
            object["quarantined"] = row.quarantined
            object["unsendable"] = row.unsendable
            object["gapDays"] = row.gapDays
            object["held"] = row.held
            object["heldSince"] = row.heldSince.map(iso)
            object["lastDeepReadAt"] = row.lastDeepReadAt.map(iso)
            object["lateBookings"] = row.lateBookings
            object["historyRequestedDays"] = row.historyRequestedDays
            object["historyReceivedDays"] = row.historyReceivedDays
            object["reconciledThrough"] = row.reconciledThrough
            object["reconciliation"] = row.reconciliation
            object["difference"] = row.differenceMinor.map(Reconciliation.minorText)
            object["differenceCurrency"] = row.differenceCurrency
            object["differenceFrom"] = row.differenceFrom
            object["differenceTo"] = row.differenceTo
            object["unreconciledAccounts"] = row.unreconciledAccounts
            return object
        }
        let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func humanDuration(_ seconds: Int) -> String {
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86_400)d"
    }
}
