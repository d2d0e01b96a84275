import Aggregators
import BankSyncCore
import Foundation
import Logging
import Store
import Synchronization

/// After an account's window is stored: its booked amounts are reconciled against the bank's booked balances
/// (`Store.reconcile`, `BankSyncCore.Reconciliation`). A range that does not add up is deep-read once — exactly its
/// days, one transactions call within the source's budget — and reconciled again: what the read brings in is a
/// repaired gap (event `reconciliation_repaired`), a difference that stays is an interruption (`unreconciled`,
/// shown by `lag --interruptions` until the account reconciles). Nothing already stored or sent is changed: a
/// booking the bank lists twice stays stored twice, and ops decide.
extension CustomerSync {
    /// What reconciling one account cost and found: for the log and the cost measurement.
    struct ReconciliationReport: Sendable {
        var roundTrips = 0
        var deepRead: ClosedRange<Day>?
        var state: Reconciliation.Outcome.State?
    }

    @discardableResult
    func reconcile(_ ref: AccountRef, window: SyncWindow, of account: SourceAccount, from source: any BankDataSource, record: CustomerRecord,
                   runID: Int64, leaseKeeper: LeaseKeeper) async throws -> ReconciliationReport {
        var report = ReconciliationReport()
        // The verdict goes with the next statement; should it fail, that is noted here and recorded at the end of the
        // customer's sync (`recordUnstoredVerdicts`), and the next run checks again.
        let logger = logger, unstored = unstoredVerdicts
        let verdictFailed = { (error: any Error) in
            logger.warning("reconciliation verdict not stored", metadata: ["account": "\(ref.id)", "error": "\(error)"])
            unstored.note(UnstoredVerdicts.Failure(account: ref, runID: runID, error: "\(error)"))
        }
        let first = try store.reconcile(account: ref, checkFrom: Self.reconciliationCheckFrom(window), today: today,
                                        verdictIfItFails: verdictFailed)
        report.roundTrips += first.roundTrips
        report.state = first.now.outcome.state
        guard let mismatch = first.now.outcome.mismatch else {
            if let earlier = first.before?.outcome.mismatch, first.now.outcome.state == .reconciled {
                try store.recordEvent(customerID: ref.customerID, accountID: ref.id, runID: runID, level: .info, code: "reconciled_again",
                                      message: "the bank's balances agree with its transactions again between \(earlier.from.adding(days: 1)) and "
                                          + "\(earlier.to) (the difference of \(Self.amount(earlier.differenceMinor, first.now.currency)) is gone)")
                report.roundTrips += 1
            }
            return report
        }
        let range = mismatch.from.adding(days: 1)...mismatch.to
        // One deep read per disagreeing range: a range already re-read that still disagrees is an interruption.
        guard first.now.deepRead != range else { return report }
        let deep = SyncWindow(from: range.lowerBound, to: range.upperBound, isFirstSync: false)
        let result: IngestResult
        do {
            result = try await fetchAndIngest(deep, of: account, from: source, into: ref, record: record, runID: runID, leaseKeeper: leaseKeeper)
        } catch let error as SourceError {
            if case .consentExpired = error { throw error }
            // Out of budget or refused: the next run finds the range again and reads it then.
            try? deferReadsIfBudgetUsedUp(error, accountID: ref.id)
            try store.recordEvent(customerID: ref.customerID, accountID: ref.id, runID: runID, level: .warning, code: "reconciliation_read_failed",
                                  message: "the deep read of \(range.lowerBound)…\(range.upperBound), where the bank's balances disagree with its "
                                      + "transactions by \(Self.amount(mismatch.differenceMinor, first.now.currency)), was not done: \(error); tried again next run")
            return report
        }
        report.deepRead = range
        try store.noteReconciliationDeepRead(accountID: ref.id, range: range)
        let second = try store.reconcile(account: ref, checkFrom: Self.reconciliationCheckFrom(window), today: today,
                                         verdictIfItFails: verdictFailed)
        report.roundTrips += 1 + second.roundTrips + 1
        report.state = second.now.outcome.state
        let currency = second.now.currency
        if let still = second.now.outcome.mismatch, still.from <= mismatch.from {
            let next = still.differenceMinor > 0
                ? "BankSync re-read those days and the bank still lists less than its balances moved: ask the bank (or the aggregator) for the "
                    + "missing booking(s); the account reconciles by itself once they are listed"
                : "BankSync re-read those days and the bank still lists more than its balances moved (a booking listed twice, or one the balance "
                    + "does not include): nothing sent to Flowpay was changed; check the bookings of those days with the bank"
            try store.recordEvent(customerID: ref.customerID, accountID: ref.id, runID: runID, level: .warning, code: "unreconciled",
                                  message: "the bank's balances disagree with its transactions between \(still.from.adding(days: 1)) and \(still.to) by "
                                      + "\(Self.amount(still.differenceMinor, currency))" + (still.chainBreak.map { "; \($0)" } ?? "") + ". Next step: \(next)")
        } else {
            try store.recordEvent(customerID: ref.customerID, accountID: ref.id, runID: runID, level: .info, code: "reconciliation_repaired",
                                  message: "a deep read of \(range.lowerBound)…\(range.upperBound) found \(result.newBooked) booking(s) an earlier fetch "
                                      + "had missed, \(Self.amount(mismatch.differenceMinor, currency)) in all; reconciled through "
                                      + "\(second.now.outcome.reconciledThrough.map(String.init(describing:)) ?? "-")")
        }
        logger.info("reconciliation deep read", metadata: [
            "customer": "\(record.customer.flowpayCustomerID)", "account": "\(ref.id)", "range": "\(range.lowerBound)…\(range.upperBound)",
            "new": "\(result.newBooked)", "state": "\(second.now.outcome.state.rawValue)"])
        return report
    }

    /// Sends what is still deferred (a verdict with no statement after it), then records each verdict that was not
    /// stored as `reconciliation_failed` — once the session is idle, never inside another statement's transaction.
    func recordUnstoredVerdicts() {
        store.connection.sendDeferredWrites()
        for failure in unstoredVerdicts.take() {
            try? store.recordEvent(customerID: failure.account.customerID, accountID: failure.account.id, runID: failure.runID, level: .warning,
                                   code: "reconciliation_failed", message: "not reconciled this run: the verdict was not stored: \(failure.error)")
        }
    }

    /// The day an account's reconciliation reads from after `window` was stored: the day before it.
    static func reconciliationCheckFrom(_ window: SyncWindow) -> Day { window.from.adding(days: -1) }

    static func amount(_ minor: Int64, _ currency: String?) -> String {
        Reconciliation.minorText(minor) + (currency.map { " " + $0 } ?? "")
    }
}

/// Reconciliation verdicts whose deferred write failed, waiting to be recorded (`CustomerSync.recordUnstoredVerdicts`).
final class UnstoredVerdicts: Sendable {
    struct Failure: Sendable {
        let account: AccountRef
        let runID: Int64
        let error: String
    }

    private let failures = Mutex<[Failure]>([])

    func note(_ failure: Failure) { failures.withLock { $0.append(failure) } }

    func take() -> [Failure] { failures.withLock { failures in defer { failures = [] }; return failures } }
}
