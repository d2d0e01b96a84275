import BankSyncCore
import Foundation
import Hummingbird
import Store

/// Account reconciliation: the bank's booked balances against the balance implied by what Flowpay holds, as a
/// chart and as its data table, the reconciled-through day, and a "Flowpay holds vs the bank says" diff.
extension ConsolePages {
    static func reconciliation(_ data: ConsoleReconciliation, frame: Frame) -> Response {
        let back = "/console/accounts/\(data.accountID)/reconciliation"
        let rows = data.points.map { point -> [HTML] in
            let gap = point.bankMinor - point.impliedMinor
            return ["\(point.day.description)", amount(point.bankMinor, data.currency), amount(point.impliedMinor, data.currency),
                    gap == 0 ? status("agrees") : status("differs") + " " + amount(gap, data.currency)]
        }
        let state: HTML = status(data.state ?? "not checked yet") + (data.reason.map { ": \($0)" as HTML } ?? "")
        let diff: HTML
        if let difference = data.differenceMinor, data.state == "mismatch" {
            let from = data.mismatchFrom?.description ?? "?", to = data.mismatchTo?.description ?? "?"
            diff = """
                <section aria-labelledby="h-diff"><h2 id="h-diff">Flowpay holds vs the bank says</h2>
                \(table("Booking days \(from) to \(to)", columns: ["Figure", "Amount"], rows: [
                    ["The bank's balance moved by minus the bookings Flowpay holds", amount(difference, data.currency)],
                    ["Booking days that disagree", "\(from) to \(to)"],
                    ["Acknowledged", data.acknowledgedBy.map { "yes, by \($0)" as HTML } ?? "no"],
                ], empty: "none"))
                <p>Re-read the range from the bank: \(copyable("banksync sync --customer \(data.flowpayCustomerID.uuidString.lowercased())"))</p>
                \(data.acknowledgedBy == nil ? actionForm(.acknowledgeDifference, frame: frame, target: String(data.accountID), back: back) : "")
                </section>
                """
        } else {
            diff = "<p>No difference: what Flowpay holds agrees with the bank's balances\(data.reconciledThrough.map { " through \($0.description)" } ?? "").</p>"
        }
        let today = Day(utcSecondsSince1970: frame.now.timeIntervalSince1970)
        let deepRead: HTML = frame.may(.deepRead) ? """
            <section aria-labelledby="h-deep"><h2 id="h-deep">Read again from the bank</h2>
            <form method="post" action="/console/actions/deep-read" class="action">\
            <input type="hidden" name="form_token" value="\(frame.identity.formToken)">\
            <input type="hidden" name="account" value="\(String(data.accountID))"><input type="hidden" name="back" value="\(back)">\
            <label for="deep-from">From (day)</label>\
            <input id="deep-from" name="from" type="date" required value="\((data.mismatchFrom?.adding(days: -1) ?? today.adding(days: -35)).description)">\
            <label for="deep-to">To (day)</label>\
            <input id="deep-to" name="to" type="date" required max="\(today.description)" value="\((data.mismatchTo ?? today).description)">\
            <button type="submit">\(ConsoleAction.deepRead.title)</button></form></section>
            """ : ""
        let body: HTML = """
            <p>Account \(copyable(data.label)) of \(customerLink(data.flowpayCustomerID, data.merchantID)) · state \(state) · \
            reconciled through <strong>\(data.reconciledThrough?.description ?? "-")</strong></p>
            <figure>\(BalanceChart.svg(data))<figcaption>The chart's figures are in the table below.</figcaption></figure>
            \(diff)
            \(deepRead)
            \(table("Booked balance per day (the chart's data)", columns: ["Day", "The bank says", "Flowpay's bookings imply", "Agreement"],
                    rows: rows, empty: "no booked balances in the last 90 days"))
            """
        return page("Reconciliation of \(data.label)", section: .customers, frame: frame, body)
    }
}
