import Hummingbird
import Logging
import ServiceLifecycle
import Store
import Synchronization

/// Part of `banksync serve`: re-reads the database's schema version every `interval` and whenever readiness is
/// asked. Once it differs from the build's (a newer banksync migrated the database under this process, or the
/// schema was rolled back), it stays moved: readiness answers 503, the public listener answers 503 to everything
/// but `/healthz` (an old serve must not stamp, record or sync with statements of another schema), and `run()`
/// throws so that the service group shuts down gracefully and serve exits non-zero for its supervisor to restart
/// it. It never changes the database.
public final class SchemaWatch: Service, Sendable {
    public enum Readiness: Sendable, Equatable {
        case ready(schema: Int)
        case schemaMoved(database: Int, build: Int)
        case databaseUnreachable
    }

    let pool: ConnectionPool
    public let expected: Int
    let interval: Duration
    let logger: Logger
    /// The schema version found once it differed from `expected` (never cleared: the process restarts).
    private let moved = Mutex<Int?>(nil)
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    public init(pool: ConnectionPool, expected: Int, interval: Duration = .seconds(30), logger: Logger) {
        self.pool = pool
        self.expected = expected
        self.interval = interval
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// True once the schema was found at another version than the build's (no database read).
    public var hasMoved: Bool { moved.withLock { $0 != nil } }

    /// Reads the schema version now.
    public func readiness() async -> Readiness {
        if let database = moved.withLock({ $0 }) { return .schemaMoved(database: database, build: expected) }
        let version: Int
        do {
            version = try await pool.withReadStore { try $0.schemaVersion() }
        } catch {
            return .databaseUnreachable
        }
        guard version == expected else {
            let first = moved.withLock { found -> Bool in
                defer { found = found ?? version }
                return found == nil
            }
            if first {
                logger.error("the database schema moved under serve: stopping", metadata: [
                    "schema": "\(version)", "expected": "\(expected)"])
                wake.yield()
            }
            return .schemaMoved(database: moved.withLock { $0 } ?? version, build: expected)
        }
        return .ready(schema: version)
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [wake, interval] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    wake.yield()
                }
            }
            for await _ in wakeups.cancelOnGracefulShutdown() {
                if case .schemaMoved(let database, let build) = await readiness() {
                    group.cancelAll()
                    throw MigrationError.schemaNotOfThisBuild(database: database, build: build)
                }
            }
            group.cancelAll()
        }
    }
}

/// Once the schema moved under serve, every request but `/healthz` and `/readyz` is answered 503 (Flowpay retries
/// a feed or a webhook later, against the serve that replaces this one).
struct SchemaMovedMiddleware: RouterMiddleware {
    typealias Context = PullAPIContext

    let watch: SchemaWatch
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard watch.hasMoved, path != "/healthz", path != "/readyz" else { return try await next(request, context) }
        return APIError(status: .serviceUnavailable, message: "Service Unavailable",
                        errors: ["this server is restarting after a schema change; try again"]).response(path: path, logger: logger)
    }
}

extension SchemaWatch {
    /// `/readyz` with the reason, for the private (metrics) listener: the schema versions when they differ.
    func registerDetailedReadiness(on router: Router<PullAPIContext>) {
        router.get("/readyz") { _, _ -> Response in
            switch await self.readiness() {
            case .ready(let schema):
                PullAPI.json(["status": "ready", "schema": schema])
            case .schemaMoved(let database, let build):
                PullAPI.json(["status": "schema moved", "schema": database, "expected": build,
                              "reason": MigrationError.schemaNotOfThisBuild(database: database, build: build).description],
                             status: .serviceUnavailable)
            case .databaseUnreachable:
                PullAPI.json(["status": "database unreachable"], status: .serviceUnavailable)
            }
        }
    }
}
