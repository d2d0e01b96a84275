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
            if batch.attempts >= parkAfterRuns {
                try store.park(batch, runs: batch.attempts, lastError: "see the batch's last_error", runID: runID)
                continue
            }
            try await send(batch, target, runID: runID, outcome: &outcome)
        }
        try await pushAccountsIfChanged(target, runID: runID, outcome: &outcome)
        while let batch = try await store.recordTransactionBatch(customerID: target.customerID, limit: batchSize, encode: Self.body) {
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

    func send(_ batch: PushBatch, _ target: PushTarget, runID: Int64?, outcome: inout Outcome) async throws {
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
            let detail = ([message] + errors).joined(separator: "; ")
            logger.warning("batch refused", metadata: ["customer": "\(customer)", "batch": "\(batch.id)", "rows": "\(batch.rowCount)",
                                                      "logref": "\(logref ?? "-")"])
            guard batch.kind == .transactions else {
                // One body, nothing to split: kept as refused, sent again when its content changes.
                try await store.markRejected(batch, httpStatus: status, logref: logref, message: detail, runID: runID)
                outcome.rejected.append(logref ?? "HTTP \(status)")
                return
            }
            guard batch.rowCount > 1 else {
                try await store.quarantine(batch, httpStatus: status, logref: logref, message: detail, runID: runID)
                outcome.rejected.append(logref ?? "HTTP \(status)")
                return
            }
            for half in try await store.splitBatch(batch, encode: Self.body) {
                try await send(half, target, runID: runID, outcome: &outcome)
            }
            return
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
    }

    /// Statuses that judge the request's content (syntax, business rules, size): splitting can isolate them.
    static func refusesContent(_ status: Int) -> Bool {
        status == 400 || status == 413 || status == 422
    }
}
