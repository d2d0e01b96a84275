import Foundation
import Hummingbird
import Store

/// Home: what needs a person now — interruptions with their next step, consents expiring within 14 days, held
/// rows, unacknowledged differences, refused and unreadable rows, the outbox backlog and the last run.
struct AttentionData: Sendable {
    var interruptions: [Interruption]
    /// This page of interruptions starts after that one; the next starts after `nextInterruptions` (nil: no more).
    var interruptionsAfter: InterruptionPageKey?
    var nextInterruptions: InterruptionPageKey?
    var expiring: [ConsoleConsent]
    var held: [HeldTransaction]
    var differences: [ConsoleReconciliation]
    var refused: [ConsoleRefusedRow]
    var unreadable: [UnreadableRow]
    var backlog: (waiting: Int, oldest: Date?)
    var lastRun: ConsoleLastRun?
}

extension ConsolePages {
    static let listLimit = 50

    static func nextStep(_ reason: String, customer: InterruptedCustomer) -> HTML {
        switch reason {
        case "consent_expired", "consent_pending":
            "Send the customer a renewal link: "
                + copyable("banksync link --customer \(customer.flowpayCustomerID.uuidString.lowercased()) --source \(customer.source)")
        case "rate_limited" where customer.retryAt != nil:
            "Nothing: the bank's read budget is spent; the sync retries " + ConsoleTime.html(customer.retryAt) + "."
        case "rate_limited": "Nothing: the bank's read budget is spent; the sync retries at the time shown."
        case "rejected", "batch_parked": "Fix the rows Flowpay refused, then send them again on " + link("/console/refused", "Refused & unreadable") + "."
        case "unreadable_rows": "Look at the raw rows on " + link("/console/refused", "Refused & unreadable") + "; dismiss with " + copyable("banksync unreadable dismiss")
        case "held": "Decide each held row on " + link("/console/held", "Held rows") + "."
        case "unreconciled": "Compare the bank's balances on the customer's account reconciliation; acknowledge or investigate."
        case "missing_bic": "Add the bank code to BankCodeDirectory, or ask the bank for its BIC."
        case "bank_unavailable", "flowpay_unavailable", "sync_failed": "Usually none: the next sync retries. Sync now once the other side is back."
        default: "Open the customer's timeline for the details."
        }
    }

    static func attention(_ data: AttentionData, frame: Frame) -> Response {
        let interruptionRows = data.interruptions.flatMap { group in
            group.customers.map { customer -> [HTML] in
                [customerLink(customer.flowpayCustomerID, customer.merchantID), status(group.reason), ConsoleTime.html(customer.since, now: frame.now),
                 "\(customer.message)", nextStep(group.reason, customer: customer)]
            }
        }
        let expiringRows = data.expiring.map { consent -> [HTML] in
            [customerLink(consent.flowpayCustomerID, consent.merchantID), "\(consent.source)", ConsoleTime.html(consent.consentExpiresAt, now: frame.now),
             renewalLink(consent, frame: frame)]
        }
        let differenceRows = data.differences.map { difference -> [HTML] in
            [link("/console/accounts/\(difference.accountID)/reconciliation", difference.label),
             customerLink(difference.flowpayCustomerID, difference.merchantID), amount(difference.differenceMinor, difference.currency),
             "\(difference.mismatchFrom?.description ?? "?") – \(difference.mismatchTo?.description ?? "?")"]
        }
        let backlog: HTML = data.backlog.waiting == 0 ? "No transaction waits for Flowpay."
            : "\(data.backlog.waiting > 100_000 ? "More than 100,000" : String(data.backlog.waiting)) transaction(s) wait for Flowpay; the oldest arrived "
                + ConsoleTime.html(data.backlog.oldest, now: frame.now) + "."
        let lastRun: HTML = data.lastRun.map { run in
            "Run \(run.id) started " + ConsoleTime.html(run.startedAt, now: frame.now) + ", " + status(run.status)
                + (run.error.map { ": \($0)" as HTML } ?? "") + "."
        } ?? "No sync run yet."
        let body: HTML = """
            <section aria-labelledby="h-interruptions"><h2 id="h-interruptions">Interruptions</h2>
            \(table("Customers whose data is interrupted\(data.interruptionsAfter == nil ? "" : " (continued)")",
                    columns: ["Customer", "Reason", "Since", "What happened", "Next step"], rows: interruptionRows, empty: "none"))
            <p class="pager">\(data.interruptionsAfter == nil ? "" : link("/console", "First interruptions")) \
            \(data.nextInterruptions.map { link("/console?after=" + ConsoleForm.encode($0.text) + "#h-interruptions", "More interruptions") } ?? "")</p></section>
            <section aria-labelledby="h-expiring"><h2 id="h-expiring">Consents expiring within 14 days</h2>
            \(table("Consents expiring soon", columns: ["Customer", "Source", "Expires", "Renewal link"], rows: expiringRows, empty: "none"))</section>
            <section aria-labelledby="h-held"><h2 id="h-held">Held rows</h2>
            <p>\(data.held.count >= listLimit ? "At least \(listLimit)" : String(data.held.count)) row(s) held. \
            \(data.held.isEmpty ? "" : link("/console/held", "Decide them on Held rows"))</p></section>
            <section aria-labelledby="h-differences"><h2 id="h-differences">Reconciliation differences</h2>
            \(table("Accounts whose balances disagree (not acknowledged)", columns: ["Account", "Customer", "Difference", "Booking days"],
                    rows: differenceRows, empty: "none"))</section>
            <section aria-labelledby="h-rows"><h2 id="h-rows">Refused, quarantined and unreadable rows</h2>
            <p>\(String(data.refused.count))\(data.refused.count >= listLimit ? "+" : "") row(s) refused by Flowpay, \
            \(String(data.unreadable.count))\(data.unreadable.count >= listLimit ? "+" : "") unreadable row(s). \
            \(link("/console/refused", "See them"))</p></section>
            <section aria-labelledby="h-outbox"><h2 id="h-outbox">Outbox</h2><p>\(backlog)</p></section>
            <section aria-labelledby="h-run"><h2 id="h-run">Last run</h2><p>\(lastRun)</p></section>
            """
        return page("Needs attention", section: .attention, frame: frame, body)
    }
}
