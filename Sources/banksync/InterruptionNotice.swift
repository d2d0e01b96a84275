import Foundation
import Store

/// `banksync lag --interruptions`: what Flowpay's contract asks a partner to send on any interruption —
/// the reason, the impacted customers, since when, and the expected next step — as a table, CSV, JSON or a
/// Markdown notice ready to paste into a message to Flowpay.
enum InterruptionNotice {
    static let labels = [
        "consent_expired": "consent expired", "consent_pending": "consent not authorised yet", "bank_unavailable": "bank unavailable",
        "rate_limited": "rate limited", "rejected": "rejected by Flowpay", "source_unauthorised": "our credentials refused by the source",
        "malformed_data": "malformed bank data", "unreadable_rows": "unreadable bank rows", "batch_parked": "deliveries to Flowpay parked",
        "flowpay_unavailable": "Flowpay unavailable", "sync_failed": "sync failed", "ingest_failed": "storing failed",
        "account_inactive": "account no longer reported", "history_short": "less history than asked",
        "held": "bookings held, undecided", "unreconciled": "bank balances disagree with its transactions",
        "agreement_scope": "agreement does not cover an account resource", "agreement_invalid": "no valid agreement for an account",
        "account_forbidden": "bank forbids access to an account", "resource_unavailable": "account lacks a resource",
    ]

    static func label(_ reason: String) -> String { labels[reason] ?? reason }

    /// Who acts next, and how; `retryAt` and the logrefs make it specific to the customer.
    static func nextStep(_ reason: String, _ customer: InterruptedCustomer) -> String {
        let id = customer.flowpayCustomerID.uuidString.lowercased()
        let retry = customer.retryAt.map {
            $0 > Date() ? "BankSync retries by itself at \(LagFormat.iso($0))" : "BankSync retries on its next scheduled run"
        } ?? "BankSync retries on its next scheduled run"
        let bank = customer.source == "berlingroup" ? "--bank-url <bank API URL>" : "--institution <institution id>"
        let link = "`banksync link --customer \(id) --source \(customer.source) \(bank) --history-days <days>`"
        switch reason {
        case "consent_expired":
            return "The customer must renew the bank consent: send them the link printed by "
                + "\(link) (the customer's history, see `banksync customers show`); data resumes on the first sync after they return."
        case "agreement_scope":
            return "The customer's agreement leaves this resource of the account out (balances, details or transactions): a new agreement "
                + "is needed; send the customer the link printed by \(link) (it asks for all three). The rest is delivered meanwhile."
        case "agreement_invalid":
            return "No valid agreement covers this account (it ended or never included it): a new agreement is needed; send the customer "
                + "the link printed by \(link). The other accounts are delivered meanwhile."
        case "account_forbidden":
            return "The bank refuses access to this account with the customer's login: the customer must re-link with access to it "
                + "(the link printed by \(link)) or tell Flowpay it is not needed. The other accounts are delivered meanwhile."
        case "resource_unavailable":
            return "This account does not offer that resource at the bank (e.g. a card or savings account without balances); the rest of "
                + "its data is delivered. Nothing to do unless the customer expects it."
        case "consent_pending":
            return "Waiting for the customer to finish authorising at the bank; if they abandoned it, make a new link with "
                + "`banksync link --customer \(id) --source \(customer.source) …`."
        case "rate_limited":
            return "The bank's daily access budget is used up; \(retry). Nothing to do."
        case "bank_unavailable":
            return "The bank's API did not answer; \(retry). If it lasts over a day, BankSync ops raise it with the bank."
        case "source_unauthorised":
            return "BankSync ops must renew the bank certificate (QWAC) or fix the aggregator secrets (`banksync doctor` names which); then \(retry.prefix(1).lowercased() + retry.dropFirst())."
        case "malformed_data":
            return "The bank's answer could not be read, so that account's new data was not stored; the other accounts are delivered. "
                + "\(retry); BankSync ops take it up with the source if it persists."
        case "unreadable_rows":
            return "The bank sent rows BankSync cannot read; the rest of the data is delivered. BankSync ops take it up with the source "
                + "(`banksync unreadable list --customer \(id)`)."
        case "rejected":
            let refs = customer.logrefs.isEmpty ? (customer.logref.map { [$0] } ?? []) : customer.logrefs
            return "Flowpay refused these transactions (logref \(refs.isEmpty ? "-" : refs.joined(separator: ", "))): Flowpay, please tell us what "
                + "is wrong; once fixed, BankSync resends them with `banksync push --requeue-rejected --customer \(id)`."
        case "batch_parked":
            let when = customer.retryAt == nil ? "BankSync ops must look at it (an accounts batch is not retried by itself)" : retry
            return "Deliveries kept failing; \(when). BankSync ops can retry at once with `banksync push --requeue-rejected --customer \(id)`."
        case "flowpay_unavailable":
            return "Flowpay's API was unavailable; everything is queued and delivered on the next run. Nothing is lost."
        case "account_inactive":
            return "The bank no longer reports this account under the consent (closed or deselected); nothing to do unless the customer says otherwise."
        case "unreconciled":
            return "The bank's booked balances and the transactions it lists disagree for those days, and re-reading them did not change it: "
                + "nothing sent to Flowpay was changed. BankSync ops check those days' bookings with the bank (`banksync lag --accounts` "
                + "names the account, range and difference); a missing booking arrives by itself once the bank lists it, and the account "
                + "reconciles again."
        case "held":
            return "BankSync could not tell whether new bookings are the bank's edits of stored ones or further bookings, so it sent neither "
                + "and no later fetch decided. BankSync ops compare them (`banksync held list --customer \(id)`), then "
                + "`banksync held release <id> --reason …` (a new booking: sent) or `banksync held merge <id> --reason …` (the bank's edit: nothing sent)."
        case "missing_bic":
            return "The bank gives no BIC for this account and its bank code is in no bundled list, so Flowpay (which requires one) does "
                + "not get the account, and its transactions wait with it. BankSync ops add the bank code to BankCodeDirectory, or the "
                + "bank reports the BIC; then everything waiting is sent on the next run."
        case "history_gap":
            return "These days were never read: the customer's consent lapsed longer than the bank lets BankSync read back, or the "
                + "bank listed fewer days than asked (the run's history_gap event says which, with the days). If the bank lists them "
                + "later, a deep read gets them (`banksync sync --rescan-days N`); else the customer's bank statements are the only "
                + "source. Nothing else is missing."
        case "history_short":
            return "The bank gave less history than asked (most give over 90 days only right after authentication); a fresh link gets the rest."
        default:
            return "BankSync ops investigate (`banksync lag --accounts`, the run's log); \(retry)."
        }
    }

    static let header = ["reason", "merchant", "flowpay id", "since", "detail", "logref", "next step"]

    static func rows(_ groups: [Interruption]) -> [[String]] {
        groups.flatMap { group in
            group.customers.map { customer in
                [label(group.reason), customer.merchantID, customer.flowpayCustomerID.uuidString.lowercased(), LagFormat.iso(customer.since),
                 String(customer.message.prefix(100)), (customer.logrefs.isEmpty ? customer.logref.map { [$0] } ?? [] : customer.logrefs).joined(separator: " "),
                 nextStep(group.reason, customer)]
            }
        }
    }

    static func render(_ groups: [Interruption], format: LagCommand.Format, now: Date = Date()) -> String {
        switch format {
        case .table: return groups.isEmpty ? "no interruptions" : Table.render(header: header, rows: rows(groups))
        case .csv: return Table.csv(header: header, rows: rows(groups))
        case .json: return json(groups)
        case .markdown: return markdown(groups, now: now)
        }
    }

    static func json(_ groups: [Interruption]) -> String {
        let objects: [[String: Any]] = groups.flatMap { group in
            group.customers.map { customer in
                var object: [String: Any] = [
                    "reason": group.reason, "reasonText": label(group.reason), "merchantId": customer.merchantID,
                    "flowpayCustomerId": customer.flowpayCustomerID.uuidString.lowercased(), "source": customer.source,
                    "since": LagFormat.iso(customer.since), "detail": customer.message, "logrefs": customer.logrefs,
                    "nextStep": nextStep(group.reason, customer),
                ]
                object["logref"] = customer.logref
                object["retryAt"] = customer.retryAt.map(LagFormat.iso)
                return object
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A notice to paste into a message to Flowpay: one section per reason with its impacted customers.
    static func markdown(_ groups: [Interruption], now: Date) -> String {
        var lines = ["## BankSync interruption notice, \(LagFormat.iso(now))", ""]
        guard !groups.isEmpty else { return (lines + ["No interruptions: every customer's data is flowing."]).joined(separator: "\n") }
        let customers = Set(groups.flatMap { $0.customers.map(\.flowpayCustomerID) }).count
        lines.append("\(customers) customer(s) impacted, for \(groups.count) reason(s).")
        for group in groups {
            lines += ["", "### \(label(group.reason).prefix(1).uppercased() + label(group.reason).dropFirst()) (\(group.customers.count) customer(s))", "",
                      "| Flowpay customer | merchant | since | detail | next step |", "|---|---|---|---|---|"]
            for customer in group.customers {
                let cells = [customer.flowpayCustomerID.uuidString.lowercased(), customer.merchantID, LagFormat.iso(customer.since),
                             String(customer.message.prefix(160)), nextStep(group.reason, customer)]
                lines.append("| " + cells.map(escape).joined(separator: " | ") + " |")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Table cells keep to one line and no cell splits the table.
    static func escape(_ cell: String) -> String {
        cell.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
