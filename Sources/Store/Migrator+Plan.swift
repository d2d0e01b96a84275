import Postgres

/// `migrate --plan`: what each pending migration would do to the live database, statement by statement, with
/// the rows it would touch estimated from the planner's statistics. Reads the catalog only; changes nothing.
public struct MigrationPlan: Sendable {
    public struct Entry: Sendable {
        /// The step it belongs to, for a migration run as steps.
        public let step: String?
        /// The statement's first words, for the reader to find it in the file.
        public let statement: String
        public let locks: StatementLocks
        /// Estimated rows of the table it locks (`pg_class.reltuples`, else `pg_stat_user_tables.n_live_tup` for a
        /// table never analysed); nil for a
        /// table that does not exist yet or a statement without one.
        public let estimatedRows: Int64?
        /// Rows per transaction, for a batched step.
        public let rowsPerBatch: Int?
    }

    public let migration: String
    /// `one transaction`, `statement by statement`, `online plan, N steps`, `N steps`.
    public let runsAs: String
    public let entries: [Entry]
    /// The longest hold of a lock that blocks reads or writes, in words.
    public let verdict: String
}

extension Migrator {
    public func plan(_ connection: PostgresConnection) throws -> [MigrationPlan] {
        let exists = try connection.queryValue(Bool.self, "SELECT to_regclass('schema_migrations') IS NOT NULL")
        let applied = exists ? Set(try connection.query("SELECT version FROM schema_migrations").map { try $0.decode(Int.self, at: 0) }) : []
        var created = Set<String>()
        var notNullChecks: [String: String] = [:]
        var provenNotNull = Set<String>()
        var plans: [MigrationPlan] = []
        for migration in migrations where !applied.contains(migration.version) {
            // Units of work that hold their locks together: a transaction, or one statement on its own.
            var units: [[MigrationPlan.Entry]] = []
            let runsAs: String
            func entries(_ statements: [String], step: String?, rowsPerBatch: Int? = nil) throws -> [MigrationPlan.Entry] {
                try statements.map { statement in
                    let checks = StatementLocks.notNullChecks(statement)
                    notNullChecks.merge(checks.added) { $1 }
                    provenNotNull.formUnion(checks.validated.compactMap { notNullChecks[$0] })
                    let locks = StatementLocks.of(statement, provenNotNull: provenNotNull)
                    let rows = try locks.table.flatMap { table in created.contains(table) ? nil : try estimatedRows(table, connection) }
                    if locks.kind == "CREATE TABLE", let table = locks.table { created.insert(table) }
                    return MigrationPlan.Entry(step: step, statement: Self.firstWords(statement), locks: locks, estimatedRows: rows,
                                               rowsPerBatch: rowsPerBatch)
                }
            }
            if let steps = try steps(of: migration, connection) {
                runsAs = (migration.steps == nil ? "online plan in place of the released file, " : "") + "\(steps.count) steps"
                for (index, step) in steps.enumerated() {
                    let label = "\(index + 1) \(step.kind)"
                    switch step {
                    case .transaction(let sql): units.append(try entries(SQLScript.statements(sql), step: label))
                    case .noTransaction(let statements): units += try statements.map { try entries([$0], step: label) }
                    case .batched(let batched):
                        var unit = try entries([batched.sql], step: label, rowsPerBatch: batching.rowsPerBatch ?? batched.rowsPerBatch)
                        // The rows walked are the walked table's.
                        if let first = unit.first {
                            unit = [MigrationPlan.Entry(step: label, statement: first.statement, locks: first.locks,
                                                        estimatedRows: try estimatedRows(batched.table, connection), rowsPerBatch: first.rowsPerBatch)]
                        }
                        units.append(unit)
                    }
                }
            } else if migration.runsInTransaction {
                runsAs = "one transaction"
                units.append(try entries(SQLScript.statements(migration.sql), step: nil))
            } else {
                runsAs = "statement by statement"
                units += try SQLScript.statements(migration.sql).map { try entries([$0], step: nil) }
            }
            plans.append(MigrationPlan(migration: migration.name, runsAs: runsAs, entries: units.flatMap { $0 },
                                       verdict: Self.verdict(units)))
        }
        return plans
    }

    /// The worst moment: a lock that blocks traffic, taken in a unit (a transaction holds its locks to its end)
    /// before or by a statement that writes, scans or rewrites many rows. Batches are left out: each one is short.
    static func verdict(_ units: [[MigrationPlan.Entry]]) -> String {
        var worst: (rows: Int64, text: String)?
        var catalogOnly: String?
        for unit in units {
            for (index, heavy) in unit.enumerated() {
                let held = unit[...index].filter { $0.locks.lock.blocksTraffic }
                guard let strongest = held.map(\.locks.lock).max() else { continue }
                let on = held.first { $0.locks.lock == strongest && $0.locks.table == heavy.locks.table } ?? held.first { $0.locks.lock == strongest }
                let holds = "holds \(strongest) on \(on?.locks.table ?? "?") (blocks \(strongest.blocks))"
                guard heavy.locks.work >= .writesRows, heavy.rowsPerBatch == nil, let rows = heavy.estimatedRows, rows > 0 else {
                    catalogOnly = catalogOnly ?? holds + " for catalog changes only"
                    continue
                }
                let text = holds + " while \(heavy.locks.kind) on \(heavy.locks.table ?? "?") \(heavy.locks.work) (~\(rows) rows)"
                if worst == nil || rows > worst!.rows { worst = (rows, text) }
            }
        }
        return worst?.text ?? catalogOnly ?? "takes no lock that blocks reads or writes"
    }

    static func firstWords(_ statement: String) -> String {
        let text = StatementLocks.normalised(statement)
        return text.count > 72 ? String(text.prefix(71)) + "…" : text
    }

    func estimatedRows(_ table: String, _ connection: PostgresConnection) throws -> Int64? {
        let rows = try connection.query("""
            SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE coalesce(s.n_live_tup, 0) END FROM pg_class c
            LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass($1)
            """, [table])
        return try rows.first?.decode(Int64.self, at: 0)
    }
}
