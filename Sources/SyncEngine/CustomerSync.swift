import Aggregators
import BankSyncCore
import Flowpay
import Foundation
import Logging
import Store
import Synchronization

/// What one customer's sync did, for the run summary and the log line.
public struct CustomerOutcome: Sendable {
    public var flowpayCustomerID: UUID
    public var accounts = 0
    public var accountsSkipped = 0
    public var newTransactions = 0
    public var duplicates = 0
    public var pushed = 0
    /// Set when the customer's sync failed or was cut short: the interruption code and message.
    public var problem: (code: String, message: String)?
    /// Set when the source may not be called yet (Fio's one call per token per interval, or its 409): the sync did
    /// nothing and the customer is given back, to be synced again in this run from this instant on.
    public var deferred: CallDeferred?

    public var succeeded: Bool { problem == nil }
    /// The `synced` event's message.
    public var syncedSummary: String { "\(accounts) accounts, \(newTransactions) new, \(pushed) pushed" }
}

/// Syncs one claimed customer: accounts and balances, each account's window ingested (deduplicated,
/// queued), then the outbox pushed. One account's trouble is recorded and the others carry on; a consent
/// problem stops the customer and marks it.
public struct CustomerSync: Sendable {
    let store: Store
    let sources: SourceFactory
    let flowpay: FlowpayClient?
    let overlapDays: Int
    let today: Day
    let logger: Logger
    /// The claim's lease and worker name: renewed as each account is done (progress, not a hang).
    let lease: (duration: Duration, worker: String)?
    let rescan: RescanPolicy
    /// A first sync longer than this is fetched and committed in pieces of this many days, oldest first.
    let backfillPieceDays: Int
    /// Whether a successful sync marks the customer synced itself; a run marks it with the claim's release
    /// instead (one statement: `Store.release(_:synced:)`).
    public var marksSynced = true
    /// Verdicts whose deferred write failed in the customer's sync, recorded at its end.
    let unstoredVerdicts = UnstoredVerdicts()

    public init(store: Store, sources: SourceFactory, flowpay: FlowpayClient?, overlapDays: Int, today: Day, logger: Logger,
                lease: (duration: Duration, worker: String)? = nil, rescan: RescanPolicy = RescanPolicy(),
                backfillPieceDays: Int = CustomerSync.defaultBackfillPieceDays) {
        self.store = store
        self.sources = sources
        self.flowpay = flowpay
        self.overlapDays = overlapDays
        self.today = today
        self.logger = logger
        self.lease = lease
        self.rescan = rescan
        self.backfillPieceDays = backfillPieceDays
    }

    /// A 730-day first sync is two reads: most banks and GoCardless allow 4 transaction reads a day.
    public static let defaultBackfillPieceDays = 366

    public func sync(_ record: CustomerRecord, runID: Int64) async -> CustomerOutcome {
        var outcome = CustomerOutcome(flowpayCustomerID: record.customer.flowpayCustomerID)
        do {
            try await pull(record, runID: runID, outcome: &outcome)
        } catch SourceError.deferred(let deferral) where deferral.reason != .historyLocked {
            if deferral.reason == .conflict {
                try? store.recordEvent(customerID: record.customer.id, runID: runID, level: .warning, code: "rate_limited",
                                       message: "\(deferral)")
            }
            outcome.deferred = deferral
            recordUnstoredVerdicts()
            return outcome
        } catch SourceError.deferred(let deferral) {
            // Fio's 90-day lock: not a failure of the run; the next step is the merchant's authorisation.
            try? store.recordEvent(customerID: record.customer.id, runID: runID, level: .warning, code: "history_short",
                                   message: "\(deferral); next step: \(Self.fioDeepHistoryStep(record))")
        } catch {
            note(error, record, runID: runID, outcome: &outcome)
        }
        // What earlier runs stored still goes out when this pull failed (a bank down, a consent expired).
        if let flowpay {
            do {
                let target = PushTarget(customerID: record.customer.id, flowpayCustomerID: record.customer.flowpayCustomerID)
                let pushed = try await OutboxDrain(store: store, flowpay: flowpay, logger: logger).drain(target, runID: runID)
                outcome.pushed = pushed.transactionsPushed
                if !pushed.rejected.isEmpty, outcome.problem == nil {
                    outcome.problem = ("rejected", "Flowpay refused \(pushed.rejected.count) request(s), the refused rows quarantined: "
                                           + pushed.rejected.joined(separator: ", "))
                }
            } catch {
                note(error, record, runID: runID, outcome: &outcome)
            }
        }
        recordUnstoredVerdicts()
        if outcome.problem == nil, marksSynced {
            try? store.markSynced(customerID: record.customer.id, runID: runID, message: outcome.syncedSummary)
        }
        return outcome
    }

    /// Records a failure of the pull or the push against the customer; the first one is the outcome's problem.
    func note(_ error: any Error, _ record: CustomerRecord, runID: Int64, outcome: inout CustomerOutcome) {
        let problem: (code: String, message: String)
        switch error {
        case let error as SourceError:
            problem = (error.code, error.description)
            if case .consentExpired(let detail) = error {
                try? store.markConsentExpired(customerID: record.customer.id, runID: runID, reason: detail)
            } else {
                try? store.recordEvent(customerID: record.customer.id, runID: runID, level: .error, code: error.code, message: error.description)
            }
        case let error as FlowpayError:
            problem = ("flowpay_unavailable", error.description)
            try? store.recordEvent(customerID: record.customer.id, runID: runID, level: .error, code: "flowpay_unavailable",
                                   message: error.description + "; tried again next run", logref: error.logref)
        default:
            problem = ("sync_failed", "\(error)")
            try? store.recordEvent(customerID: record.customer.id, runID: runID, level: .error, code: "sync_failed", message: "\(error)")
        }
        if outcome.problem == nil { outcome.problem = problem }
    }

    func pull(_ record: CustomerRecord, runID: Int64, outcome: inout CustomerOutcome) async throws {
        // Stored rows of an older mapping are keyed by the current one before anything is read (MappingUpgrade).
        // What earlier syncs stored stands in for what rarely changes (consent terms, account details): a daily
        // run spends its rate-limited calls on balances and transactions only.
        // The accounts' read states come with their details and the accounts a mapping upgrade must see to (one
        // round trip): each is read once, before the account's own writes; an account not among them (new,
        // reactivated) or met twice is read again — all of them after an upgrade.
        let upgrade = MappingUpgrade(store: store)
        let first = try store.accountsBehindMappingAndReadStates(customerID: record.customer.id, version: upgrade.version, today: today)
        var stored = first.stored
        if !first.behind.isEmpty {
            let upgradeLease = LeaseKeeper()
            _ = try await upgrade.run(customerID: record.customer.id, runID: runID, behind: first.behind) { try renewLease(record, upgradeLease) }
            stored = try store.storedAccountsAndReadStates(customerID: record.customer.id, today: today)
        }
        let source = try await sources.source(for: record, session: store, today: today)
        var readStates = stored.states
        let known = KnownAccounts(details: stored.details,
                                  consentTermsKnown: record.customer.status == "active" && (record.consentExpiresAt ?? .distantPast) > Date(),
                                  historyCap: record.historyCap, today: today)
        let snapshot = try await source.accounts(known: known)
        let requested = min(max(record.customer.historyDays, SyncWindow.historyDaysRange.lowerBound), SyncWindow.historyDaysRange.upperBound)
        let cap = snapshot.maxHistoryDays.flatMap { $0 < requested ? $0 : nil }
        if snapshot.consentTermsRead {
            try store.updateConsent(customerID: record.customer.id, expiresAt: snapshot.consentExpiresAt, historyCap: cap)
        }
        var firstProblem: (code: String, message: String)?
        var reported: [Int64] = []
        let leaseKeeper = LeaseKeeper()
        var prefetched = source.readsAccountsConcurrently ? prefetchDailyWindows(snapshot, stored: stored, record: record, from: source) : [:]
        defer { for ahead in prefetched.values { ahead.task.cancel() } }
        for sourceAccount in snapshot.accounts {
            try renewLease(record, leaseKeeper)
            let accountID = try await store.upsertAccount(customerID: record.customer.id, sourceAccount.account)
            reported.append(accountID)
            outcome.accounts += 1
            for gap in sourceAccount.missing {
                // A refused part (balances, details) of an account that is otherwise read: recorded, not fatal.
                try store.recordEvent(customerID: record.customer.id, accountID: accountID, runID: runID, level: .warning,
                                      code: gap.reason.code, message: "account read without its \(gap.part): \(gap.reason)")
                firstProblem = firstProblem ?? (gap.reason.code, "\(gap.part) not read: \(gap.reason)")
            }
            let state = try readStates.removeValue(forKey: accountID) ?? store.accountReadState(accountID: accountID, today: today)
            if let reason = sourceAccount.skipReason ?? state.deferred.map({ deferred in
                SourceError.rateLimited(account: nil, retryAt: nil, detail: "not read again before \(deferred.until): \(deferred.reason)")
            }) {
                try deferReadsIfBudgetUsedUp(reason, accountID: accountID)
                outcome.accountsSkipped += 1
                try store.recordEvent(customerID: record.customer.id, accountID: accountID, runID: runID, level: .warning,
                                      code: reason.code, message: "account skipped this run: \(reason)")
                firstProblem = firstProblem ?? (reason.code, reason.description)
                continue
            }
            let (daily, deep, window, requestedRange) = windows(of: accountID, state: state, record: record, snapshot: snapshot)
            // Fetched ahead while the accounts before it were stored, when the plan is the same.
            let ahead = prefetched.removeValue(forKey: sourceAccount.account.sourceAccountID)
            if let ahead, ahead.window != window || requestedRange != nil { ahead.task.cancel() }
            defer { ahead?.task.cancel() }   // used or not, it ends with the account's turn (a no-op once it finished)
            do {
                let ref = AccountRef(id: accountID, customerID: record.customer.id)
                if let range = requestedRange {
                    let read = try await fetchAndIngest(range, of: sourceAccount, from: source, into: ref, record: record, runID: runID,
                                                        leaseKeeper: leaseKeeper)
                    outcome.newTransactions += read.newBooked
                    outcome.duplicates += read.duplicates
                }
                let result = try await fetchAndIngest(window, of: sourceAccount, from: source, into: ref, record: record, runID: runID,
                                                      leaseKeeper: leaseKeeper,
                                                      // Not after a first sync or a deep read: a statement of theirs
                                                      // (the full-read or rescan note) always comes between and the
                                                      // read would be made twice.
                                                      reconcileFrom: window.isFirstSync || deep ? nil : Self.reconciliationCheckFrom(window),
                                                      prefetched: ahead.flatMap { $0.window == window && requestedRange == nil ? $0 : nil })
                // Cleared once the deep window is stored: a read that failed keeps the request for the next run.
                if let from = state.deepReadFrom { try store.clearDeepReadRequest(accountID: accountID, from: from) }
                outcome.newTransactions += result.newBooked
                outcome.duplicates += result.duplicates
                if result.outsideWindow > 0 {
                    logger.info("rows outside the requested window", metadata: [
                        "customer": "\(record.customer.flowpayCustomerID)", "account": "\(accountID)", "window": "\(window)",
                        "outside": "\(result.outsideWindow)", "dropped": "\(result.outsideWindowDropped)"])
                }
                if let described = source.accountAfterRead(sourceAccount) {
                    _ = try await store.upsertAccount(customerID: record.customer.id, described)
                }
                try noteShortHistory(record, accountID: accountID, window: window, result: result, runID: runID)
                // After a long lapse the window starts where the allowed history does, maybe after the day following
                // the last one read: those days are never read again (the watermark moves past them) and say so.
                if !window.isFirstSync, let bookedThrough = state.bookedThrough, window.from > bookedThrough.adding(days: 1) {
                    try store.noteHistoryGap(accountID: accountID, from: bookedThrough.adding(days: 1), to: window.from.adding(days: -1))
                } else if !window.isFirstSync, let bookedThrough = state.bookedThrough {
                    try noteUnlistedDays(record, accountID: accountID, window: window, bookedThrough: bookedThrough, result: result, runID: runID)
                }
                if window.isFirstSync {
                    try store.noteFullRead(accountID: accountID)
                } else if deep {
                    try store.noteRescan(account: ref, runID: runID, missedBefore: daily.from, today: today,
                                         updatesSchedule: rescan.forcedDays.map { $0 >= rescan.days } ?? true)
                }
                // The bank's balances are the evidence: the stored booked amounts must add up to their moves.
                do {
                    try await reconcile(ref, window: window, of: sourceAccount, from: source, record: record, runID: runID, leaseKeeper: leaseKeeper)
                } catch let error as SourceError {
                    if case .consentExpired = error { throw error }
                    try? store.recordEvent(customerID: record.customer.id, accountID: accountID, runID: runID, level: .warning,
                                           code: "reconciliation_failed", message: "not reconciled this run: \(error)")
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // The window is stored; only the check failed (the connection dropped): the next run checks again.
                    try? store.recordEvent(customerID: record.customer.id, accountID: accountID, runID: runID, level: .warning,
                                           code: "reconciliation_failed", message: "not reconciled this run: \(error)")
                }
            } catch let error as SourceError {
                if case .consentExpired = error { throw error }
                if case .deferred = error { throw error }   // the whole customer waits (or records its history_short)
                // A deep read the source cannot serve (too old a dateFrom, a timeout) waits a period: the daily
                // window runs again from the next run instead of failing every day.
                if deep { try? store.deferRescan(accountID: accountID) }
                try? deferReadsIfBudgetUsedUp(error, accountID: accountID)
                outcome.accountsSkipped += 1
                try store.recordEvent(customerID: record.customer.id, accountID: accountID, runID: runID,
                                      level: error.code == "rate_limited" ? .warning : .error, code: error.code,
                                      message: "window \(window) not stored: \(error)")
                firstProblem = firstProblem ?? (error.code, error.description)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // The database refused the window (or the connection dropped): this account only; the others carry on.
                outcome.accountsSkipped += 1
                try? store.recordEvent(customerID: record.customer.id, accountID: accountID, runID: runID, level: .error,
                                       code: "ingest_failed", message: "window \(window) not stored: \(error)")
                firstProblem = firstProblem ?? ("ingest_failed", "\(error)")
            }
        }
        // The consent's account list is complete here: accounts it no longer reports become inactive — a statement
        // only when one of those active at the start was not reported (an account made active since is in `reported`).
        if !Set(stored.states.keys).isSubset(of: reported) {
            try store.deactivateAccounts(customerID: record.customer.id, notIn: reported, runID: runID)
        }
        if let firstProblem { outcome.problem = firstProblem }
    }

    /// One account's window: each piece (a long first sync comes in `backfillPieceDays` pieces, oldest first) is
    /// fetched whole into a spool first, then ingested in its own database transaction with its watermark — no
    /// transaction waits on the bank, and a backfill cut short keeps the pieces it committed.
    func fetchAndIngest(_ window: SyncWindow, of account: SourceAccount, from source: any BankDataSource, into ref: AccountRef,
                        record: CustomerRecord, runID: Int64, leaseKeeper: LeaseKeeper = LeaseKeeper(), reconcileFrom: Day? = nil,
                        prefetched: PrefetchedWindow? = nil) async throws -> IngestResult {
        let pieces = window.pieces(ofDays: backfillPieceDays, overlap: overlapDays)
        var result = IngestResult()
        var historyNoted = pieces.count == 1   // one whole first sync records it in its ingest
        for (index, piece) in pieces.enumerated() {
            try Task.checkCancellation()
            let ahead = prefetched.flatMap { $0.window == piece ? $0 : nil }
            let refused = ahead?.refused ?? RefusedRowCollector()
            // A Berlin Group consent allows a few transaction reads a day: counted, for the ops console's reads left.
            if record.customer.source == .berlingroup { try store.noteAccountRead(accountID: ref.id, on: today) }
            let fetched = if let ahead { try await ahead.spool() } else {
                try await FetchSpool.filled(from: source.transactions(of: account, window: piece, refused: refused))
            }
            try renewLease(record, leaseKeeper)
            result.merge(try await store.ingest(account: ref, window: piece, sourceIDsAreStable: source.transactionIDsAreStable,
                                                keyGeneration: record.customer.keyGeneration, runID: runID,
                                                // The window's reconciliation read goes with its last piece's COMMIT.
                                                readForReconciliationFrom: index == pieces.count - 1 ? reconcileFrom : nil,
                                                pages: fetched.pages()))
            try store.quarantineUnreadableRows(account: ref, rows: refused.collected.map { ($0.field, $0.reason, $0.rawJSON) }, runID: runID)
            // Pieces come oldest first: the first one holding a booking holds the oldest, so the history received
            // is known then — and recorded then, even if a later piece fails and the backfill is cut short.
            if !historyNoted, let oldest = result.oldestBooked {
                try store.noteFirstSyncHistory(accountID: ref.id, requestedDays: window.to - window.from, receivedDays: window.to - oldest)
                historyNoted = true
            }
        }
        if !historyNoted { try store.noteFirstSyncHistory(accountID: ref.id, requestedDays: window.to - window.from, receivedDays: 0) }
        return result
    }

    /// The claim's lease follows progress, but at most every tenth of its length (not before every account and
    /// piece: a round trip each, most of them needless when accounts take milliseconds).
    func renewLease(_ record: CustomerRecord, _ keeper: LeaseKeeper) throws {
        guard let lease, keeper.isDue(every: lease.duration / 10) else { return }
        try store.renewLease(customerID: record.customer.id, lease: lease.duration, worker: lease.worker)
    }

    /// A read refused for its budget (Berlin Group ACCESS_EXCEEDED, GoCardless 429) is not tried again today — no
    /// retry loop spending what little budget is left — unless the source says it comes back within the hour.
    func deferReadsIfBudgetUsedUp(_ error: SourceError, accountID: Int64) throws {
        guard case .rateLimited(let account, let retryAt, let detail) = error, account != nil else { return }
        if let retryAt, retryAt < Date().addingTimeInterval(3_600) { return }
        try store.deferReads(accountID: accountID, until: today.adding(days: 1), reason: detail)
    }

    /// A first sync that received much less history than it asked for is recorded: many banks give more than
    /// 90 days only right after the customer's authentication, so the shortfall cannot be fetched later.
    func noteShortHistory(_ record: CustomerRecord, accountID: Int64, window: SyncWindow, result: IngestResult, runID: Int64) throws {
        guard window.isFirstSync else { return }
        // Fio gives 90 days until the holder authorises more: the shortfall against the customer's history counts.
        let fioLocked = record.customer.source == .fio && window.cappedAtDays != nil
        let requested = fioLocked ? record.customer.historyDays : window.to - window.from
        let received = result.oldestBooked.map { window.to - $0 } ?? 0
        guard received * 10 < requested * 9 else { return }
        try store.recordEvent(customerID: record.customer.id, accountID: accountID, runID: runID, level: .warning, code: "history_short",
                              message: "the first sync asked for \(requested) days of history and received \(received) (oldest booking "
                                  + "\(result.oldestBooked.map(String.init(describing:)) ?? "none")); "
                                  + (record.customer.source == .fio ? "next step: \(Self.fioDeepHistoryStep(record))"
                                                                    : "the bank may allow more only right after a new consent"))
    }

    /// A bank that lists less than it was asked for (it keeps fewer days than the consent allows, or cuts a long
    /// window after a lapse): none of the bookings stored for the days read again came back, and the oldest booking
    /// listed is two days or more after the last day read before. The days between were asked for and never listed:
    /// recorded as a history gap (`lag`, interruption `history_gap`) with the evidence, never guessed at. The count
    /// of stored rows is read only when the oldest listed booking is that late (a quiet account's days).
    func noteUnlistedDays(_ record: CustomerRecord, accountID: Int64, window: SyncWindow, bookedThrough: Day, result: IngestResult,
                          runID: Int64) throws {
        guard window.from <= bookedThrough else { return }
        let firstUnread = bookedThrough.adding(days: 1)
        let lastUnlisted = (result.oldestBooked ?? window.to.adding(days: 1)).adding(days: -1)
        guard lastUnlisted > firstUnread else { return }
        let stored = try store.storedBookings(accountID: accountID, from: window.from, through: bookedThrough)
        guard stored > 0 else { return }
        try store.noteHistoryGap(accountID: accountID, from: firstUnread, to: lastUnlisted)
        try store.recordEvent(customerID: record.customer.id, accountID: accountID, runID: runID, level: .warning, code: "history_gap",
                              message: "the bank was asked for bookings from \(window.from) and listed none before "
                                  + "\(result.oldestBooked.map(String.init(describing:)) ?? "the window's end"), although \(stored) stored "
                                  + "bookings of \(window.from)…\(bookedThrough) exist: \(firstUnread)…\(lastUnlisted) were never listed")
    }

    /// What gets a Fio customer more than 90 days: the holder's authorisation, then the deep backfill.
    static func fioDeepHistoryStep(_ record: CustomerRecord) -> String {
        "the merchant authorises older history in Fio Internetbanking, guided by banksync link --source fio --customer "
            + "\(record.customer.flowpayCustomerID.uuidString.lowercased()) --history-days \(record.customer.historyDays)"
    }
}

/// Deep re-reads: besides the daily window, an account's window reaches `days` back every `every` (35 days once
/// a week by default). Accounts never re-read are spread over the period by their id, so the aggregators'
/// budgets are not spent on one day; `forcedDays` (`sync --rescan-days N`) makes this run deep for everyone.
public struct RescanPolicy: Sendable {
    public var days = 35
    public var every: Duration = .seconds(7 * 86_400)
    public var forcedDays: Int?

    public init() {}

    var everyDays: Int { max(1, Int(every.components.seconds / 86_400)) }

    func isDue(accountID: Int64, window: SyncWindow, lastRescan: Date?, today: Day) -> Bool {
        guard !window.isFirstSync else { return false }
        if forcedDays != nil { return true }
        guard days > 0 else { return false }
        guard let lastRescan else { return (Int(accountID) + today.daysSinceEpoch) % everyDays == 0 }
        return lastRescan < Date().addingTimeInterval(-Double(every.components.seconds) + 3_600)   // an hour's slack for run times
    }

    func deepen(_ window: SyncWindow, today: Day, historyDays: Int, sourceMaxHistoryDays: Int?) -> SyncWindow {
        let reach = forcedDays ?? days
        let allowed = min(historyDays, sourceMaxHistoryDays ?? historyDays)
        let from = min(window.from, today.adding(days: -min(reach, allowed)))
        return SyncWindow(from: from, to: window.to, isFirstSync: false, cappedAtDays: window.cappedAtDays)
    }
}

/// When one customer's lease was last renewed in this sync (claimed counts as renewed).
final class LeaseKeeper: Sendable {
    private let last = Mutex<ContinuousClock.Instant>(.now)

    /// True, and restarts the interval, when `interval` has passed since the last renewal.
    func isDue(every interval: Duration) -> Bool {
        last.withLock { last in
            guard last.duration(to: .now) >= interval else { return false }
            last = .now
            return true
        }
    }
}
