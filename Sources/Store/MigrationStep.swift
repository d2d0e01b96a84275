import Foundation

/// One step of a migration written as steps (first line `-- banksync: steps`): the shape of an online change,
/// where a large data change runs in many short transactions instead of one that locks a table for its whole
/// length. The migrator records each finished step (`schema_migration_steps`), so a killed run resumes at the
/// step, and inside a batched step at the batch, where it stopped; the migration is recorded as applied only
/// after its last step.
///
/// A step starts at a line `-- step: <kind>`:
/// - `-- step: transaction` — the statements up to the next step, in one transaction (short: DDL and small
///   tables), recorded in the same transaction.
/// - `-- step: no-transaction` — each statement on its own (`CREATE INDEX CONCURRENTLY`, `VALIDATE CONSTRAINT`);
///   each must be repeatable, as in a `-- banksync: no-transaction` file.
/// - `-- step: batched <name> over <table>.<column> by <rows>` — one statement run again and again, each time in
///   its own transaction, for the rows whose `<column>` lies in `($1, $2]`: the migrator walks `<table>` in
///   `<column>` order, `<rows>` rows at a time (widened to take every row of the last key), and records the walk's
///   position in the same transaction as each batch. The statement must leave rows it already changed as they are
///   if it meets them again.
public enum MigrationStep: Sendable, Equatable {
    case transaction(sql: String)
    case noTransaction(statements: [String])
    case batched(BatchedStep)

    public struct BatchedStep: Sendable, Equatable {
        public let name: String
        public let table: String
        public let column: String
        public let rowsPerBatch: Int
        /// One statement taking `$1` (the walk's last key done, exclusive) and `$2` (this batch's last key).
        public let sql: String
    }

    public static let directive = "-- banksync: steps"
    static let marker = "-- step:"

    /// The steps of a migration file written as steps.
    static func parse(_ sql: String, file: String) throws(MigrationError) -> [MigrationStep] {
        var steps: [MigrationStep] = []
        var header: String?
        var body: [Substring] = []
        func finish() throws(MigrationError) {
            defer { body = [] }
            guard let header else {
                guard SQLScript.statements(body.joined(separator: "\n")).isEmpty else {
                    throw .badStep(file, "statements before the first `-- step:` line")
                }
                return
            }
            let text = body.joined(separator: "\n")
            let statements = SQLScript.statements(text)
            guard !statements.isEmpty else { throw .badStep(file, "step '\(header)' has no statement") }
            let words = header.split(separator: " ").map(String.init)
            switch words.first {
            case "transaction" where words.count == 1:
                steps.append(.transaction(sql: text))
            case "no-transaction" where words.count == 1:
                steps.append(.noTransaction(statements: statements))
            case "batched":
                guard words.count == 6, words[2] == "over", words[4] == "by", let rows = Int(words[5]), rows > 0,
                      isIdentifier(words[1]) else {
                    throw .badStep(file, "'\(header)': write `batched <name> over <table>.<column> by <rows>`")
                }
                let target = words[3].split(separator: ".").map(String.init)
                guard target.count == 2, target.allSatisfy(isIdentifier) else {
                    throw .badStep(file, "'\(header)': `over` takes <table>.<column>")
                }
                guard statements.count == 1 else { throw .badStep(file, "batched step \(words[1]) must hold exactly one statement") }
                steps.append(.batched(BatchedStep(name: words[1], table: target[0], column: target[1], rowsPerBatch: rows, sql: statements[0])))
            default:
                throw .badStep(file, "unknown step '\(header)' (known: transaction, no-transaction, batched)")
            }
        }
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false).dropFirst() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(marker) {
                try finish()
                header = trimmed.dropFirst(marker.count).trimmingCharacters(in: .whitespaces)
            } else {
                body.append(line)
            }
        }
        try finish()
        guard !steps.isEmpty else { throw .badStep(file, "no `-- step:` line") }
        return steps
    }

    /// Table and column names of a batched step are written into the statement that walks the table: only plain
    /// lower-case identifiers are accepted.
    static func isIdentifier(_ word: String) -> Bool {
        guard let first = word.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) else { return false }
        return word.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    var kind: String {
        switch self {
        case .transaction: "transaction"
        case .noTransaction: "no-transaction"
        case .batched(let step): "batched \(step.name)"
        }
    }
}
