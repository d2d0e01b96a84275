import Aggregators
import BankSyncCore
import Store

extension CustomerSync {
    /// What one account reads this run: the daily window (from its watermark), whether a deep re-read is due,
    /// the window read (the daily one, deepened or widened by a range ops asked for) and a requested range read
    /// on its own first (one that ends before the window begins).
    func windows(of accountID: Int64, state: AccountReadState, record: CustomerRecord, snapshot: SourceSnapshot)
        -> (daily: SyncWindow, deep: Bool, window: SyncWindow, requestedRange: SyncWindow?) {
        let daily = SyncWindow.next(today: today, bookedThrough: state.bookedThrough,
                                    historyDays: record.customer.historyDays, sourceMaxHistoryDays: snapshot.maxHistoryDays,
                                    overlapDays: overlapDays)
        let deep = rescan.isDue(accountID: accountID, window: daily, lastRescan: state.lastRescan, today: today)
        var window = deep ? rescan.deepen(daily, today: today, historyDays: record.customer.historyDays,
                                          sourceMaxHistoryDays: snapshot.maxHistoryDays) : daily
        // A deep read ops asked for (ops console) reads its range once, within the history allowed: a range that
        // reaches the daily window widens it; one that ends before it is read on its own first.
        var requestedRange: SyncWindow?
        if !window.isFirstSync, let from = state.deepReadFrom {
            let allowed = min(record.customer.historyDays, snapshot.maxHistoryDays ?? record.customer.historyDays)
            let start = max(from, today.adding(days: -allowed))
            if let to = state.deepReadTo, to < window.from.adding(days: -1) {
                requestedRange = start <= to ? SyncWindow(from: start, to: to, isFirstSync: false, cappedAtDays: nil) : nil
            } else {
                window = SyncWindow(from: min(window.from, start), to: window.to, isFirstSync: false, cappedAtDays: window.cappedAtDays)
            }
        }
        return (daily, deep, window, requestedRange)
    }

    /// Starts fetching, side by side, the plain daily windows of a customer's stored accounts (not a first sync,
    /// no deep re-read, no range ops asked for, no read deferred, nothing the source skipped): with two accounts a
    /// customer then waits for one transactions call, not two. Each fetch is the one the account's turn would make
    /// (same window, same spool); the turn takes it if its plan is still the same, else cancels it and fetches
    /// its own. At most `prefetchedAccounts` are fetched ahead (a daily window is a few rows; memory stays small).
    func prefetchDailyWindows(_ snapshot: SourceSnapshot, stored: (details: [String: BankAccount], states: [Int64: AccountReadState], ids: [String: Int64]),
                              record: CustomerRecord, from source: any BankDataSource) -> [String: PrefetchedWindow] {
        var prefetched: [String: PrefetchedWindow] = [:]
        for account in snapshot.accounts where prefetched.count < Self.prefetchedAccounts && account.skipReason == nil {
            let sourceID = account.account.sourceAccountID
            guard prefetched[sourceID] == nil, let id = stored.ids[sourceID], let state = stored.states[id], state.deferred == nil else { continue }
            let (_, deep, window, requestedRange) = windows(of: id, state: state, record: record, snapshot: snapshot)
            guard !deep, requestedRange == nil, !window.isFirstSync, window.pieces(ofDays: backfillPieceDays, overlap: overlapDays).count == 1 else { continue }
            prefetched[sourceID] = PrefetchedWindow(window: window, account: account, from: source)
        }
        return prefetched
    }

    static let prefetchedAccounts = 8
}

/// One account window's transactions being fetched ahead of the account's turn (`prefetchDailyWindows`).
struct PrefetchedWindow: Sendable {
    let window: SyncWindow
    let refused: RefusedRowCollector
    let task: Task<FilledSpool, any Error>

    init(window: SyncWindow, account: SourceAccount, from source: any BankDataSource) {
        let refused = RefusedRowCollector()
        self.window = window
        self.refused = refused
        self.task = Task { FilledSpool(try await FetchSpool.filled(from: source.transactions(of: account, window: window, refused: refused))) }
    }

    /// The fetched window (the source's error, if it failed); cancelling the waiting task cancels the fetch.
    func spool() async throws -> FetchSpool {
        try await withTaskCancellationHandler { try await task.value.spool } onCancel: { [task] in task.cancel() }
    }
}

/// A spool filled by the task that fetched it and handed, once that task has ended, to the one that ingests it:
/// never used by two tasks at once.
final class FilledSpool: @unchecked Sendable {
    let spool: FetchSpool
    init(_ spool: FetchSpool) { self.spool = spool }
}
