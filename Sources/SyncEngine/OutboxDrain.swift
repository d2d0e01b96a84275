import BankSyncCore
import Crypto
import Flowpay
import Foundation
import Logging
import Store

/// Pushes one customer's outbox to Flowpay: unfinished batches first (a crash resends exactly what was
/// recorded, under the same Idempotency-Key), then the accounts when their content changed, then queued
/// transactions in batches of at most 1,000 in id order, then one bank-accounts-updated.
///
/// It never sends a batch it has not recorded first, and never marks anything pushed before a 2xx. A
/// transactions batch Flowpay refuses (400/422) is split until the refused rows are isolated: those are
/// quarantined, the rest delivered in the same run. Any other refusal (401/403/404…) or exhausted retries
/// stop this customer's drain for this run and are tried again next run; a batch that has failed in
/// `parkAfterRuns` runs is parked so the batches after it flow.
public struct OutboxDrain: Sendable {
    public struct Outcome: Sendable, Equatable {
        public var accountsPushed = false
        public var transactionsPushed = 0
        public var batchesSent = 0
        public var signalled = false
        /// Batches Flowpay refused for good, with their logrefs.
        public var rejected: [String] = []
        /// Accounts left out of the accounts call (no IBAN or no BIC), by source-side description.
        public var accountsSkipped = 0
        /// Flowpay refused whole batches the same way, whatever rows they held: the drain stopped for this run.
        public var customerRefused = false

        public init() {}
    }

    let store: Store
    let flowpay: FlowpayClient
    let logger: Logger
    let batchSize: Int
    let parkAfterRuns: Int

    public init(store: Store, flowpay: FlowpayClient, logger: Logger = Logger(label: "banksync.push"),
                batchSize: Int = FlowpayContract.maxTransactionsPerRequest, parkAfterRuns: Int = 5) {
        self.store = store
        self.flowpay = flowpay
        self.logger = logger
        self.batchSize = min(max(batchSize, 1), FlowpayContract.maxTransactionsPerRequest)
        self.parkAfterRuns = max(parkAfterRuns, 1)
    }

    /// The exact body of a transactions batch, made once when the batch is recorded.
    static func body(_ rows: [OutboxTransaction]) throws -> [UInt8] {
        try FlowpayContract.encode(transactions: rows.map(ContractMapping.transaction))
    }

    public func drain(_ target: PushTarget, runID: Int64? = nil) async throws -> Outcome {
        var outcome = Outcome()
        for batch in try store.openBatches(customerID: target.customerID) where batch.kind != .updated {
            if outcome.customerRefused { return outcome }
            if batch.attempts >= parkAfterRuns {
                try store.park(batch, runs: batch.attempts, lastError: "see the batch's last_error", runID: runID)
                continue
            }
            try await send(batch, target, runID: runID, outcome: &outcome)
        }
        if outcome.customerRefused { return outcome }
        try await pushAccountsIfChanged(target, runID: runID, outcome: &outcome)
        while !outcome.customerRefused, let batch = try await store.recordTransactionBatch(customerID: target.customerID, limit: batchSize, encode: Self.body) {
            try await send(batch, target, runID: runID, outcome: &outcome)
        }
        // The signal goes last, once everything of this run reached Flowpay; a rejection holds it back
        // (the contract sends it only after all data succeeded) until a later run succeeds.
        if outcome.rejected.isEmpty,
           let signal = try store.openBatches(customerID: target.customerID).first(where: { $0.kind == .updated }) {
            try await send(signal, target, runID: runID, outcome: &outcome)
            outcome.signalled = true
        }
        return outcome
    }

    func pushAccountsIfChanged(_ target: PushTarget, runID: Int64?, outcome: inout Outcome) async throws {
        let (accounts, missing) = try ContractMapping.accounts(try store.accountsForPush(customerID: target.customerID))
        for account in missing {
            outcome.accountsSkipped += 1
            try store.recordEvent(customerID: target.customerID, accountID: account.accountID, runID: runID, level: .warning,
                                  code: "missing_bic", message: "account \(account.accountID) has no \(account.iban == nil ? "IBAN" : "BIC") and is not pushed")
        }
        guard !accounts.isEmpty else { return }
        let payload = FlowpayContract.encode(accounts: accounts)
        let hash = Array(SHA256.hash(data: payload))
        guard try store.lastSentAccountsHash(customerID: target.customerID) != hash else { return }
        let batch = try store.recordAccountsBatch(customerID: target.customerID, payload: payload, payloadHash: hash,
                                                  accountCount: accounts.count)
        try await send(batch, target, runID: runID, outcome: &outcome)
    }

    /// Sends one batch. With `parent` (the refusal of the batch this one was split from), a refusal just like
    /// the parent's is returned for the caller to judge instead of being handled here.
    @discardableResult
    func send(_ batch: PushBatch, _ target: PushTarget, runID: Int64?, outcome: inout Outcome,
              parent: Refusal? = nil) async throws -> Refusal? {
        try store.noteAttempt(batchID: batch.id)
        let customer = target.flowpayCustomerID
        do {
            switch batch.kind {
            case .accounts:
                try await flowpay.putBankAccounts(customer: customer, body: batch.payload ?? [], idempotencyKey: batch.idempotencyKey)
            case .transactions:
                let body = try batch.payload ?? Self.body(store.batchTransactions(batchID: batch.id))
                try await flowpay.postBankTransactions(customer: customer, body: body, idempotencyKey: batch.idempotencyKey)
            case .updated:
                try await flowpay.postBankAccountsUpdated(customer: customer, idempotencyKey: batch.idempotencyKey)
            }
        } catch let FlowpayError.rejected(status, message, logref, errors) where Self.refusesContent(status) {
            let refusal = Refusal(status: status, detail: ([message] + errors).joined(separator: "; "), logref: logref)
            logger.warning("batch refused", metadata: ["customer": "\(customer)", "batch": "\(batch.id)", "rows": "\(batch.rowCount)",
                                                      "logref": "\(logref ?? "-")"])
            if let parent, refusal.isAlike(parent) { return refusal }
            try await refused(batch, refusal, target, runID: runID, outcome: &outcome)
            return nil
        } catch {
            // Not a verdict on the content (401/403/404, retries exhausted, the network): this customer's drain
            // stops for this run and the batch is sent again next run (parked after `parkAfterRuns` runs).
            try? store.recordFailure(batch, message: "\(error)")
            throw error
        }
        try await store.markSent(batch)
        outcome.batchesSent += 1
        switch batch.kind {
        case .accounts: outcome.accountsPushed = true
        case .transactions: outcome.transactionsPushed += batch.rowCount
        case .updated: break
        }
        return nil
    }

    /// Flowpay's verdict on a batch's content.
    struct Refusal: Sendable {
        let status: Int
        let detail: String
        let logref: String?

        func isAlike(_ other: Refusal) -> Bool { status == other.status && detail == other.detail }
    }

    /// A refused transactions batch is split until the refused rows are alone, and those are quarantined. When
    /// both halves are refused exactly like the whole, and then both halves of the first half again (two levels:
    /// one bad row in each half with a message that names no row can fool one level), the refusal is not about
    /// rows (an unknown customer or IBAN, a service not activated): bisecting on would cost about two requests a
    /// row and quarantine them all, so the parts are parked (retried after a day, or by `push --requeue-rejected`)
    /// and the customer's drain stops for this run — five requests in all.
    func refused(_ batch: PushBatch, _ refusal: Refusal, _ target: PushTarget, runID: Int64?, outcome: inout Outcome,
                 alikeLevels: Int = 0) async throws {
        guard batch.kind == .transactions else {
            // One body, nothing to split: kept as refused, sent again when its content changes.
            try await store.markRejected(batch, httpStatus: refusal.status, logref: refusal.logref, message: refusal.detail, runID: runID)
            outcome.rejected.append(refusal.logref ?? "HTTP \(refusal.status)")
            return
        }
        if outcome.customerRefused {
            // A sibling's parts showed the refusal is the customer's: parked with them, not sent again this run.
            return try store.park(batch, because: Self.customerLevel(refusal), logref: refusal.logref, runID: runID)
        }
        guard batch.rowCount > 1 else {
            try await store.quarantine(batch, httpStatus: refusal.status, logref: refusal.logref, message: refusal.detail, runID: runID)
            outcome.rejected.append(refusal.logref ?? "HTTP \(refusal.status)")
            return
        }
        let halves = try await store.splitBatch(batch, encode: Self.body)
        var alike: [(PushBatch, Refusal)] = []
        for half in halves {
            if let again = try await send(half, target, runID: runID, outcome: &outcome, parent: refusal) { alike.append((half, again)) }
        }
        let allAlike = alike.count == halves.count && halves.count > 1 && halves.allSatisfy { $0.rowCount > 1 }
        if allAlike, alikeLevels >= 1 {
            for (half, again) in alike { try store.park(half, because: Self.customerLevel(again), logref: again.logref, runID: runID) }
            outcome.rejected.append(refusal.logref ?? "HTTP \(refusal.status)")
            outcome.customerRefused = true
            return
        }
        for (half, again) in alike {
            try await refused(half, again, target, runID: runID, outcome: &outcome, alikeLevels: allAlike ? alikeLevels + 1 : 0)
        }
    }

    static func customerLevel(_ refusal: Refusal) -> String {
        "Flowpay refused every part of its batch the same way (HTTP \(refusal.status): \(refusal.detail)); not a row's problem"
    }

    /// Statuses that judge the request's content (syntax, business rules, size): splitting can isolate them.
    static func refusesContent(_ status: Int) -> Bool {
        status == 400 || status == 413 || status == 422
    }
}
