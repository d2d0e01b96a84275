import Postgres
import Store

/// A bounded pool of PostgreSQL connections for `banksync serve`. Connections are opened and used on a
/// blocking-I/O executor (never inside this actor), and a broken one is dropped rather than reused.
public actor ConnectionPool {
    public enum Failure: Error { case closed }

    let connectionString: String
    let size: Int
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var waiters: [CheckedContinuation<PostgresConnection?, any Error>] = []
    private var closed = false

    public init(connectionString: String, size: Int = 8) {
        self.connectionString = connectionString
        self.size = max(size, 1)
    }

    /// Runs a read (`body` changes nothing) with a pooled connection; a pooled connection that turns out dead
    /// (the database restarted since it was last used) is dropped and the read runs once more on a new one.
    public nonisolated func withReadStore<T: Sendable>(_ body: @Sendable (Store) async throws -> T) async throws -> T {
        do {
            return try await withStore(body)
        } catch let error as PostgresError where error.isConnectionProblem {
            return try await withStore(freshConnection: true, body)
        }
    }

    /// Runs `body` with a pooled connection, on a blocking-I/O executor.
    public nonisolated func withStore<T: Sendable>(freshConnection: Bool = false, _ body: @Sendable (Store) async throws -> T) async throws -> T {
        try await withBlockingIOExecutor("banksync.serve.db") {
            let connection: PostgresConnection
            if let pooled = try await acquire(fresh: freshConnection) {
                connection = pooled
            } else {
                do { connection = try PostgresConnection.connect(connectionString, applicationName: "banksync-serve") } catch {
                    await giveBackSlot()
                    throw error
                }
            }
            do {
                let result = try await body(Store(connection: connection))
                await release(connection)
                return result
            } catch {
                await release(connection)
                throw error
            }
        }
    }

    /// A pooled connection, or nil meaning "open a new one" (a slot is reserved for it).
    func acquire(fresh: Bool = false) async throws -> PostgresConnection? {
        if closed { throw Failure.closed }
        if fresh {
            // After a restart every idle connection is as dead as the one that failed.
            idle.forEach { $0.close() }
            open -= idle.count
            idle = []
        }
        if let connection = idle.popLast() { return connection }
        if open < size { open += 1; return nil }
        return try await withCheckedThrowingContinuation { waiters.append($0) }
    }

    func release(_ connection: PostgresConnection) {
        guard connection.isHealthy, !closed else {
            connection.close()
            giveBackSlot()
            return
        }
        if !waiters.isEmpty { waiters.removeFirst().resume(returning: connection) } else { idle.append(connection) }
    }

    func giveBackSlot() {
        if !waiters.isEmpty { waiters.removeFirst().resume(returning: nil) } else { open -= 1 }
    }

    public func close() {
        closed = true
        idle.forEach { $0.close() }
        idle = []
        waiters.forEach { $0.resume(throwing: Failure.closed) }
        waiters = []
    }
}
