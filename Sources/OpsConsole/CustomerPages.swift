import BankSyncCore
import Foundation
import Hummingbird
import Store

/// Customers: the `lag` columns, worst first, filtered by the URL (`status`, `source`, `q`); and one customer:
/// consent with a countdown, accounts, and one timeline from the events.
struct CustomerFilter: Sendable {
    var status: String?
    var source: String?
    var text: String?

    init(query: [String: String]) {
        status = query["status"]?.nilIfEmpty
        source = query["source"]?.nilIfEmpty
        text = query["q"]?.trimmingCharacters(in: .whitespaces).nilIfEmpty.map { String($0.prefix(100)) }
    }

    /// The filters as URL query fields (for the next page's link).
    var query: String {
        [("status", status), ("source", source), ("q", text)].compactMap { name, value in value.map { "\(name)=\(ConsoleForm.encode($0))" } }
            .joined(separator: "&")
    }

    /// The statuses `lag` shows, offered by the filter (a status not listed still filters by URL).
    static let statuses = ["ok", "paused", "consent_expired", "consent_pending", "rate_limited", "bank_unavailable", "flowpay_unavailable",
                           "sync_failed", "rejected", "batch_parked", "held", "missing_bic", "history_gap", "unreconciled"]
}

struct CustomerData: Sendable {
    var record: CustomerRecord
    var lag: LagRow?
    var pause: (pausedAt: Date, by: String?, reason: String?)?
    var accounts: [ConsoleAccount]
    var timeline: [ConsoleEvent]
    var allowance: ReadAllowance?
}

extension ConsolePages {
    static let timelinePage = 50

    static func customers(_ rows: [(row: LagRow, key: LagPageKey)], filter: CustomerFilter, after: LagPageKey?, limit: Int, frame: Frame) -> Response {
        func options(_ values: [String], selected: String?) -> [HTML] {
            let values = values + (selected.map { values.contains($0) ? [] : [$0] } ?? [])
            return [selected == nil ? "<option value=\"\" selected>any</option>" : "<option value=\"\">any</option>"]
                + values.map { value -> HTML in
                    value == selected ? "<option value=\"\(value)\" selected>\(value)</option>" : "<option value=\"\(value)\">\(value)</option>"
                }
        }
        let tableRows = rows.map(\.row).map { row -> [HTML] in
            [customerLink(row.flowpayCustomerID, row.merchantID), "\(row.source)", status(row.status), "\(LagExport.humanDuration(row.lagSeconds))",
             "\(row.accounts)", "\(row.bookedThrough ?? "-")", row.lastPullAt.map { ConsoleTime.html($0, now: frame.now) } ?? "never",
             "\(row.waitingToPush)", "\(row.consentDaysLeft.map(String.init) ?? "-")", "\(row.quarantined)", "\(row.held)",
             "\(row.reconciliation)", "\(String((row.lastError ?? "").prefix(80)))"]
        }
        let base = "/console/customers?" + [filter.query, limit == listLimit ? "" : "limit=\(limit)"].filter { !$0.isEmpty }.joined(separator: "&")
        let next: HTML = rows.count == limit ? link(base + (base.hasSuffix("?") ? "" : "&") + "after=" + ConsoleForm.encode(rows.last!.key.text),
                                                    "Next page") : ""
        let first: HTML = after != nil ? link(base, "First page") : ""
        let body: HTML = """
            <form method="get" action="/console/customers" class="filters">
            <label for="f-status">Status</label><select id="f-status" name="status">\(options(CustomerFilter.statuses, selected: filter.status))</select>
            <label for="f-source">Source</label><select id="f-source" name="source">\(options(Customer.Source.allCases.map(\.rawValue), selected: filter.source))</select>
            <label for="f-q">Merchant or id</label><input id="f-q" name="q" type="search" value="\(filter.text ?? "")">
            <button type="submit">Filter</button></form>
            <p>Export the whole report, the same as <code>banksync lag --format csv|json</code>: \
            \(link("/console/customers.csv", "CSV")) · \(link("/console/customers.json", "JSON"))</p>
            \(table("Customers, worst first\(after == nil ? "" : " (continued)")",
                    columns: ["Merchant", "Source", "Status", "Lag", "Accounts", "Booked through", "Last pull", "Waiting", "Consent days",
                              "Refused", "Held", "Reconciliation", "Last error"],
                    rows: tableRows, empty: "no customer matches"))
            <p class="pager">\(first) \(next)</p>
            """
        return page("Customers", section: .customers, frame: frame, body)
    }

    static func customer(_ data: CustomerData, before: Int64?, frame: Frame) -> Response {
        let customer = data.record.customer
        let id = customer.flowpayCustomerID.uuidString.lowercased()
        let back = "/console/customers/\(id)"
        let consent: HTML = data.record.consentExpiresAt.map { expiry in
            let days = Int(floor(expiry.timeIntervalSince(frame.now) / 86_400))
            return "Consent valid until " + ConsoleTime.html(expiry, now: frame.now)
                + (days < 0 ? " — " + status("expired") : " — \(days) day(s) left" as HTML)
        } ?? "No consent expiry is known."
        let paused: HTML = data.pause.map { pause in
            "<p>" + status("paused") + " since " + ConsoleTime.html(pause.pausedAt, now: frame.now)
                + " by \(pause.by ?? "?"): \(pause.reason ?? "")</p>"
        } ?? ""
        let accountRows = data.accounts.map { account -> [HTML] in
            [link("/console/accounts/\(account.id)/reconciliation", account.label), "\(account.name ?? "-")", "\(account.currency ?? "-")",
             status(account.active ? "active" : "inactive"), "\(account.bookedThrough ?? "-")", ConsoleTime.html(account.lastPullAt, now: frame.now),
             status(account.reconciliation ?? "-"), "\(account.reconciledThrough ?? "-")"]
        }
        let eventRows = data.timeline.map { event -> [HTML] in
            [ConsoleTime.html(event.at, now: frame.now), status(event.level == "info" ? "ok" : event.level), "\(event.code)",
             "\(event.message)" + (event.logref.map { " (logref " + copyable($0) + ")" } ?? ""), "\(event.account ?? "-")"]
        }
        let older: HTML = data.timeline.count == timelinePage ? link("\(back)?before=\(data.timeline.last!.id)", "Older events") : ""
        let newer: HTML = before != nil ? link(back, "Newest events") : ""
        let actions: [HTML] = [
            actionForm(.syncNow, frame: frame, target: id, back: back),
            customer.source == .fio ? "" : actionForm(.createLink, frame: frame, target: id, back: back),
            data.pause == nil ? actionForm(.pauseCustomer, frame: frame, target: id, back: back)
                : actionForm(.resumeCustomer, frame: frame, target: id, back: back),
        ]
        let allowance: HTML = data.allowance.map { allowance in
            "<p>Next read from the bank allowed: "
                + (allowance.nextReadAllowed.map { ConsoleTime.html($0, now: frame.now) + " — \(allowance.why ?? "")" as HTML } ?? "now")
                + (allowance.readsLeftToday.map { " · \($0) of \(ReadBudget.berlinGroupReadsPerDay) reads left today" as HTML } ?? "") + "</p>"
        } ?? ""
        let actionSection: HTML = actions.contains { !$0.markup.isEmpty }
            ? "<section aria-labelledby=\"h-actions\"><h2 id=\"h-actions\">Actions</h2>\(allowance)\(actions)</section>" : allowance
        let body: HTML = """
            <p>Flowpay customer \(copyable(id)) · source \(customer.source.rawValue) · status \(status(data.lag?.status ?? customer.status))</p>
            \(paused)<p>\(consent)</p>
            <p>Renew the consent from a shell: \(copyable("banksync link --customer \(id) --source \(customer.source.rawValue)"))</p>
            \(actionSection)
            <section aria-labelledby="h-accounts"><h2 id="h-accounts">Accounts</h2>
            \(table("Accounts of \(customer.merchantID)", columns: ["Account", "Name", "Currency", "State", "Booked through", "Last pull",
                                                                  "Reconciliation", "Reconciled through"], rows: accountRows, empty: "none yet"))</section>
            <section aria-labelledby="h-timeline"><h2 id="h-timeline">Timeline</h2>
            \(table("From consent to Flowpay, newest first", columns: ["When", "Level", "Event", "What happened", "Account"], rows: eventRows,
                    empty: "no events"))
            <p class="pager">\(newer) \(older)</p></section>
            """
        return page(customer.merchantID, section: .customers, frame: frame, body)
    }
}
