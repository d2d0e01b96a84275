import BankSyncCore
import Foundation

/// The `lag` report as CSV and JSON: what `banksync lag --format csv|json` prints and the ops console exports.
public enum LagExport {
    public static let header = ["merchant", "flowpay id", "source", "accounts", "booked through", "last pull", "last push", "waiting", "unsendable", "consent days",
                         "status", "lag", "history", "gap", "deep read", "late", "edits", "refused", "held", "reconciled through", "difference",
                         "last error", "logref"]

    public static func cells(_ row: LagRow, perAccount: Bool) -> [String] {
        [perAccount ? "\(row.merchantID) \(row.account ?? "-")" : row.merchantID, row.flowpayCustomerID.uuidString.lowercased(), row.source,
         String(row.accounts), row.bookedThrough ?? "-", row.lastPullAt.map(iso) ?? "never", row.lastPushAt.map(iso) ?? "never",
         String(row.waitingToPush), String(row.unsendable), row.consentDaysLeft.map(String.init) ?? "-", row.status, humanDuration(row.lagSeconds),
         history(row), row.gapDays == 0 ? "-" : "\(row.gapDays)d", row.lastDeepReadAt.map { String(iso($0).prefix(10)) } ?? "-", String(row.lateBookings), String(row.edits), String(row.quarantined),
         row.held == 0 ? "0" : "\(row.held) possible edit(s) since \(row.heldSince.map(iso) ?? "?")",
         row.reconciledThrough ?? "-", row.reconciliation, String((row.lastError ?? "").prefix(80)),
         row.logref ?? ""]
    }

    /// `received/requested` days of the first sync, flagged when the bank gave much less than asked.
    public static func history(_ row: LagRow) -> String {
        guard let requested = row.historyRequestedDays, let received = row.historyReceivedDays else { return "-" }
        return "\(received)/\(requested)d" + (isShort(row) ? " SHORT" : "")
    }

    public static func isShort(_ row: LagRow) -> Bool {
        guard let requested = row.historyRequestedDays, let received = row.historyReceivedDays else { return false }
        return received * 10 < requested * 9
    }

    public static func csv(_ rows: [LagRow], perAccount: Bool) -> String {
        func escape(_ cell: String) -> String {
            cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell
        }
        return ([header] + rows.map { cells($0, perAccount: perAccount) }).map { $0.map(escape).joined(separator: ",") }.joined(separator: "\n")
    }

    public static func json(_ rows: [LagRow]) -> String {
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

    public static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    public static func humanDuration(_ seconds: Int) -> String {
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86_400)d"
    }
}
