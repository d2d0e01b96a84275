import AsyncHTTPClient
import Flowpay
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Store
import SyncEngine

/// Part of `banksync serve`: syncs, within seconds, customers whose consent was just linked (or that a
/// Flowpay webhook asked for) and customers never synced — many banks give more than 90 days of history only
/// right after the customer's authentication, so the daily run would come too late. One bounded `SyncRun`
/// (priority customers only) per poll; the daily `banksync sync` does everything else.
struct PrioritySyncs: Service {
    let connectionString: String
    let sources: SourceFactory
    let flowpay: FlowpayClient
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // On SIGTERM the loop is cancelled: a run in progress stops after its current customers.
        await cancelWhenGracefulShutdown { await poll() }
    }

    func poll() async {
        while !Task.isCancelled {
            if await anyPriorityCustomer() {
                var options = SyncRun.Options()
                options.priorityOnly = true
                options.concurrency = 2
                options.worker = "serve:" + options.worker
                options.today = try? ClockSettings.load().fixedToday
                do {
                    let summary = try await SyncRun(connectionString: connectionString, sources: sources, flowpay: flowpay,
                                                    options: options, logger: logger).run()
                    logger.info("priority syncs done", metadata: ["run": "\(summary.runID)", "customers": "\(summary.outcomes.count)",
                                                                  "failed": "\(summary.failed.count)"])
                } catch {
                    // The database may be restarting: try again at the next poll.
                    if !Task.isCancelled { logger.error("priority sync run failed", metadata: ["error": "\(error)"]) }
                }
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// One cheap count, so an idle poll records no sync run.
    func anyPriorityCustomer() async -> Bool {
        do {
            return try await withBlockingIOExecutor("banksync.serve.priority") {
                let store = try Store.connect(connectionString)
                defer { store.connection.close() }
                return try store.claimableCount(dueBefore: Date(timeIntervalSince1970: 0), priorityOnly: true) > 0
            }
        } catch {
            logger.warning("priority sync check failed", metadata: ["error": "\(error)"])
            return false
        }
    }
}
