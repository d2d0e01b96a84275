import ArgumentParser
import Postgres
import Store

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending schema migrations from sql/ (safe to run concurrently).",
        discussion: """
            Batched data steps (README "Migrations") run BANKSYNC_MIGRATE_BATCH_ROWS rows per transaction when it is set \
            (default: each step's own size) and pause BANKSYNC_MIGRATE_BATCH_PAUSE (e.g. 50ms, 1s) after each batch. \
            BANKSYNC_MIGRATE_ONLINE_PLANS=off runs the released 0009, 0010, 0015, 0016 and 0017 as written (one \
            transaction each, locking transactions for their whole length: for a maintenance window) instead of their online plans. \
            Example: DATABASE_URL=postgres://banksync@db/banksync banksync migrate --status
            """)

    @Flag(help: "Only print the schema version and pending migrations; change nothing.")
    var status = false

    @Flag(help: """
        Only print, for each pending migration, every statement's table lock, what it blocks, whether it rewrites or \
        scans the table, and the table's estimated rows (from the live database's statistics); change nothing.
        """)
    var plan = false

    func run() async throws {
        try await reportingErrors {
            let settings = try DatabaseSettings.load()
            let environment = Environment()
            let migrator = Migrator(migrations: try Migration.load(from: settings.migrationsDirectory), batching: try Self.batching(environment),
                                    usesOnlinePlans: try Self.usesOnlinePlans(environment))
            let connection = try PostgresConnection.connect(settings.connectionString)
            defer { connection.close() }
            if plan {
                let plans = try migrator.plan(connection)
                guard !plans.isEmpty else { return print("no pending migrations") }
                for plan in plans {
                    print("\(plan.migration): \(plan.runsAs)")
                    print(Table.render(header: ["step", "statement", "table", "lock", "blocks", "work", "rows"], rows: plan.entries.map { entry in
                        [entry.step ?? "-", entry.statement, entry.locks.table ?? "-", entry.locks.lock.description, entry.locks.lock.blocks,
                         entry.locks.work.description + (entry.locks.note.map { " (\($0))" } ?? ""),
                         (entry.estimatedRows.map { "~\($0)" } ?? "new") + (entry.rowsPerBatch.map { ", \($0) per transaction" } ?? "")]
                    }))
                    print("  longest blocking lock: \(plan.verdict)\n")
                }
                return
            }
            if status {
                let (version, pending) = try migrator.status(connection)
                for note in try migrator.earlierEditNotes(connection) { print("note: " + note) }
                print("schema version \(version); pending: \(pending.isEmpty ? "none" : pending.joined(separator: ", "))")
                return
            }
            let report = try await migrator.migrate(connection)
            for note in report.notes { print("note: " + note) }
            if report.applied.isEmpty {
                print("schema is up to date at version \(report.version)")
            } else {
                print("applied \(report.applied.joined(separator: ", ")); schema at version \(report.version)")
            }
        }
    }

    /// `BANKSYNC_MIGRATE_BATCH_ROWS` and `BANKSYNC_MIGRATE_BATCH_PAUSE`.
    static func batching(_ environment: Environment) throws -> Migrator.Batching {
        var batching = Migrator.Batching()
        if let text = environment.value("BANKSYNC_MIGRATE_BATCH_ROWS") {
            guard let rows = Int(text), rows > 0 else {
                throw ConfigError(setting: "BANKSYNC_MIGRATE_BATCH_ROWS", problem: "'\(text)' is not a positive number of rows")
            }
            batching.rowsPerBatch = rows
        }
        if let text = environment.value("BANKSYNC_MIGRATE_BATCH_PAUSE") {
            let pause = text.hasSuffix("ms") ? Int(text.dropLast(2)).map { Duration.milliseconds($0) } : parseDuration(text)
            guard let pause, pause >= .zero else {
                throw ConfigError(setting: "BANKSYNC_MIGRATE_BATCH_PAUSE", problem: "'\(text)' is not a duration like 50ms or 1s")
            }
            batching.pause = pause
        }
        return batching
    }

    /// `BANKSYNC_MIGRATE_ONLINE_PLANS`: `on` (default) or `off`.
    static func usesOnlinePlans(_ environment: Environment) throws -> Bool {
        switch environment.value("BANKSYNC_MIGRATE_ONLINE_PLANS") {
        case nil, "on": return true
        case "off": return false
        case let text?: throw ConfigError(setting: "BANKSYNC_MIGRATE_ONLINE_PLANS", problem: "'\(text)' is neither on nor off")
        }
    }
}
