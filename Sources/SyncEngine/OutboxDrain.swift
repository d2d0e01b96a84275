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
/// transactions batch Flowpay refuses (400/413/422) is decided from Flowpay's error envelope: rows it names are
/// quarantined and the rest delivered in the same run; a refusal naming no row parks the batch (the customer's
/// problem); only what the envelope leaves undecided is bisected. Any other refusal (401/403/404…) or exhausted retries
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
        /// Flowpay refused a batch naming no row (the customer's refusal): the drain stopped for this run.
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
        // The accounts call is read with the open batches (one round trip); it stands while none of them but a
        // signal is sent before it.
        let (open, accountsCall) = try store.openBatchesAndAccountsCall(customerID: target.customerID)
        // The signal owed: the one found open, or the one a batch marked sent recorded (`markSent`) — known here
        // without reading the outbox again, unless a refusal split, parked or quarantined something on the way.
        var signal = open.first { $0.kind == .updated }
        for batch in open where batch.kind != .updated {
            if outcome.customerRefused { return outcome }
            if batch.attempts >= parkAfterRuns {
                try store.park(batch, runs: batch.attempts, lastError: "see the batch's last_error", runID: runID)
                continue
            }
            try await send(batch, target, runID: runID, outcome: &outcome, signal: &signal)
        }
        if outcome.customerRefused { return outcome }
        // Accepted, and marked sent with the first transactions batch's recording (one round trip).
        var unmarked = try await pushAccountsIfChanged(target, runID: runID, outcome: &outcome, signal: &signal,
                                                       call: open.allSatisfy { $0.kind == .updated } ? accountsCall : nil, markLater: true)
        while !outcome.customerRefused {
            let next = try await store.recordTransactionBatch(customerID: target.customerID, limit: batchSize, markingSentFirst: unmarked,
                                                              encode: Self.body)
            if let accepted = unmarked { noteAccepted(accepted, marked: (next.markedSignal, nil), outcome: &outcome, signal: &signal) }
            unmarked = nil
            guard let batch = next.batch else { break }
            // The last batch (short of the limit), accepted with nothing refused before it, is followed by the signal.
            try await send(batch, target, runID: runID, outcome: &outcome, signal: &signal,
                           signalFollows: batch.rowCount < batchSize && outcome.rejected.isEmpty)
            // A batch short of the limit took every row that could go: no round trips to learn there is nothing left.
            if batch.rowCount < batchSize { break }
        }
        if let accepted = unmarked {
            noteAccepted(accepted, marked: (try store.markSent(accepted), nil), outcome: &outcome, signal: &signal)
        }
        // The signal goes last, once everything of this run reached Flowpay; a rejection holds it back
        // (the contract sends it only after all data succeeded) until a later run succeeds.
        if outcome.rejected.isEmpty, let pending = signal {
            try await send(pending, target, runID: runID, outcome: &outcome, signal: &signal)
            outcome.signalled = true
        }
        return outcome
    }

    func pushAccountsIfChanged(_ target: PushTarget, runID: Int64?, outcome: inout Outcome) async throws {
        var signal: PushBatch?
        try await pushAccountsIfChanged(target, runID: runID, outcome: &outcome, signal: &signal)
    }

    /// `call`: the accounts call as read already, while it still stands. `markLater`: an accepted batch is returned
    /// unmarked, for the caller to mark sent with its next statement (`noteAccepted` then).
    @discardableResult
    func pushAccountsIfChanged(_ target: PushTarget, runID: Int64?, outcome: inout Outcome, signal: inout PushBatch?,
                               call read: Store.AccountsCall? = nil, markLater: Bool = false) async throws -> PushBatch? {
        // An account without an IBAN or BIC is left out, and its transactions wait with it (the outbox takes none of
        // them); one with an IBAN but no BIC is the `missing_bic` interruption, read from the accounts themselves
        // (an event written here, before the run's `synced`, would never show).
        let call = try read ?? store.accountsCall(customerID: target.customerID)
        let (accounts, missing) = try ContractMapping.accounts(call.accounts)
        outcome.accountsSkipped += missing.count
        guard !accounts.isEmpty else { return nil }
        let payload = FlowpayContract.encode(accounts: accounts)
        let hash = Array(SHA256.hash(data: payload))
        guard call.lastSentHash != hash else { return nil }
        let batch = try store.recordAccountsBatch(customerID: target.customerID, payload: payload, payloadHash: hash,
                                                  accountCount: accounts.count)
        return try await send(batch, target, runID: runID, outcome: &outcome, signal: &signal, markLater: markLater)
    }

    /// Sends one batch, outside the drain's signal bookkeeping (a refused batch's parts).
    func send(_ batch: PushBatch, _ target: PushTarget, runID: Int64?, outcome: inout Outcome) async throws {
        var signal: PushBatch?
        try await send(batch, target, runID: runID, outcome: &outcome, signal: &signal)
    }

    /// Sends one batch; `signal` becomes the signal its acceptance recorded, if it recorded one, and nil once the
    /// signal itself is sent. `signalFollows`: the signal is sent right after this batch is accepted — its attempt is
    /// counted with the batch's mark (one round trip), as its own send would count it first.
    /// `markLater`: an accepted batch is not marked here but returned, for the caller to mark with its next statement.
    @discardableResult
    func send(_ batch: PushBatch, _ target: PushTarget, runID: Int64?, outcome: inout Outcome, signal: inout PushBatch?,
              signalFollows: Bool = false, markLater: Bool = false) async throws -> PushBatch? {
        if !batch.attemptCounted { try store.noteAttempt(batchID: batch.id) }
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
            let refusal = Refusal(status: status, message: message, errors: errors, logref: logref)
            logger.warning("batch refused", metadata: ["customer": "\(customer)", "batch": "\(batch.id)", "rows": "\(batch.rowCount)",
                                                      "logref": "\(logref ?? "-")"])
            try await refused(batch, refusal, target, runID: runID, outcome: &outcome)
            // Parts sent, parked or quarantined on the way: the signal owed is read from the outbox again.
            signal = try store.openBatches(customerID: target.customerID).first { $0.kind == .updated }
            return nil
        } catch {
            // Not a verdict on the content (401/403/404, retries exhausted, the network): this customer's drain
            // stops for this run and the batch is sent again next run (parked after `parkAfterRuns` runs).
            try? store.recordFailure(batch, message: "\(error)")
            throw error
        }
        if markLater { return batch }
        noteAccepted(batch, marked: try store.markSent(batch, countingSignalAttempt: signalFollows), outcome: &outcome, signal: &signal)
        return nil
    }

    /// An accepted batch, marked sent: `signal` becomes the signal the mark recorded (and counted as attempted when the
    /// mark counted it), nil once the signal itself is sent; the outcome counts the batch.
    func noteAccepted(_ batch: PushBatch, marked: (recorded: PushBatch?, signalAttemptCounted: Int64?), outcome: inout Outcome,
                      signal: inout PushBatch?) {
        if let recorded = marked.recorded { signal = recorded }
        if let counted = marked.signalAttemptCounted, signal?.id == counted { signal?.attemptCounted = true }
        if batch.kind == .updated { signal = nil }
        outcome.batchesSent += 1
        switch batch.kind {
        case .accounts: outcome.accountsPushed = true
        case .transactions: outcome.transactionsPushed += batch.rowCount
        case .updated: break
        }
    }

    /// Flowpay's verdict on a batch's content: its error envelope.
    struct Refusal: Sendable {
        let status: Int
        let message: String
        let errors: [FlowpayError.Detail]
        let logref: String?

        var detail: String { ([message] + errors.map(\.message)).joined(separator: "; ") }
    }

    /// What a refusal of a transactions batch is about, decided from Flowpay's envelope.
    enum Verdict: Equatable {
        /// Its errors name these rows (positions in the batch): only they are refused.
        case rows(Set<Int>)
        /// Its errors name no row (an unknown IBAN, a service not activated): the customer's, not the data's.
        case customer
        /// The envelope cannot say (a size refusal, a row reference outside the batch): bisect.
        case undecided
    }

    static func verdict(_ refusal: Refusal, ids: [String]) -> Verdict {
        // A body too large is about its size: halves answer it.
        if refusal.status == 413 { return .undecided }
        let named = RefusalRowReferences(refusal.errors, ids: ids)
        if named.unresolvedErrors > 0 { return .undecided }
        return named.positions.isEmpty ? .customer : .rows(named.positions)
    }

    /// A refused transactions batch is decided from Flowpay's answer, and only what stays undecided is bisected.
    /// - Errors naming rows (by position or id): the batch is cut exactly there; the named rows are quarantined
    ///   with Flowpay's answer and the rest goes in one request (whose own answer, if refused, is decided again).
    ///   k bad rows named cost 2 requests; named one at a time, about k·log₂n at most.
    /// - Errors naming no row: the customer's refusal (an unknown IBAN, a service not activated). The batch is
    ///   parked whole with Flowpay's reason (retried after a day, or by `push --requeue-rejected`), no row is
    ///   quarantined, and the customer's drain stops for this run: one request, two with the accounts call.
    /// - Undecided (a 413, a reference to a row the batch does not have): halves, each decided again.
    func refused(_ batch: PushBatch, _ refusal: Refusal, _ target: PushTarget, runID: Int64?, outcome: inout Outcome) async throws {
        guard batch.kind == .transactions else {
            // One body, nothing to split: kept as refused, sent again when its content changes.
            try await store.markRejected(batch, httpStatus: refusal.status, logref: refusal.logref, message: refusal.detail, runID: runID)
            outcome.rejected.append(refusal.logref ?? "HTTP \(refusal.status)")
            return
        }
        let ids = try store.batchFlowpayIDs(batch)
        switch Self.verdict(refusal, ids: ids) {
        case .customer:
            // Its rows wait in a copy recorded under a new key, parked and never sent yet: Flowpay (or a proxy) may
            // keep this key's refusal and answer it again to the same key once the customer is activated.
            for copy in try await store.splitBatch(batch, isolating: Set(ids.indices), encode: Self.body) {
                try store.park(copy, because: Self.customerLevel(refusal), logref: refusal.logref, runID: runID)
            }
            outcome.rejected.append(refusal.logref ?? "HTTP \(refusal.status)")
            outcome.customerRefused = true
        case .rows(let positions) where positions.count == ids.count:
            try await store.quarantine(batch, httpStatus: refusal.status, logref: refusal.logref, message: refusal.detail, runID: runID)
            outcome.rejected.append(refusal.logref ?? "HTTP \(refusal.status)")
        case .rows(let positions):
            let parts = try await store.splitBatch(batch, isolating: positions, encode: Self.body)
            guard let named = parts.first else { return }
            try await store.quarantine(named, httpStatus: refusal.status, logref: refusal.logref, message: refusal.detail, runID: runID)
            outcome.rejected.append(refusal.logref ?? "HTTP \(refusal.status)")
            for rest in parts.dropFirst() where !outcome.customerRefused {
                try await send(rest, target, runID: runID, outcome: &outcome)
            }
        case .undecided:
            guard batch.rowCount > 1 else {
                try await store.quarantine(batch, httpStatus: refusal.status, logref: refusal.logref, message: refusal.detail, runID: runID)
                outcome.rejected.append(refusal.logref ?? "HTTP \(refusal.status)")
                return
            }
            for half in try await store.splitBatch(batch, encode: Self.body) {
                if outcome.customerRefused {
                    // A sibling half showed the refusal is the customer's: parked with it, not sent this run.
                    try store.park(half, because: Self.customerLevel(refusal), logref: refusal.logref, runID: runID)
                } else {
                    try await send(half, target, runID: runID, outcome: &outcome)
                }
            }
        }
    }

    static func customerLevel(_ refusal: Refusal) -> String {
        "Flowpay refused the batch naming no row, so for the customer, not a row (HTTP \(refusal.status): \(refusal.detail))"
    }

    /// Statuses that judge the request's content (syntax, business rules, size): splitting can isolate them.
    static func refusesContent(_ status: Int) -> Bool {
        status == 400 || status == 413 || status == 422
    }
}
