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
        text = query["q"]?.trimmingCharacters(in: .whitespaces).nilIfEmpty
    }

    func keeps(_ row: LagRow) -> Bool {
        (status == nil || row.status == status) && (source == nil || row.source == source)
            && (text == nil || row.merchantID.localizedCaseInsensitiveContains(text!) || row.flowpayCustomerID.uuidString.lowercased().contains(text!.lowercased()))
    }
}

struct CustomerData: Sendable {
    var record: CustomerRecord
    var lag: LagRow?
    var pause: (pausedAt: Date, by: String?, reason: String?)?
    var accounts: [ConsoleAccount]
    var timeline: [ConsoleEvent]
}

extension ConsolePages {
    static let customersShown = 200
    static let timelinePage = 50

    static func customers(_ rows: [LagRow], filter: CustomerFilter, frame: Frame) -> Response {
        let kept = rows.filter(filter.keeps)
        let statuses = Set(rows.map(\.status)).sorted()
        let sources = Set(rows.map(\.source)).sorted()
        func options(_ values: [String], selected: String?) -> [HTML] {
            [selected == nil ? "<option value=\"\" selected>any</option>" : "<option value=\"\">any</option>"]
                + values.map { value -> HTML in
                    value == selected ? "<option value=\"\(value)\" selected>\(value)</option>" : "<option value=\"\(value)\">\(value)</option>"
                }
        }
        let tableRows = kept.prefix(customersShown).map { row -> [HTML] in
            [customerLink(row.flowpayCustomerID, row.merchantID), "\(row.source)", status(row.status), "\(LagExport.humanDuration(row.lagSeconds))",
             "\(row.accounts)", "\(row.bookedThrough ?? "-")", row.lastPullAt.map { ConsoleTime.html($0, now: frame.now) } ?? "never",
             "\(row.waitingToPush)", "\(row.consentDaysLeft.map(String.init) ?? "-")", "\(row.quarantined)", "\(row.held)",
             "\(row.reconciliation)", "\(String((row.lastError ?? "").prefix(80)))"]
        }
        let more: HTML = kept.count > customersShown
            ? "<p>Showing the worst \(customersShown) of \(kept.count): narrow the filters or export.</p>" : ""
        let body: HTML = """
            <form method="get" action="/console/customers" class="filters">
            <label for="f-status">Status</label><select id="f-status" name="status">\(options(statuses, selected: filter.status))</select>
            <label for="f-source">Source</label><select id="f-source" name="source">\(options(sources, selected: filter.source))</select>
            <label for="f-q">Merchant or id</label><input id="f-q" name="q" type="search" value="\(filter.text ?? "")">
            <button type="submit">Filter</button></form>
            <p>Export the whole report, the same as <code>banksync lag --format csv|json</code>: \
            \(link("/console/customers.csv", "CSV")) · \(link("/console/customers.json", "JSON"))</p>
            \(table("Customers, worst first (\(kept.count) of \(rows.count))",
                    columns: ["Merchant", "Source", "Status", "Lag", "Accounts", "Booked through", "Last pull", "Waiting", "Consent days",
                              "Refused", "Held", "Reconciliation", "Last error"],
                    rows: Array(tableRows), empty: "no customer matches"))
            \(more)
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
        let actionSection: HTML = actions.contains { !$0.markup.isEmpty }
            ? "<section aria-labelledby=\"h-actions\"><h2 id=\"h-actions\">Actions</h2>\(actions)</section>" : ""
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
