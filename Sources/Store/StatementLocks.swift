import Foundation

/// What one migration statement does to a live database, read from its text (PostgreSQL 13 and later): the
/// table lock it takes, what that lock blocks, and whether it rewrites or scans the table. For `migrate --plan`;
/// it never runs the statement. A statement it does not know is reported as such, never guessed safe.
public struct StatementLocks: Sendable, Equatable {
    public enum Lock: Int, Sendable, Comparable, CustomStringConvertible {
        case none = 0, rowExclusive, shareUpdateExclusive, share, shareRowExclusive, exclusive, accessExclusive

        public static func < (lhs: Lock, rhs: Lock) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .none: "no table lock"
            case .rowExclusive: "ROW EXCLUSIVE"
            case .shareUpdateExclusive: "SHARE UPDATE EXCLUSIVE"
            case .share: "SHARE"
            case .shareRowExclusive: "SHARE ROW EXCLUSIVE"
            case .exclusive: "EXCLUSIVE"
            case .accessExclusive: "ACCESS EXCLUSIVE"
            }
        }

        /// What the traffic (reads: SELECT; writes: INSERT/UPDATE/DELETE) cannot do while it is held.
        public var blocks: String {
            switch self {
            case .none, .rowExclusive, .shareUpdateExclusive: "nothing"
            case .share, .shareRowExclusive, .exclusive: "writes"
            case .accessExclusive: "reads and writes"
            }
        }

        public var blocksTraffic: Bool { self >= .share }
    }

    public enum Work: Int, Sendable, Comparable, CustomStringConvertible {
        case catalogOnly = 0, writesRows, scan, rewrite, unknown

        public static func < (lhs: Work, rhs: Work) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .catalogOnly: "catalog only"
            case .writesRows: "writes rows"
            case .scan: "scans the table"
            case .rewrite: "rewrites the table"
            case .unknown: "unknown"
            }
        }
    }

    /// The statement's kind, e.g. `ALTER TABLE ADD COLUMN`, `CREATE INDEX CONCURRENTLY`.
    public let kind: String
    /// The table it locks (lower case), when there is one.
    public let table: String?
    public let lock: Lock
    public let work: Work
    /// A remark, e.g. why a default does or does not rewrite.
    public let note: String?

    /// Classifies one statement. `provenNotNull`: `table.column`s a validated `CHECK (column IS NOT NULL)` covers
    /// (a `SET NOT NULL` on them skips its scan).
    public static func of(_ statement: String, provenNotNull: Set<String> = []) -> StatementLocks {
        let text = normalised(statement)
        let upper = text.uppercased()
        func word(after prefix: String) -> String? { tableName(in: text, after: prefix) }

        if upper.hasPrefix("CREATE TABLE") {
            let references = upper.contains(" REFERENCES ")
            return .init(kind: "CREATE TABLE", table: word(after: "CREATE TABLE"), lock: .accessExclusive, work: .catalogOnly,
                         note: "a new, empty table" + (references ? "; SHARE ROW EXCLUSIVE on each referenced table (brief)" : ""))
        }
        if upper.hasPrefix("CREATE INDEX") || upper.hasPrefix("CREATE UNIQUE INDEX") {
            let concurrently = upper.contains(" CONCURRENTLY ")
            return .init(kind: concurrently ? "CREATE INDEX CONCURRENTLY" : "CREATE INDEX", table: word(after: " ON "),
                         lock: concurrently ? .shareUpdateExclusive : .share, work: .scan,
                         note: concurrently ? "builds while reads and writes go on (scans twice, waits for older transactions)" : nil)
        }
        if upper.hasPrefix("DROP INDEX") {
            let concurrently = upper.contains(" CONCURRENTLY ")
            return .init(kind: concurrently ? "DROP INDEX CONCURRENTLY" : "DROP INDEX", table: nil,
                         lock: concurrently ? .shareUpdateExclusive : .accessExclusive, work: .catalogOnly, note: "on the index's table")
        }
        if upper.hasPrefix("ALTER TABLE") { return alterTable(text, provenNotNull: provenNotNull) }
        if upper.hasPrefix("ALTER INDEX"), upper.contains(" RENAME TO ") {
            return .init(kind: "ALTER INDEX RENAME", table: nil, lock: .shareUpdateExclusive, work: .catalogOnly, note: "on the index (PostgreSQL 12 and later)")
        }
        if upper.hasPrefix("UPDATE ") {
            return .init(kind: "UPDATE", table: word(after: "UPDATE"), lock: .rowExclusive, work: .writesRows,
                         note: "locks the rows it changes until the transaction ends")
        }
        if upper.hasPrefix("DELETE FROM ") {
            return .init(kind: "DELETE", table: word(after: "DELETE FROM"), lock: .rowExclusive, work: .writesRows,
                         note: "locks the rows it deletes until the transaction ends")
        }
        if upper.hasPrefix("INSERT INTO ") {
            return .init(kind: "INSERT", table: word(after: "INSERT INTO"), lock: .rowExclusive, work: .writesRows, note: nil)
        }
        if upper.hasPrefix("WITH ") {
            // A data-modifying statement after its common table expressions.
            for verb in ["UPDATE ", "DELETE FROM ", "INSERT INTO "] {
                if let range = upper.range(of: ") " + verb) {
                    let main = String(text[range.lowerBound...].dropFirst(2))
                    let inner = of(main)
                    return .init(kind: "WITH … " + inner.kind, table: inner.table, lock: inner.lock, work: inner.work, note: inner.note)
                }
            }
            return .init(kind: "WITH … SELECT", table: nil, lock: .none, work: .scan, note: nil)
        }
        if upper.hasPrefix("CREATE TRIGGER") {
            return .init(kind: "CREATE TRIGGER", table: word(after: " ON "), lock: .shareRowExclusive, work: .catalogOnly, note: nil)
        }
        if upper.hasPrefix("CREATE FUNCTION") || upper.hasPrefix("CREATE OR REPLACE FUNCTION") || upper.hasPrefix("CREATE EXTENSION")
            || upper.hasPrefix("CREATE TYPE") || upper.hasPrefix("COMMENT ON") || upper.hasPrefix("CREATE SEQUENCE") {
            return .init(kind: String(upper.split(separator: " ").prefix(2).joined(separator: " ")), table: nil, lock: .none, work: .catalogOnly, note: nil)
        }
        if upper.hasPrefix("DROP TABLE") {
            return .init(kind: "DROP TABLE", table: word(after: upper.hasPrefix("DROP TABLE IF EXISTS") ? "DROP TABLE IF EXISTS" : "DROP TABLE"),
                         lock: .accessExclusive, work: .catalogOnly, note: nil)
        }
        if upper.hasPrefix("SET ") || upper.hasPrefix("RESET ") {
            return .init(kind: "SET", table: nil, lock: .none, work: .catalogOnly, note: nil)
        }
        return .init(kind: String(upper.split(separator: " ").prefix(2).joined(separator: " ")), table: nil, lock: .none, work: .unknown,
                     note: "not a statement kind --plan knows: read it")
    }

    /// `ALTER TABLE t a, b, …`: the strongest lock and the heaviest work of its actions.
    static func alterTable(_ text: String, provenNotNull: Set<String>) -> StatementLocks {
        var rest = text.dropFirst("ALTER TABLE".count).trimmingCharacters(in: .whitespaces)
        for prefix in ["IF EXISTS ", "ONLY "] where rest.uppercased().hasPrefix(prefix) {
            rest = String(rest.dropFirst(prefix.count))
        }
        let table = rest.prefix { !$0.isWhitespace }.lowercased().replacingOccurrences(of: "\"", with: "")
        let actions = splitTopLevel(String(rest.drop { !$0.isWhitespace }))
        var lock = Lock.none
        var work = Work.catalogOnly
        var kinds: [String] = []
        var notes: [String] = []
        for action in actions {
            let (kind, actionLock, actionWork, note) = alterAction(action.trimmingCharacters(in: .whitespaces), table: table,
                                                                   provenNotNull: provenNotNull)
            if !kinds.contains(kind) { kinds.append(kind) }
            lock = max(lock, actionLock)
            work = max(work, actionWork)
            if let note, !notes.contains(note) { notes.append(note) }
        }
        return .init(kind: "ALTER TABLE " + kinds.joined(separator: ", "), table: table, lock: lock, work: work,
                     note: notes.isEmpty ? nil : notes.joined(separator: "; "))
    }

    static let volatileDefaults = ["RANDOM(", "GEN_RANDOM_UUID(", "CLOCK_TIMESTAMP(", "NEXTVAL(", "TIMEOFDAY(", "UUID_GENERATE"]

    static func alterAction(_ action: String, table: String, provenNotNull: Set<String>) -> (String, Lock, Work, String?) {
        let upper = action.uppercased()
        if upper.hasPrefix("ADD CONSTRAINT") || upper.hasPrefix("ADD PRIMARY KEY") || upper.hasPrefix("ADD UNIQUE")
            || upper.hasPrefix("ADD CHECK") || upper.hasPrefix("ADD FOREIGN KEY") {
            let notValid = upper.hasSuffix("NOT VALID")
            if upper.contains("FOREIGN KEY") || upper.contains(" REFERENCES ") {
                return (notValid ? "ADD FOREIGN KEY NOT VALID" : "ADD FOREIGN KEY", .shareRowExclusive, notValid ? .catalogOnly : .scan,
                        notValid ? nil : "validates every row under the lock")
            }
            if upper.contains("PRIMARY KEY") || upper.contains(" UNIQUE") {
                if upper.contains("USING INDEX") { return ("ADD CONSTRAINT USING INDEX", .accessExclusive, .catalogOnly, nil) }
                return ("ADD PRIMARY KEY/UNIQUE", .accessExclusive, .scan, "builds its index under the lock")
            }
            return (notValid ? "ADD CHECK NOT VALID" : "ADD CHECK", .accessExclusive, notValid ? .catalogOnly : .scan,
                    notValid ? "new and updated rows are checked; existing ones at VALIDATE" : "validates every row under the lock")
        }
        if upper.hasPrefix("VALIDATE CONSTRAINT") {
            return ("VALIDATE CONSTRAINT", .shareUpdateExclusive, .scan, "reads and writes go on")
        }
        if upper.hasPrefix("DROP CONSTRAINT") { return ("DROP CONSTRAINT", .accessExclusive, .catalogOnly, nil) }
        if upper.hasPrefix("DROP COLUMN") || upper.hasPrefix("DROP ") { return ("DROP COLUMN", .accessExclusive, .catalogOnly, nil) }
        if upper.hasPrefix("ADD COLUMN") || upper.hasPrefix("ADD ") {
            if upper.contains(" GENERATED ALWAYS AS (") || upper.contains(" SERIAL") || upper.contains(" IDENTITY") {
                return ("ADD COLUMN (computed)", .accessExclusive, .rewrite, "fills every row: a rewrite")
            }
            if let range = upper.range(of: " DEFAULT ") {
                let defaultText = upper[range.upperBound...]
                if volatileDefaults.contains(where: { defaultText.contains($0) }) {
                    return ("ADD COLUMN DEFAULT (volatile)", .accessExclusive, .rewrite, "a volatile default is computed per row: a rewrite")
                }
                return ("ADD COLUMN DEFAULT", .accessExclusive, .catalogOnly, "a constant default is stored once, no rewrite")
            }
            if upper.contains("NOT NULL") { return ("ADD COLUMN NOT NULL", .accessExclusive, .scan, "fails unless the table is empty") }
            return ("ADD COLUMN", .accessExclusive, .catalogOnly, nil)
        }
        if upper.hasPrefix("ALTER COLUMN") || upper.hasPrefix("ALTER ") {
            if upper.contains(" SET NOT NULL") {
                let column = tableName(in: action, after: upper.hasPrefix("ALTER COLUMN") ? "ALTER COLUMN" : "ALTER") ?? ""
                if provenNotNull.contains(table + "." + column) {
                    return ("SET NOT NULL", .accessExclusive, .catalogOnly, "a validated CHECK (\(column) IS NOT NULL) proves it: no scan")
                }
                return ("SET NOT NULL", .accessExclusive, .scan, "scans under the lock unless a validated CHECK (… IS NOT NULL) proves it")
            }
            if upper.contains(" TYPE ") { return ("ALTER COLUMN TYPE", .accessExclusive, .rewrite, "most type changes rewrite the table") }
            if upper.contains(" SET STATISTICS") { return ("SET STATISTICS", .shareUpdateExclusive, .catalogOnly, nil) }
            return ("ALTER COLUMN " + (upper.contains("DEFAULT") ? "DEFAULT" : (upper.contains("DROP NOT NULL") ? "DROP NOT NULL" : "…")),
                    .accessExclusive, .catalogOnly, nil)
        }
        if upper.hasPrefix("SET (") || upper.hasPrefix("RESET (") { return ("SET (storage)", .shareUpdateExclusive, .catalogOnly, nil) }
        if upper.hasPrefix("RENAME") { return ("RENAME", .accessExclusive, .catalogOnly, nil) }
        if upper.hasPrefix("SET LOGGED") || upper.hasPrefix("SET UNLOGGED") || upper.hasPrefix("SET TABLESPACE") {
            return (String(upper.prefix(14)), .accessExclusive, .rewrite, nil)
        }
        return (String(upper.split(separator: " ").prefix(2).joined(separator: " ")), .accessExclusive, .unknown, "not an action --plan knows: read it")
    }

    /// The `table.column` a `CHECK (column IS NOT NULL) NOT VALID` constraint added by this statement covers, by
    /// constraint name; and the constraint a `VALIDATE CONSTRAINT` validates.
    static func notNullChecks(_ statement: String) -> (added: [String: String], validated: [String]) {
        let text = normalised(statement)
        guard text.uppercased().hasPrefix("ALTER TABLE") else { return ([:], []) }
        let table = tableName(in: text, after: "ALTER TABLE") ?? ""
        var added: [String: String] = [:]
        var validated: [String] = []
        for action in splitTopLevel(String(text.dropFirst("ALTER TABLE".count).trimmingCharacters(in: .whitespaces).drop { !$0.isWhitespace })) {
            let words = action.split(separator: " ").map(String.init)
            let upper = words.map { $0.uppercased() }
            // ADD CONSTRAINT <name> CHECK (<column> IS NOT NULL) NOT VALID
            if upper.count == 10, upper[0] == "ADD", upper[1] == "CONSTRAINT", upper[3] == "CHECK", upper[5] == "IS", upper[6] == "NOT",
                      upper[7] == "NULL)", upper[8] == "NOT", upper[9] == "VALID" {
                added[words[2].lowercased()] = table + "." + words[4].dropFirst().lowercased()
            } else if upper.count == 3, upper[0] == "VALIDATE", upper[1] == "CONSTRAINT" {
                validated.append(words[2].lowercased())
            }
        }
        return (added, validated)
    }

    /// The statement without comments, on one line, single spaces.
    static func normalised(_ statement: String) -> String {
        var lines: [String] = []
        for line in statement.split(separator: "\n") {
            var kept = ""
            var quoted = false
            var previous: Character = " "
            for character in line {
                if character == "'" { quoted.toggle() }
                if !quoted, character == "-", previous == "-" { kept.removeLast(); break }
                kept.append(character)
                previous = character
            }
            lines.append(kept)
        }
        return lines.joined(separator: " ").split(whereSeparator: \.isWhitespace).joined(separator: " ")
            .trimmingCharacters(in: CharacterSet(charactersIn: " ;"))
    }

    /// The identifier after `prefix` (case-insensitive), lower case, without quotes or `IF NOT EXISTS`/`ONLY`.
    static func tableName(in text: String, after prefix: String) -> String? {
        guard let range = text.range(of: prefix, options: .caseInsensitive) else { return nil }
        var rest = text[range.upperBound...].trimmingCharacters(in: .whitespaces)
        for skip in ["IF NOT EXISTS ", "IF EXISTS ", "ONLY ", "CONCURRENTLY "] where rest.uppercased().hasPrefix(skip) {
            rest = String(rest.dropFirst(skip.count))
        }
        let name = rest.prefix { !$0.isWhitespace && $0 != "(" }.lowercased().replacingOccurrences(of: "\"", with: "")
        return name.isEmpty ? nil : name
    }

    /// Splits at commas outside parentheses and quotes.
    static func splitTopLevel(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        var quoted = false
        for character in text {
            if character == "'" { quoted.toggle() }
            if !quoted {
                if character == "(" { depth += 1 }
                if character == ")" { depth -= 1 }
                if character == ",", depth == 0 {
                    parts.append(current)
                    current = ""
                    continue
                }
            }
            current.append(character)
        }
        if !current.trimmingCharacters(in: .whitespaces).isEmpty { parts.append(current) }
        return parts
    }
}
