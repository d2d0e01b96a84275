import Crypto
import Foundation

/// One ordered schema change from `sql/`: `NNNN_description.sql`.
///
/// A migration runs in one transaction, under a short `lock_timeout` (retried with backoff, see `Migrator`).
/// A file whose first line is `-- banksync: no-transaction` runs outside a transaction instead, one statement
/// at a time (for `CREATE INDEX CONCURRENTLY`), and is recorded as applied only once every statement finished;
/// after a failure it runs again from its first statement, so each of its statements must be safe to repeat
/// (`IF NOT EXISTS`, and `DROP INDEX CONCURRENTLY IF EXISTS` before a `CREATE INDEX CONCURRENTLY`: an
/// interrupted build leaves an invalid index behind that `IF NOT EXISTS` would keep). A file whose first line is
/// `-- banksync: steps` is a sequence of steps (`MigrationStep`): transactions, statements outside one, and
/// resumable batched data changes, each recorded when it finishes.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String
    /// SHA-256 of the file's bytes, hex; an applied migration whose file changes is refused.
    public let checksum: String
    /// False for a file that declares `-- banksync: no-transaction` or `-- banksync: steps` on its first line.
    public let runsInTransaction: Bool
    /// The steps of a file that declares `-- banksync: steps`.
    public let steps: [MigrationStep]?

    /// The first-line directive of a migration that runs outside a transaction.
    public static let noTransactionDirective = "-- banksync: no-transaction"

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        let directive = Self.directive(of: sql)
        runsInTransaction = directive != Self.noTransactionDirective && directive != MigrationStep.directive
        // `load` refuses a file whose steps do not parse; a migration built in code with bad steps runs none.
        steps = directive == MigrationStep.directive ? (try? MigrationStep.parse(sql, file: name)) ?? [] : nil
        checksum = SHA256.hash(data: Data(sql.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Where the migrations are when `BANKSYNC_SQL_DIR` is not set: `./sql`, else `sql/` beside or above the
    /// executable (a checkout's `.build/<config>/<tool>`), else `share/banksync/sql` of an installed prefix.
    public static func defaultDirectory() -> URL? {
        // The running binary itself (/proc/self/exe): argv[0] is only "banksync" when PATH found it (the container's
        // ENTRYPOINT, an operator typing the name), which says nothing about where it is installed.
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let executable = URL(fileURLWithPath: path).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("sql"),
            executable.appendingPathComponent("sql"),
            executable.appendingPathComponent("../../sql"),
            executable.appendingPathComponent("../../../sql"),
            executable.appendingPathComponent("../share/banksync/sql"),
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("0001_schema.sql").path) }?
            .standardizedFileURL
    }

    /// The file's first line when it is a `-- banksync:` directive.
    static func directive(of sql: String) -> String? {
        let first = sql.prefix { $0 != "\n" && $0 != "\r\n" }.trimmingCharacters(in: .whitespaces)
        return first.hasPrefix("-- banksync:") ? first : nil
    }

    /// Reads every `NNNN_*.sql` file of `directory`, ordered by version.
    public static func load(from directory: URL) throws(MigrationError) -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .directoryUnreadable(directory.path)
        }
        var migrations: [Migration] = []
        for file in names.sorted() where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
                throw .badFileName(file)
            }
            guard let sql = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8) else {
                throw .directoryUnreadable(directory.appendingPathComponent(file).path)
            }
            if let clash = migrations.first(where: { $0.version == version }) {
                throw .duplicateVersion(version, clash.name, String(stem))
            }
            if let found = Self.directive(of: sql), found != noTransactionDirective, found != MigrationStep.directive {
                throw .unknownDirective(file, found)
            }
            if Self.directive(of: sql) == MigrationStep.directive { _ = try MigrationStep.parse(sql, file: file) }
            migrations.append(Migration(version: version, name: String(stem), sql: sql))
        }
        guard !migrations.isEmpty else { throw .directoryUnreadable(directory.path + " (no .sql files)") }
        return migrations.sorted { $0.version < $1.version }
    }
}

public enum MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    case directoryUnreadable(String)
    case badFileName(String)
    case duplicateVersion(Int, String, String)
    case unknownDirective(String, String)
    /// A `-- banksync: steps` file whose steps cannot be read.
    case badStep(String, String)
    /// An applied migration's file no longer matches what was applied.
    case editedAfterApply(version: Int, name: String)
    /// The database has a migration this build does not know (it was migrated by a newer banksync).
    case unknownApplied(version: Int, name: String)
    /// A migration met a lock timeout on every attempt: a long transaction holds a conflicting lock.
    case locksNotTaken(name: String, attempts: Int)
    /// `sync` and `push` write with statements of one schema version; the database is at another.
    case schemaNotOfThisBuild(database: Int, build: Int)

    public var description: String {
        switch self {
        case .directoryUnreadable(let path): "cannot read migrations from \(path)"
        case .badFileName(let file): "migration file \(file) is not named NNNN_description.sql"
        case .duplicateVersion(let version, let first, let second):
            "migrations \(first) and \(second) share version \(version)"
        case .unknownDirective(let file, let directive):
            "migration file \(file) starts with an unknown directive '\(directive)' (known: '\(Migration.noTransactionDirective)', '\(MigrationStep.directive)')"
        case .badStep(let file, let problem): "migration file \(file): \(problem)"
        case .editedAfterApply(let version, let name):
            "migration \(name) (version \(version)) was edited after it was applied; restore the file and add a new migration instead"
        case .unknownApplied(let version, let name):
            "the database has migration \(name) (version \(version)) that this banksync does not know; run a newer banksync"
        case .locksNotTaken(let name, let attempts):
            "migration \(name) could not take its locks in \(attempts) attempts (a long transaction holds them; see pg_stat_activity); "
                + "it is not recorded as applied: run `banksync migrate` again"
        case .schemaNotOfThisBuild(let database, let build) where database > build:
            "the database schema is at version \(database), newer than this banksync's \(build): a newer banksync migrated it; "
                + "run that version (stop older workers before migrating)"
        case .schemaNotOfThisBuild(let database, let build):
            "the database schema is at version \(database), this banksync needs \(build): run `banksync migrate`"
        }
    }
}
