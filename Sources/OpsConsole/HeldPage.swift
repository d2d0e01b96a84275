import Foundation
import Hummingbird
import Store

/// Held rows: since when, why, the evidence so far, and the held row beside its candidate; release (operator)
/// or merge (approver), each with a reason.
extension ConsolePages {
    static func why(_ reason: String) -> String {
        switch reason {
        case "possible_edit": "It may be the bank's edit of the candidate (a fuller text, a counterparty added), which one fetch did not return — or another booking."
        case "possible_correction": "It may correct a booking already delivered to Flowpay."
        case "possible_duplicate": "It may be the candidate read again through another source."
        default: reason
        }
    }

    static func held(_ rows: [HeldTransaction], after: HeldTransaction.PageKey?, limit: Int, frame: Frame) -> Response {
        let shown = rows.prefix(limit)
        let sections = shown.map { row -> HTML in
            let back = "/console/held"
            let candidate = row.candidate
            let comparison = table("Held row \(row.flowpayID) beside its candidate", columns: ["Field", "Held row", "Candidate (stored)"], rows: [
                ["Flowpay id", copyable(row.flowpayID), candidate.map { copyable($0.flowpayID) } ?? "none (gone)"],
                ["Booking day", "\(row.bookingDate.description)", candidate == nil ? "-" : "same day"],
                ["Amount", amount(row.amountMinor, row.currency), candidate == nil ? "-" : "same amount"],
                ["Counterparty", "\(row.counterpartyName ?? "-")", "\(candidate?.counterpartyName ?? "-")"],
                ["Text", "\(row.remittance ?? "-")", "\(candidate?.remittance ?? "-")"],
            ], empty: "none")
            return """
                <section class="held" aria-labelledby="h-\(row.flowpayID)"><h2 id="h-\(row.flowpayID)">\(row.merchantID) · \(row.account)</h2>
                <p>Held since \(ConsoleTime.html(row.since, now: frame.now)) · why: \(status(row.reason)) — \(why(row.reason))</p>
                <p>Evidence so far: the later fetches have not decided it (a complete fetch, or the bank's balances, would).</p>
                \(comparison)
                <div class="actions">\(actionForm(.releaseHeld, frame: frame, target: row.flowpayID, back: back))\
                \(candidate == nil ? "" : actionForm(.mergeHeld, frame: frame, target: row.flowpayID, back: back))</div>
                <p>From a shell: \(copyable("banksync held release \(row.flowpayID) --reason '…'"))</p></section>
                """
        }
        let intro: HTML = rows.isEmpty ? (after == nil ? "<p class=\"empty\">No row is held.</p>" : "<p class=\"empty\">No more held rows.</p>")
            : "<p>Held rows, oldest first\(after == nil ? "" : " (continued)"): \(String(shown.count)) on this page\(rows.count > limit ? ", more on the next" : "").</p>"
        let size = limit == listLimit ? "" : "limit=\(limit)&"
        let next: HTML = rows.count > limit ? link("/console/held?\(size)after=" + ConsoleForm.encode(shown.last!.pageKey.text), "Next held rows") : ""
        let first: HTML = after != nil ? link("/console/held" + (size.isEmpty ? "" : "?" + size.dropLast()), "Oldest held rows") : ""
        return page("Held rows", section: .held, frame: frame, intro + sections.joined() + "<p class=\"pager\">\(first) \(next)</p>")
    }
}
