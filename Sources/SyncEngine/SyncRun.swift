import BankSyncCore
import Flowpay
import Foundation
import Logging
import Postgres
import Store

/// One bounded `banksync sync` run: claims customers until none is left for this run, syncing up to
/// `concurrency` at a time, each on its own database session (which also holds that customer's lock).
public struct SyncRun: Sendable {
    public struct Options: Sendable {
        /// Customers synced at once; with `adaptive`, where the run starts (`adaptive.initial`) is used instead.
        public var concurrency = 4
        /// `--concurrency auto`: the number follows `ConcurrencyController` between these bounds.
        public var adaptive: ConcurrencyController.Bounds?
        public var lease: Duration = .seconds(600)
        public var overlapDays = SyncWindow.defaultOverlapDays
        public var only: UUID?
        /// A customer whose last sync finished less than this long before the run started is not due
        /// (overlapping runs never repeat work). Ignored for `only`.
        public var minInterval: Duration = .seconds(3600)
        public var worker = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
        /// The day windows end on; nil is the real UTC date (fixed only to replay a day, and in tests).
        public var today: Day?
        /// Only customers never synced or with a priority sync asked (a consent just linked, a webhook).
        public var priorityOnly = false
        public var rescan = RescanPolicy()
        /// A first sync longer than this is fetched and committed in pieces of this many days, oldest first.
        public var backfillPieceDays = CustomerSync.defaultBackfillPieceDays

        public init() {}
    }

    public struct Summary: Sendable {
        public var runID: Int64 = 0
        /// Customers registered at all, and those skipped as not due (synced within `--min-interval`).
        public var customersRegistered = 0
        public var notDue = 0
        public var outcomes: [CustomerOutcome] = []
        /// Customers synced at once: where the run started and ended, and the most at one instant.
        public var concurrency: (start: Int, end: Int, peak: Int) = (0, 0, 0)
        public var failed: [CustomerOutcome] { outcomes.filter { !$0.succeeded } }
    }

    let connectionString: String
    let sources: SourceFactory
    let flowpay: FlowpayClient?
    let options: Options
    let logger: Logger

    public init(connectionString: String, sources: SourceFactory, flowpay: FlowpayClient?, options: Options, logger: Logger) {
        self.connectionString = connectionString
        self.sources = sources
        self.flowpay = flowpay
        self.options = options
        self.logger = logger
    }

    /// `progress` is called after each customer with (done, total, outcome).
    public func run(progress: @escaping @Sendable (Int, Int, CustomerOutcome) -> Void = { _, _, _ in }) async throws -> Summary {
        try await withBlockingIOExecutor("banksync.sync.control") { try await runClaimLoop(progress: progress) }
    }

    func runClaimLoop(progress: @escaping @Sendable (Int, Int, CustomerOutcome) -> Void) async throws -> Summary {
        let roundTripsAtStart = PostgresStatistics.roundTripsSoFar
        // The control connection only opens and closes the run: it would sit idle for the whole run (and die
        // with a database restart), so the summary is written on a fresh one.
        let (runID, startedAt, total, due, freeConnections) = try await Self.withReconnects(connectionString, logger: logger) { control in
            try control.requireSchemaOfThisBuild()
            let (runID, startedAt) = try control.startRun(worker: options.worker)
            let interval = options.only == nil ? Double(options.minInterval.components.seconds) : 0
            let total = try control.claimableCount(dueBefore: startedAt.addingTimeInterval(-interval), only: options.only,
                                                   priorityOnly: options.priorityOnly)
            return (runID, startedAt, total, try control.dueSummary(dueBefore: startedAt.addingTimeInterval(-interval)),
                    options.adaptive == nil ? nil : try control.freeConnections())
        }
        let interval = options.only == nil ? Double(options.minInterval.components.seconds) : 0
        let dueBefore = startedAt.addingTimeInterval(-interval)
        let today = options.today ?? Day(utcSecondsSince1970: Date().timeIntervalSince1970)
        var summary = Summary(runID: runID)
        summary.customersRegistered = due.customers
        summary.notDue = options.only == nil && !options.priorityOnly ? due.notDue : 0
        let counter = Counter()
        // An adaptive run never opens more connections than the server has left, less a margin for the others.
        let adaptive = options.adaptive.map { bounds in
            ConcurrencyController.Bounds(initial: bounds.initial, minimum: bounds.minimum,
                                         maximum: min(bounds.maximum, max(bounds.minimum, (freeConnections ?? bounds.maximum) - 5)))
        }
        let gate = makeGate(runID: runID, adaptive: adaptive)
        let workers = adaptive?.maximum ?? options.concurrency
        do {
            summary.outcomes = try await withThrowingTaskGroup(of: [CustomerOutcome].self) { group in
                // No more workers (each with its own database connection once first admitted) than customers due.
                for _ in 0..<max(1, min(workers, total)) {
                    group.addTask { try await withBlockingIOExecutor("banksync.sync.worker") {
                        try await worker(runID: runID, dueBefore: dueBefore, today: today, total: total, counter: counter, gate: gate,
                                         progress: progress)
                    } }
                }
                var all: [CustomerOutcome] = []
                for try await outcomes in group { all += outcomes }
                return all
            }
        } catch {
            _ = try? await Self.withReconnects(connectionString, logger: logger) { store in
                try store.finishRun(id: runID, status: "failed", counts: "{}", error: "\(error)")
            }
            throw error
        }
        let failed = summary.failed.count
        summary.concurrency = (adaptive?.initial ?? options.concurrency, await gate.limit, await gate.peak)
        let concurrency = #""concurrency":{"start":\#(summary.concurrency.start),"end":\#(summary.concurrency.end),"peak":\#(summary.concurrency.peak)}"#
        let counts = #"{\#(concurrency),"customers":\#(summary.outcomes.count),"notDue":\#(summary.notDue),"registered":\#(summary.customersRegistered),"failed":\#(failed),"new":\#(summary.outcomes.reduce(0) { $0 + $1.newTransactions }),"pushed":\#(summary.outcomes.reduce(0) { $0 + $1.pushed }),"dbRoundTrips":\#(PostgresStatistics.roundTripsSoFar - roundTripsAtStart)}"#
        try await Self.withReconnects(connectionString, logger: logger) { store in
            try store.finishRun(id: runID, status: failed == 0 ? "succeeded" : (failed == summary.outcomes.count ? "failed" : "partial"),
                                counts: counts, error: nil)
        }
        return summary
    }

    func makeGate(runID: Int64, adaptive: ConcurrencyController.Bounds?) -> ConcurrencyGate {
        guard let bounds = adaptive else { return ConcurrencyGate(fixed: options.concurrency) }
        let logger = logger
        return ConcurrencyGate(adaptive: bounds) { change, limit, median in
            logger.info("customers synced at once changed", metadata: [
                "run": "\(runID)", "limit": "\(limit)", "reason": "\(change)",
                "median_ms": "\(Int(median * 1_000))"])
        }
    }

    /// One worker: claims and syncs customers on its own session until none is left, each admitted by `gate`
    /// (which bounds how many are synced at once). A lost connection (a database restart or failover) is
    /// reconnected with backoff and the worker carries on with the next customer; the customer it was syncing is
    /// reported failed and is due again. Only a database that stays unreachable for the whole retry budget ends the
    /// worker (and the run). Waits (for a deferred customer, before a reconnect) are made outside the gate.
    func worker(runID: Int64, dueBefore: Date, today: Day, total: Int, counter: Counter, gate: ConcurrencyGate,
                progress: @escaping @Sendable (Int, Int, CustomerOutcome) -> Void) async throws -> [CustomerOutcome] {
        var outcomes: [CustomerOutcome] = []
        var store: Store?
        var failures = 0
        var inFlight: Int64?
        var everConnected = false
        defer { store?.connection.close() }
        while !Task.isCancelled {
            do { try await gate.enter(connected: store != nil) } catch { break }
            let started = ContinuousClock.now
            var took: Double?
            var pause: Duration?
            var stop = false
            var failure: (any Error)?
            do {
                let session = try store ?? Store.connect(connectionString)
                store = session
                everConnected = true
                if let claim = try await session.claimNext(dueBefore: dueBefore, lease: options.lease, worker: options.worker,
                                                           only: options.only, priorityOnly: options.priorityOnly,
                                                           excluding: await counter.excluded) {
                    failures = 0
                    inFlight = claim.customerID
                    if let record = try claim.record ?? session.customer(id: claim.customerID) {
                        if let outcome = try await syncClaimed(record, claim: claim, on: session, runID: runID, today: today,
                                                               counter: counter) {
                            outcomes.append(outcome)
                            took = (ContinuousClock.now - started) / .seconds(1)
                            progress(await counter.increment(), total, outcome)
                        }
                    } else {
                        try session.release(claim)
                    }
                    inFlight = nil
                } else if let next = await counter.nextDeferral() {
                    // Customers waiting for their source's next allowed call (Fio's interval) are this run's too:
                    // wait for the first of them without holding any customer or connection, then look again.
                    pause = .milliseconds(max(50, min(Int64(next.timeIntervalSinceNow * 1_000) + 20, 60_000)))
                    session.connection.close()
                    store = nil
                } else {
                    stop = true
                }
            } catch is CancellationError {
                stop = true
            } catch {
                failure = error
            }
            await gate.leave(afterSeconds: took)
            if stop { break }
            if let error = failure {
                // A worker the server turned away before it ever connected ("too many clients"): the run already
                // has as many connections as the server allows; this worker ends and the others go on.
                if store == nil, !everConnected, Self.isServerFull(error) {
                    logger.warning("database full; syncing with fewer customers at once", metadata: ["error": "\(error)"])
                    await gate.lowerLimitToActive()
                    break
                }
                store?.connection.close()
                store = nil
                failures += 1
                // The customer whose sync lost the connection is due again (its lock died with the session);
                // after two losses in this run it is left, still due, for the next run.
                if let customer = inFlight { await counter.connectionLost(customer) }
                inFlight = nil
                // Only a lost connection is worth another: anything else is a defect to report, not to loop on.
                guard failures <= Self.reconnectAttempts, Self.isConnectionProblem(error) else { throw error }
                logger.warning("database connection lost; reconnecting", metadata: ["attempt": "\(failures)", "error": "\(error)"])
                pause = Self.reconnectDelay(failures)
            }
            if let pause {
                do { try await Task.sleep(for: pause) } catch { break }
            }
        }
        return outcomes
    }

    /// Syncs one claimed customer and releases it; nil when the sync was deferred and given back uncounted.
    func syncClaimed(_ record: CustomerRecord, claim: Claim, on session: Store, runID: Int64, today: Day,
                     counter: Counter) async throws -> CustomerOutcome? {
        var sync = CustomerSync(store: session, sources: sources, flowpay: flowpay, overlapDays: options.overlapDays,
                                today: today, logger: logger, lease: (options.lease, options.worker),
                                rescan: options.rescan, backfillPieceDays: options.backfillPieceDays)
        sync.marksSynced = false   // with the release below, one statement
        var outcome = await sync.sync(record, runID: runID)
        if let deferral = outcome.deferred {
            // Given back without counting as synced; after two 409s in a run, left for the next run.
            if await counter.postpone(claim.customerID, until: deferral.retryAt, conflict: deferral.reason == .conflict) {
                try session.releaseDeferred(claim)
                return nil
            }
            outcome.problem = ("rate_limited", "\(deferral); left for the next run")
        }
        try session.release(claim, synced: outcome.problem == nil ? (runID, outcome.syncedSummary) : nil)
        return outcome
    }

    /// About a minute in all: 0.5, 1, 2, 4, 8, 15, 15, 15 s.
    static let reconnectAttempts = 8
    static func reconnectDelay(_ attempt: Int) -> Duration { .milliseconds(min(500 << (attempt - 1), 15_000)) }

    /// `body` on a fresh connection, reconnecting with backoff while the database is unreachable.
    static func withReconnects<T>(_ connectionString: String, logger: Logger, _ body: (Store) throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                let store = try Store.connect(connectionString)
                defer { store.connection.close() }
                return try body(store)
            } catch {
                attempt += 1
                guard attempt <= reconnectAttempts, Self.isConnectionProblem(error) else { throw error }
                logger.warning("database unreachable; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: reconnectDelay(attempt))
            }
        }
    }

    /// The server refused a new session because it has no connection slot left.
    static func isServerFull(_ error: any Error) -> Bool {
        "\(error)".contains("too many clients") || "\(error)".contains("remaining connection slots are reserved")
    }

    static func isConnectionProblem(_ error: any Error) -> Bool {
        guard let error = error as? PostgresError else { return false }
        return error.isConnectionProblem
    }
}

actor Counter {
    var value = 0
    var losses: [Int64: Int] = [:]
    func increment() -> Int { value += 1; return value }
    func connectionLost(_ customerID: Int64) { losses[customerID, default: 0] += 1 }
    /// Customers whose sync lost the connection twice in this run: not claimed again by it.
    var givenUp: [Int64] { losses.filter { $0.value >= 2 }.map(\.key) }
    /// Customers waiting for their source's next allowed call, until when; and 409s counted per customer.
    var deferred: [Int64: Date] = [:]
    var conflicts: [Int64: Int] = [:]

    /// Records a deferral; false when the customer had its second 409 in this run (give up on it for this run).
    func postpone(_ customerID: Int64, until: Date, conflict: Bool) -> Bool {
        if conflict {
            conflicts[customerID, default: 0] += 1
            if conflicts[customerID, default: 0] >= 2 { deferred[customerID] = nil; return false }
        }
        deferred[customerID] = until
        return true
    }

    /// Not to be claimed now: given up, or deferred to a later instant.
    var excluded: [Int64] {
        let now = Date()
        return givenUp + deferred.filter { $0.value > now }.map(\.key)
    }

    /// The earliest instant a deferred customer may be tried again, while any is deferred. One whose instant has
    /// passed and that no claim found is someone else's now (another worker or process synced it): forgotten.
    func nextDeferral() -> Date? {
        let now = Date()
        deferred = deferred.filter { $0.value > now }
        return deferred.values.min()
    }
}
