import BankSyncCore
import Foundation
import Hummingbird
import Store

/// Refused and unreadable rows, consents, the audit log and an action's result.
extension ConsolePages {
    static func refused(_ refused: [ConsoleRefusedRow], unreadable: [UnreadableRow], after: Int64?, frame: Frame) -> Response {
        let refusedRows = refused.map { row -> [HTML] in
            [copyable(row.flowpayID ?? "#\(row.transactionID)"), customerLink(row.flowpayCustomerID, row.merchantID), "\(row.httpStatus)",
             "\(row.message)", row.logref.map(copyable) ?? "-", ConsoleTime.html(row.since, now: frame.now),
             row.batchID.map { batch in
                 actionForm(.retryRefused, frame: frame, target: String(batch), back: "/console/refused")
                     + copyable("banksync push --requeue-rejected --batch \(batch)")
             } ?? "-"]
        }
        let unreadableRows = unreadable.map { row -> [HTML] in
            ["\(row.field)", customerLink(row.flowpayCustomerID, row.flowpayCustomerID.uuidString.lowercased().prefix(8) + "…"), "\(row.reason)",
             "<code class=\"raw\">\(String(row.raw.prefix(300)))</code>", ConsoleTime.html(row.lastSeenAt, now: frame.now)]
        }
        let next: HTML = refused.count == listLimit ? link("/console/refused?after=\(refused.last!.transactionID)", "More refused rows") : ""
        let first: HTML = after != nil ? link("/console/refused", "First refused rows") : ""
        let body: HTML = """
            <section aria-labelledby="h-refused"><h2 id="h-refused">Refused by Flowpay (quarantined)</h2>
            \(table("Rows Flowpay refused, oldest first", columns: ["Row", "Customer", "HTTP", "Flowpay's message", "logref", "Since", "Next step"],
                    rows: refusedRows, empty: "none"))<p class="pager">\(first) \(next)</p></section>
            <section aria-labelledby="h-unreadable"><h2 id="h-unreadable">Unreadable rows</h2>
            \(table("Rows the source sent that could not be read, newest first", columns: ["Field", "Customer", "Reason", "Raw row", "Last seen"],
                    rows: unreadableRows, empty: "none"))
            <p>Dismiss them from a shell once looked at: \(copyable("banksync unreadable dismiss --customer <id> --reason '…'"))</p></section>
            """
        return page("Refused, quarantined and unreadable rows", section: .refused, frame: frame, body)
    }

    static func consents(_ consents: [ConsoleConsent], after: String?, frame: Frame) -> Response {
        let rows = consents.map { consent -> [HTML] in
            let id = consent.flowpayCustomerID.uuidString.lowercased()
            return [customerLink(consent.flowpayCustomerID, consent.merchantID), "\(consent.source)",
                    status(consent.pausedAt != nil ? "paused" : consent.status), ConsoleTime.html(consent.consentExpiresAt, now: frame.now),
                    renewalLink(consent, frame: frame) + (consent.source == "fio" ? ""
                        : actionForm(.createLink, frame: frame, target: id, back: "/console/consents")),
                    readsToday(consent, frame: frame),
                    copyable("banksync link --customer \(id) --source \(consent.source)")]
        }
        let next: HTML = consents.count == listLimit
            ? link("/console/consents?after=" + ConsoleForm.encode(Self.consentCursor(consents.last!)), "Next consents") : ""
        let first: HTML = after != nil ? link("/console/consents", "First consents") : ""
        let body: HTML = """
            \(table("Consents, soonest expiry first", columns: ["Customer", "Source", "Status", "Valid until", "Renewal link", "Reads today",
                                                               "Renew from a shell"], rows: rows, empty: "none"))
            <p class="pager">\(first) \(next)</p>
            """
        return page("Consents", section: .consents, frame: frame, body)
    }

    /// What the bank allows today: a spent budget's resume day, a Berlin Group consent's reads left, Fio's next call.
    static func readsToday(_ consent: ConsoleConsent, frame: Frame) -> HTML {
        if let resume = consent.readsResumeOn { return "none left today; reads resume \(resume)" }
        if let left = consent.readsLeftToday {
            return left == 0 ? "none of \(ReadBudget.berlinGroupReadsPerDay) left today" : "\(left) of \(ReadBudget.berlinGroupReadsPerDay) left today"
        }
        if let next = consent.fioNextCallAt { return "next call allowed at " + ConsoleTime.html(next, now: frame.now) + " (Fio: one call per 30 s)" }
        return "available"
    }

    /// The open renewal link to copy (when `banksync link` recorded it) and until when it works.
    static func renewalLink(_ consent: ConsoleConsent, frame: Frame) -> HTML {
        guard let expiry = consent.linkExpiresAt else { return "none open" }
        return (consent.link.map { copyable($0) + " " } ?? "") + "open until " + ConsoleTime.html(expiry, now: frame.now)
    }

    /// The keyset cursor of the consents page: expiry (ISO, or `-` for none) and merchant.
    static func consentCursor(_ consent: ConsoleConsent) -> String {
        (consent.consentExpiresAt.map(ConsoleTime.iso) ?? "-") + "|" + consent.merchantID
    }

    static func audit(_ entries: [ConsoleAuditEntry], before: Int64?, frame: Frame) -> Response {
        let rows = entries.map { entry -> [HTML] in
            ["\(entry.id)", ConsoleTime.html(entry.at, now: frame.now), "\(entry.who)", "\(entry.role)", "\(entry.action)", "\(entry.target)",
             "\(entry.reason ?? "-")", "\(entry.before ?? "-")", "\(entry.after ?? "-")",
             status(entry.outcome.hasPrefix("done") ? "done" : entry.outcome.hasPrefix("failed") ? "failed" : "refused") + " \(entry.outcome)",
             copyable(entry.command)]
        }
        let older: HTML = entries.count == listLimit ? link("/console/audit?before=\(entries.last!.id)", "Older entries") : ""
        let newest: HTML = before != nil ? link("/console/audit", "Newest entries") : ""
        let body: HTML = """
            \(table("Console actions, newest first", columns: ["#", "When", "Who", "Role", "Action", "Target", "Reason", "Before", "After", "Outcome",
                                                              "Same from a shell"], rows: rows, empty: "no action yet"))
            <p class="pager">\(newest) \(older)</p>
            """
        return page("Audit log", section: .audit, frame: frame, body)
    }

    static func actionResult(_ action: ConsoleAction, _ result: ActionResult, frame: Frame) -> Response {
        let body: HTML = """
            <p class="message" role="status">\(status(result.done ? "done" : "failed")) \(result.outcome)</p>
            \(result.link.map { link -> HTML in "<p>The new renewal link: " + copyable(link) + "</p>" } ?? "")
            \(table("What changed", columns: ["Figure", "Value"], rows: [
                ["Before", "\(result.before ?? "-")"], ["After", "\(result.after ?? "-")"],
                ["Audit entry", result.auditID.map { "#\($0)" as HTML } ?? "not recorded (see the log)"],
            ], empty: "none"))
            <p>The same from a shell: \(copyable(result.command))</p>
            <p>\(link(result.backLink, "Back"))</p>
            """
        return page(action.title, section: nil, frame: frame, status: result.done ? .ok : .unprocessableContent, body)
    }
}
