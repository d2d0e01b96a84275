import Logging
import PullAPI
import ServiceLifecycle
import Store

/// `serve`'s housekeeping for the console: expired break-glass sessions are deleted every `interval`, not only when
/// someone signs in again (a session row outlives its cookie by nothing more than that interval).
public struct ConsoleHousekeeping: Service {
    let pool: ConnectionPool
    let interval: Duration
    let logger: Logger

    public init(pool: ConnectionPool, interval: Duration = .seconds(600), logger: Logger) {
        self.pool = pool
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweep()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One pass: the expired sessions go; a database that does not answer is tried again next time.
    public func sweep() async {
        do {
            let deleted = try await pool.withStore { try $0.deleteExpiredConsoleSessions() }
            if deleted > 0 { logger.info("console: expired sessions deleted", metadata: ["sessions": "\(deleted)"]) }
        } catch {
            if !Task.isCancelled { logger.warning("console: expired sessions not deleted this time", metadata: ["problem": "\(error)"]) }
        }
    }
}
