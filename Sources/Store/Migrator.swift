import Logging
import Postgres

/// Applies pending migrations in order, each in its own transaction (or statement by statement for a
/// `-- banksync: no-transaction` file), under an advisory lock so that concurrent `banksync migrate` runs
/// serialise: one applies, the others wait and then find nothing to do.
///
/// Every migration runs under a short `lock_timeout`: a statement that cannot take its lock at once (a long
/// transaction of `sync` or `serve` holds a conflicting one) gives up instead of queueing every later reader and
/// writer behind it, and is tried again after a backoff. The database's traffic waits at most `lockTimeout`.
///
/// A migration written as steps (`MigrationStep`), or a released one with an online plan (`OnlinePlan`), runs
/// step by step: each finished step, and each batch of a batched step, is recorded in `schema_migration_steps`,
/// so a killed migrator resumes where it stopped; the migration is recorded as applied after its last step.
public struct Migrator: Sendable {
    /// Advisory lock key shared by every migrating process ("banksync" in ASCII).
    static let lockKey: Int64 = 0x62_61_6e_6b_73_79_6e_63

    /// How a migration waits for its locks.
    public struct LockRetry: Sendable {
        /// `lock_timeout` of every statement of a migration.
        public var lockTimeout: Duration = .seconds(2)
        /// Attempts per migration before `migrate` gives up.
        public var maxAttempts = 20
        /// The wait after the first lock timeout, doubled after each further one up to `maxDelay`.
        public var firstDelay: Duration = .milliseconds(500)
        public var maxDelay: Duration = .seconds(15)

        public init() {}
    }

    /// How batched steps run.
    public struct Batching: Sendable {
        /// Rows per batch for every batched step, instead of each step's own `by <rows>`.
        public var rowsPerBatch: Int?
        /// A pause after each batch (lets replicas, vacuum and the traffic keep up).
        public var pause: Duration = .zero

        public init(rowsPerBatch: Int? = nil, pause: Duration = .zero) {
            self.rowsPerBatch = rowsPerBatch
            self.pause = pause
        }
    }

    public let migrations: [Migration]
    let logger: Logger
    let lockRetry: LockRetry
    let batching: Batching
    /// False runs released files as written even where an `OnlinePlan` exists (tests compare both ways).
    let usesOnlinePlans: Bool

    public init(migrations: [Migration], lockRetry: LockRetry = LockRetry(), batching: Batching = Batching(), usesOnlinePlans: Bool = true,
                logger: Logger = Logger(label: "banksync.migrate")) {
        self.migrations = migrations
        self.lockRetry = lockRetry
        self.batching = batching
        self.usesOnlinePlans = usesOnlinePlans
        self.logger = logger
    }

    /// The steps `migration` runs as, when it runs as steps: its own, or its online plan's — on a database whose
    /// `transactions` holds rows (on an empty one the released file is as quick and locks nothing anyone waits for),
    /// and always once a run began the plan (it is finished, whatever the settings of the run that resumes it).
    public func steps(of migration: Migration, _ connection: PostgresConnection) throws -> [MigrationStep]? {
        if let steps = migration.steps { return steps }
        guard let plan = OnlinePlan.find(for: migration) else { return nil }
        if try connection.queryValue(Bool.self, "SELECT to_regclass('schema_migration_steps') IS NOT NULL"),
           try connection.queryValue(Bool.self, "SELECT EXISTS (SELECT 1 FROM schema_migration_steps WHERE version = $1)", [migration.version]) {
            return plan.steps
        }
        guard usesOnlinePlans, try connection.queryValue(Bool.self, "SELECT EXISTS (SELECT 1 FROM transactions)") else { return nil }
        return plan.steps
    }

    public struct Report: Sendable, Equatable {
        public var applied: [String]
        public var version: Int
        /// One line per applied migration whose recorded checksum is a known earlier edit of its file (accepted).
        public var notes: [String] = []
        /// Lock timeouts met (and retried) while applying.
        public var lockRetries = 0
    }

    public func migrate(_ connection: PostgresConnection) async throws -> Report {
        // The lock is waited for by polling, never inside a statement: a migrator blocked in pg_advisory_lock
        // holds a snapshot, which the lock holder's CREATE INDEX CONCURRENTLY waits for — a deadlock (0021 met it).
        var delay = Duration.milliseconds(20)
        while try !connection.tryAdvisoryLock(Self.lockKey) {
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(1))
        }
        defer { _ = try? connection.advisoryUnlock(Self.lockKey) }
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     integer PRIMARY KEY,
                name        text        NOT NULL,
                checksum    text        NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """)
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migration_steps (
                version      integer     NOT NULL,
                step         integer     NOT NULL,
                kind         text        NOT NULL,
                walked_to    bigint,
                rows         bigint      NOT NULL DEFAULT 0,
                batches      integer     NOT NULL DEFAULT 0,
                started_at   timestamptz NOT NULL DEFAULT now(),
                finished_at  timestamptz,
                PRIMARY KEY (version, step)
            )
            """)
        let applied = try appliedMigrations(connection)
        let notes = try verify(applied)
        var report = Report(applied: [], version: applied.keys.max() ?? 0, notes: notes)
        for migration in migrations where applied[migration.version] == nil {
            report.lockRetries += try await apply(migration, connection)
            logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
            report.applied.append(migration.name)
            report.version = migration.version
        }
        return report
    }

    /// Applies one migration and records it; returns how many lock timeouts it met.
    private func apply(_ migration: Migration, _ connection: PostgresConnection) async throws -> Int {
        // Whole milliseconds, from our own setting: no outside value reaches the statement text.
        let timeout = "'\(lockRetry.lockTimeout.components.seconds * 1000 + lockRetry.lockTimeout.components.attoseconds / 1_000_000_000_000_000)ms'"
        func record() throws {
            try connection.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                   [migration.version, migration.name, migration.checksum])
        }
        if let steps = try steps(of: migration, connection) {
            let retries = try await applySteps(steps, of: migration, connection, timeout: timeout)
            try record()
            return retries
        }
        if migration.runsInTransaction {
            return try await withLockRetries(migration) {
                try await connection.withTransaction(begin: "BEGIN; SET LOCAL lock_timeout = \(timeout)") {
                    try connection.executeScript(migration.sql)
                    try record()
                }
            }
        }
        // Outside a transaction: each statement commits on its own; the migration counts as applied only after
        // the last one. A lock timeout, like an interrupted run, starts it again from its first statement (its
        // statements are repeatable): a CREATE INDEX CONCURRENTLY that timed out left an invalid index, which the
        // DROP INDEX CONCURRENTLY IF EXISTS before it removes.
        try connection.execute("SET lock_timeout = \(timeout)")
        defer { _ = try? connection.execute("RESET lock_timeout") }
        let statements = SQLScript.statements(migration.sql)
        let retries = try await withLockRetries(migration) {
            for statement in statements { try connection.executeScript(statement) }
        }
        try record()
        return retries
    }

    /// Runs the steps not recorded as finished, each recorded when it finishes; returns the lock timeouts met.
    private func applySteps(_ steps: [MigrationStep], of migration: Migration, _ connection: PostgresConnection,
                            timeout: String) async throws -> Int {
        var finished = Set<Int>()
        for row in try connection.query("SELECT step FROM schema_migration_steps WHERE version = $1 AND finished_at IS NOT NULL",
                                         [migration.version]) {
            finished.insert(try row.decode(Int.self, at: 0))
        }
        var retries = 0
        for (index, step) in steps.enumerated() where !finished.contains(index) {
            func markFinished() throws {
                try connection.execute("""
                    INSERT INTO schema_migration_steps (version, step, kind, finished_at) VALUES ($1, $2, $3, now())
                    ON CONFLICT (version, step) DO UPDATE SET finished_at = now()
                    """, [migration.version, index, step.kind])
            }
            switch step {
            case .transaction(let sql):
                retries += try await withLockRetries(migration) {
                    try await connection.withTransaction(begin: "BEGIN; SET LOCAL lock_timeout = \(timeout)") {
                        try connection.executeScript(sql)
                        try markFinished()
                    }
                }
            case .noTransaction(let statements):
                try connection.execute("SET lock_timeout = \(timeout)")
                defer { _ = try? connection.execute("RESET lock_timeout") }
                retries += try await withLockRetries(migration) {
                    for statement in statements { try connection.executeScript(statement) }
                }
                try markFinished()
            case .batched(let batched):
                retries += try await runBatches(batched, index: index, of: migration, connection, timeout: timeout)
            }
            logger.info("migration step finished", metadata: ["migration": "\(migration.name)", "step": "\(index + 1)/\(steps.count) \(step.kind)"])
        }
        return retries
    }

    /// Walks a batched step's table from where the last run stopped, one short transaction per batch that also
    /// records how far the walk got; marks the step finished when no row is left. Returns the lock timeouts met.
    private func runBatches(_ step: MigrationStep.BatchedStep, index: Int, of migration: Migration, _ connection: PostgresConnection,
                            timeout: String) async throws -> Int {
        let rowsPerBatch = batching.rowsPerBatch ?? step.rowsPerBatch
        // The table and column are plain identifiers from the migration (`MigrationStep.isIdentifier`).
        let walk = """
            SELECT max(k) FROM (SELECT \(step.column) AS k FROM \(step.table) WHERE \(step.column) > $1 ORDER BY \(step.column) LIMIT $2) AS batch
            """
        try connection.execute("""
            INSERT INTO schema_migration_steps (version, step, kind) VALUES ($1, $2, $3) ON CONFLICT (version, step) DO NOTHING
            """, [migration.version, index, MigrationStep.batched(step).kind])
        var walkedTo = try connection.queryValue(Int64?.self, "SELECT walked_to FROM schema_migration_steps WHERE version = $1 AND step = $2",
                                                 [migration.version, index]) ?? Int64.min
        var retries = 0
        var batches = 0
        while true {
            var through: Int64?
            retries += try await withLockRetries(migration) {
                through = try await connection.withTransaction(begin: "BEGIN; SET LOCAL lock_timeout = \(timeout)") { () throws -> Int64? in
                    guard let through = try connection.queryValue(Int64?.self, walk, [walkedTo, rowsPerBatch]) else {
                        try connection.execute("UPDATE schema_migration_steps SET finished_at = now() WHERE version = $1 AND step = $2",
                                               [migration.version, index])
                        return nil
                    }
                    let changed = try connection.execute(step.sql, [walkedTo, through])
                    try connection.execute("""
                        UPDATE schema_migration_steps SET walked_to = $3, rows = rows + $4, batches = batches + 1
                        WHERE version = $1 AND step = $2
                        """, [migration.version, index, through, Int64(changed)])
                    return through
                }
            }
            guard let through else { break }
            walkedTo = through
            batches += 1
            if batches % 100 == 0 {
                logger.info("migration batches", metadata: ["migration": "\(migration.name)", "step": "\(step.name)", "batches": "\(batches)"])
            }
            if batching.pause > .zero { try await Task.sleep(for: batching.pause) }
        }
        return retries
    }

    /// Runs `body` until it does not fail on a lock timeout (SQLSTATE 55P03) or as a deadlock's victim (40P01: its
    /// transaction was rolled back, as after a lock timeout), waiting with backoff in between;
    /// returns the number of retries.
    private func withLockRetries(_ migration: Migration, isolation: isolated (any Actor)? = #isolation,
                                 _ body: () async throws -> Void) async throws -> Int {
        var delay = lockRetry.firstDelay
        var attempt = 1
        while true {
            do {
                try await body()
                return attempt - 1
            } catch let error as PostgresError where error.sqlState == SQLState.lockNotAvailable || error.sqlState == SQLState.deadlockDetected {
                guard attempt < lockRetry.maxAttempts else {
                    throw MigrationError.locksNotTaken(name: migration.name, attempts: attempt)
                }
                logger.warning("migration waiting for a lock", metadata: [
                    "migration": "\(migration.name)", "attempt": "\(attempt)", "retry_in": "\(delay)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, lockRetry.maxDelay)
                attempt += 1
            }
        }
    }

    /// The schema version in the database and the migrations not yet applied; changes nothing.
    public func status(_ connection: PostgresConnection) throws -> (version: Int, pending: [String]) {
        let exists = try connection.queryValue(Bool.self, "SELECT to_regclass('schema_migrations') IS NOT NULL")
        let applied = exists ? try appliedMigrations(connection) : [:]
        _ = try verify(applied)
        return (applied.keys.max() ?? 0, migrations.filter { applied[$0.version] == nil }.map(\.name))
    }

    /// The notes `migrate` would print for applied migrations recorded with a known earlier edit's checksum.
    public func earlierEditNotes(_ connection: PostgresConnection) throws -> [String] {
        let exists = try connection.queryValue(Bool.self, "SELECT to_regclass('schema_migrations') IS NOT NULL")
        return exists ? try verify(try appliedMigrations(connection)) : []
    }

    private func appliedMigrations(_ connection: PostgresConnection) throws -> [Int: (name: String, checksum: String)] {
        var applied: [Int: (name: String, checksum: String)] = [:]
        for row in try connection.query("SELECT version, name, checksum FROM schema_migrations") {
            applied[try row.decode(Int.self, "version")] = (try row.decode(String.self, "name"), try row.decode(String.self, "checksum"))
        }
        return applied
    }

    /// Refuses applied migrations this build does not have or whose file changed; returns a note for each one
    /// recorded with the checksum of a known earlier edit of its file (`KnownEarlierEdit`), which is accepted.
    private func verify(_ applied: [Int: (name: String, checksum: String)]) throws(MigrationError) -> [String] {
        var notes: [String] = []
        for (version, record) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = migrations.first(where: { $0.version == version }) else {
                throw .unknownApplied(version: version, name: record.name)
            }
            guard migration.checksum != record.checksum else { continue }
            guard let earlier = KnownEarlierEdit.find(version: version, checksum: record.checksum) else {
                throw .editedAfterApply(version: version, name: record.name)
            }
            notes.append("migration \(record.name) was applied from an earlier edit of its file (commit \(earlier.commit), \(earlier.day)); "
                         + "accepted as a known earlier edit; differs from the current file: \(earlier.difference)")
        }
        return notes
    }
}
