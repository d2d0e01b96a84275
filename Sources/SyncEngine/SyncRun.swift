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
        public var concurrency = 4
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

        public init() {}
    }

    public struct Summary: Sendable {
        public var runID: Int64 = 0
        public var outcomes: [CustomerOutcome] = []
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
        let control = try Store.connect(connectionString)
        defer { control.connection.close() }
        let (runID, startedAt) = try control.startRun(worker: options.worker)
        let interval = options.only == nil ? Double(options.minInterval.components.seconds) : 0
        let dueBefore = startedAt.addingTimeInterval(-interval)
        let total = try control.claimableCount(dueBefore: dueBefore, only: options.only, priorityOnly: options.priorityOnly)
        let today = options.today ?? Day(utcSecondsSince1970: Date().timeIntervalSince1970)
        var summary = Summary(runID: runID)
        let counter = Counter()
        do {
            summary.outcomes = try await withThrowingTaskGroup(of: [CustomerOutcome].self) { group in
                for _ in 0..<max(1, options.concurrency) {
                    group.addTask { try await withBlockingIOExecutor("banksync.sync.worker") {
                        let store = try Store.connect(connectionString)
                        defer { store.connection.close() }
                        let sync = CustomerSync(store: store, sources: sources, flowpay: flowpay, overlapDays: options.overlapDays,
                                                today: today, logger: logger)
                        var outcomes: [CustomerOutcome] = []
                        while !Task.isCancelled,
                              let claim = try await store.claimNext(dueBefore: dueBefore, lease: options.lease, worker: options.worker,
                                                                   only: options.only, priorityOnly: options.priorityOnly) {
                            guard let record = try store.customer(id: claim.customerID) else { try store.release(claim); continue }
                            let outcome = await sync.sync(record, runID: runID)
                            try store.release(claim)
                            outcomes.append(outcome)
                            progress(await counter.increment(), total, outcome)
                        }
                        return outcomes
                    } }
                }
                var all: [CustomerOutcome] = []
                for try await outcomes in group { all += outcomes }
                return all
            }
        } catch {
            try? control.finishRun(id: runID, status: "failed", counts: "{}", error: "\(error)")
            throw error
        }
        let failed = summary.failed.count
        let counts = #"{"customers":\#(summary.outcomes.count),"failed":\#(failed),"new":\#(summary.outcomes.reduce(0) { $0 + $1.newTransactions }),"pushed":\#(summary.outcomes.reduce(0) { $0 + $1.pushed })}"#
        try control.finishRun(id: runID, status: failed == 0 ? "succeeded" : (failed == summary.outcomes.count ? "failed" : "partial"),
                              counts: counts, error: nil)
        return summary
    }
}

actor Counter {
    var value = 0
    func increment() -> Int { value += 1; return value }
}
