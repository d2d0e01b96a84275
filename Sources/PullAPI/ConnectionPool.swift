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

    /// Runs `body` with a pooled connection, on a blocking-I/O executor.
    public nonisolated func withStore<T: Sendable>(_ body: @Sendable (Store) async throws -> T) async throws -> T {
        try await withBlockingIOExecutor("banksync.serve.db") {
            let connection: PostgresConnection
            if let pooled = try await acquire() {
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
    func acquire() async throws -> PostgresConnection? {
        if closed { throw Failure.closed }
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
