import BankSyncCore
import Foundation
import Logging
import Metrics
import PullAPI
import Store
import SyncEngine

/// What an action did, for the result page and the audit log.
struct ActionResult: Sendable {
    var done: Bool
    var outcome: String
    var before: String?
    var after: String?
    var command: String
    var auditID: Int64?
    var backLink: String
    /// A new renewal link to hand to the customer (shown on the result page, kept out of the audit row).
    var link: String?
}

/// Takes console actions: each one — done or refused — writes an audit row (who, role, reason, before/after), a
/// log line and a metric (`banksync_console_actions_total{action,outcome}`).
struct ConsoleActions: Sendable {
    let pool: ConnectionPool
    let logger: Logger
    /// Creates renewal links at the customer's source; nil when serve cannot (no BANKSYNC_PUBLIC_URL).
    let links: ConsentLinkMaker?

    func perform(_ action: ConsoleAction, by identity: ConsoleIdentity, form: [String: String]) async -> ActionResult {
        let target = (form[action.targetField] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let reason = form["reason"]?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        let command = action.command(target: target, reason: reason)
        var result = ActionResult(done: false, outcome: "", command: command, backLink: backLink(action, target: target, form: form))
        if action.needsReason && reason == nil {
            result.outcome = "refused: a reason is required"
        } else if action.confirmation != nil && form[action.confirmField(target: target)] != "yes" {
            result.outcome = "refused: \(action.title.lowercased()) needs the confirmation ticked"
        } else if target.isEmpty || target.count > 100 {
            result.outcome = "refused: \(action.targetField) is missing"
        } else {
            do {
                let done = try await run(action, target: target, form: form, reason: reason ?? "", who: identity.who)
                (result.before, result.after, result.outcome, result.link) = (done.before, done.after, done.outcome, done.link)
                if let command = done.command { result.command = command }
                result.done = true
            } catch {
                result.outcome = "failed: \(error)"
            }
        }
        result.auditID = await audit(action, identity: identity, target: target, reason: reason, before: result.before, after: result.after,
                                     outcome: result.done ? "done: " + result.outcome : result.outcome, command: result.command)
        return result
    }

    /// Records a refused or done action (the audit row only with `record`); a failure to record is logged (the
    /// action's own outcome stands).
    @discardableResult
    func audit(_ action: ConsoleAction, identity: ConsoleIdentity?, target: String, reason: String?, before: String?, after: String?,
               outcome: String, command: String, record: Bool = true) async -> Int64? {
        let who = identity?.who ?? "anonymous"
        let role = identity?.role.rawValue ?? "none"
        let kind = outcome.hasPrefix("done") ? "done" : outcome.hasPrefix("failed") ? "failed" : "refused"
        Counter(label: "banksync_console_actions_total", dimensions: [("action", action.rawValue), ("outcome", kind)]).increment()
        logger.notice("console action", metadata: ["action": "\(action.rawValue)", "who": "\(who)", "role": "\(role)", "target": "\(target)",
                                                   "outcome": "\(outcome)"])
        guard record else { return nil }
        let entry = ConsoleAuditEntry(who: who, role: role, action: action.rawValue, target: target, reason: reason, before: before, after: after,
                                      outcome: outcome, command: command)
        do {
            return try await write { try $0.recordConsoleAudit(entry) }
        } catch {
            logger.error("console: audit row not written", metadata: ["action": "\(action.rawValue)", "problem": "\(error)"])
            return nil
        }
    }

    typealias Done = (before: String?, after: String?, outcome: String, command: String?, link: String?)

    private func run(_ action: ConsoleAction, target: String, form: [String: String], reason: String, who: String) async throws -> Done {
        if action == .createLink { return try await createLink(customer: try uuid(target), who: who) }
        let (before, after, outcome) = try await run(action, target: target, reason: reason, who: who, form: form)
        guard action == .deepRead, let from = form["from"].flatMap({ Day(iso: $0) }), let customer = after else { return (before, after, outcome, nil, nil) }
        let days = Day(utcSecondsSince1970: Date().timeIntervalSince1970).daysSinceEpoch - from.daysSinceEpoch
        let to = form["to"].flatMap { Day(iso: $0) }?.description ?? "today"
        return (before, "deep read of \(from) to \(to) asked", outcome,
                "banksync sync --customer \(customer) --rescan-days \(days)   # every account of the customer, back to \(from) through today", nil)
    }

    /// A new renewal link on the customer's own source and terms (the institution or bank as stored): the source is
    /// asked with no database connection held, then the link is recorded and every older open link ends.
    private func createLink(customer: UUID, who: String) async throws -> Done {
        guard let links else {
            throw ConsoleInputError(field: "link", problem: "serve cannot create links here: BANKSYNC_PUBLIC_URL is not set (use banksync link)")
        }
        let (record, open) = try await write { store in
            guard let record = try store.customer(flowpayCustomerID: customer) else { throw ConsoleActionError.unknownCustomer(customer) }
            return (record, try store.openConsentLink(flowpayCustomerID: customer))
        }
        let link = try await links.create(.renewal(of: record, today: Day(utcSecondsSince1970: Date().timeIntervalSince1970)), existing: record)
        let ended = try await write { store in
            let ended = try await store.record(link)
            try store.recordEvent(customerID: record.customer.id, runID: nil, level: .info, code: "renewal_link_created",
                                  message: "renewal link created by \(who) in the ops console (\(link.request.source.rawValue) \(link.sourceRef)); "
                                      + "\(ended) older open link(s) stopped working")
            return ended
        }
        let before = open.map { "open link \($0.sourceRef) until \(ConsoleTime.iso($0.expiresAt))" } ?? "no open link"
        return (before, "open link \(link.sourceRef) (\(ended) older link(s) ended)",
                "renewal link created: send it to the customer; it works for 7 days or until used", link.command, link.link)
    }

    private func run(_ action: ConsoleAction, target: String, reason: String, who: String, form: [String: String]) async throws -> (String?, String?, String) {
        let actor = "\(who) (console)"
        switch action {
        case .createLink:
            // Handled before this switch (it asks the source first, then writes).
            throw ConsoleInputError(field: "action", problem: "create-link is not taken here")
        case .syncNow:
            let customer = try uuid(target)
            let (asked, allowance) = try await write { store in
                (try store.requestPrioritySync(flowpayCustomerID: customer, by: who), try store.readAllowance(flowpayCustomerID: customer))
            }
            // The bank's own limits decide when the read happens: a spent read budget, Fio's 30 s, Berlin Group's reads a day.
            let next = allowance?.nextReadAllowed.map { " Next read allowed at \(ConsoleTime.iso($0)): \(allowance?.why ?? "the bank's limit")." }
                ?? " Next read allowed: now (no read limit in force)" + (allowance?.readsLeftToday.map { "; \($0) read(s) left today" } ?? "") + "."
            return (nil, "priority sync asked at \(ConsoleTime.iso(asked.requestedAt))",
                    "sync asked: serve's priority syncs take it at their next poll.\(next)")
        case .releaseHeld, .mergeHeld:
            let merge = action == .mergeHeld
            try await write { try await $0.decideHold(flowpayID: target, merge: merge, reason: reason, operator: actor) }
            return ("held", merge ? "merged into the booking it was held beside" : "released as a new booking (queued for Flowpay)",
                    merge ? "held booking \(target) merged" : "held booking \(target) released")
        case .retryRefused:
            guard let batch = Int64(target) else { throw ConsoleInputError(field: "batch", problem: "not a batch id") }
            let resolution = try await write { try await $0.requeueRejected(batchID: batch) }
            return ("refused by Flowpay (quarantined)", "\(resolution.rowsRequeued) row(s) queued again, \(resolution.batchesReopened) batch(es) reopened",
                    "batch \(batch) will be sent again by the next push")
        case .acknowledgeDifference:
            guard let account = Int64(target) else { throw ConsoleInputError(field: "account", problem: "not an account id") }
            let before = try await write { try $0.acknowledgeDifference(accountID: account, by: who, reason: reason) }
            return (before, "acknowledged by \(who)", "difference on account \(account) acknowledged")
        case .deepRead:
            guard let account = Int64(target) else { throw ConsoleInputError(field: "account", problem: "not an account id") }
            let today = Day(utcSecondsSince1970: Date().timeIntervalSince1970)
            guard let from = form["from"].flatMap({ Day(iso: $0) }) else {
                throw ConsoleInputError(field: "from", problem: "the first day to read, like 2026-11-01")
            }
            let toText = form["to"]?.nilIfEmpty
            let to = toText.flatMap { Day(iso: $0) }
            guard toText == nil || to != nil else { throw ConsoleInputError(field: "to", problem: "the last day to read, like 2026-11-20") }
            let customer = try await write { try $0.requestDeepRead(accountID: account, from: from, to: to, today: today, by: who) }
            // The customer's id goes back as `after` for the CLI command; the result says what happens next.
            return (nil, customer.uuidString.lowercased(),
                    "deep read of account \(account) from \(from) to \(to?.description ?? "today") asked: serve's priority syncs read it at their next poll")
        case .pauseCustomer, .resumeCustomer:
            let customer = try uuid(target)
            let paused = action == .pauseCustomer
            let change = try await write { try await $0.setCustomerPaused(flowpayCustomerID: customer, paused: paused, by: who, reason: reason) }
            return (change.before, change.after, paused ? "customer paused: syncs skip it until it is resumed" : "customer resumed")
        }
    }

    /// An action's statements on a console connection, each cancelled after 10 s: a hold decision waits for the
    /// account's ingest lock, and a console request must not hang behind a long sync.
    private func write<T: Sendable>(_ body: @escaping @Sendable (Store) async throws -> T) async throws -> T {
        try await pool.withStore { store in
            try store.connection.execute("SET statement_timeout = 10000")
            do {
                let result = try await body(store)
                _ = try? store.connection.execute("RESET statement_timeout")
                return result
            } catch {
                _ = try? store.connection.execute("RESET statement_timeout")
                throw error
            }
        }
    }

    private func uuid(_ text: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else { throw ConsoleInputError(field: "customer", problem: "not a Flowpay customer id") }
        return id
    }

    private func backLink(_ action: ConsoleAction, target: String, form: [String: String]) -> String {
        if let back = form["back"], back.hasPrefix("/console"), !back.hasPrefix("//"), !back.contains("\\") { return back }
        return "/console"
    }
}

struct ConsoleInputError: Error, CustomStringConvertible {
    let field: String
    let problem: String
    var description: String { "\(field): \(problem)" }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
