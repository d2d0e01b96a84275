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
/// It never sends a batch it has not recorded first, and never marks anything pushed before a 2xx.
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

    public init(store: Store, flowpay: FlowpayClient, logger: Logger = Logger(label: "banksync.push"),
                batchSize: Int = FlowpayContract.maxTransactionsPerRequest) {
        self.store = store
        self.flowpay = flowpay
        self.logger = logger
        self.batchSize = min(max(batchSize, 1), FlowpayContract.maxTransactionsPerRequest)
    }

    public func drain(_ target: PushTarget, runID: Int64? = nil) async throws -> Outcome {
        var outcome = Outcome()
        for batch in try store.openBatches(customerID: target.customerID) where batch.kind != .updated {
            try await send(batch, target, runID: runID, outcome: &outcome)
        }
        try await pushAccountsIfChanged(target, runID: runID, outcome: &outcome)
        while let batch = try await store.recordTransactionBatch(customerID: target.customerID, limit: batchSize) {
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
                let body = try FlowpayContract.encode(transactions: store.batchTransactions(batchID: batch.id).map(ContractMapping.transaction))
                try await flowpay.postBankTransactions(customer: customer, body: body, idempotencyKey: batch.idempotencyKey)
            case .updated:
                try await flowpay.postBankAccountsUpdated(customer: customer, idempotencyKey: batch.idempotencyKey)
            }
        } catch let FlowpayError.rejected(status, message, logref, errors) {
            let detail = ([message] + errors).joined(separator: "; ")
            try await store.markRejected(batch, httpStatus: status, logref: logref, message: detail, runID: runID)
            outcome.rejected.append(logref ?? "HTTP \(status)")
            logger.error("batch rejected", metadata: ["customer": "\(customer)", "batch": "\(batch.id)", "logref": "\(logref ?? "-")"])
            return
        } catch {
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
}
