import Crypto
import Foundation

/// One ordered schema change from `sql/`: `NNNN_description.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String
    /// SHA-256 of the file's bytes, hex; an applied migration whose file changes is refused.
    public let checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
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
    /// An applied migration's file no longer matches what was applied.
    case editedAfterApply(version: Int, name: String)
    /// The database has a migration this build does not know (it was migrated by a newer banksync).
    case unknownApplied(version: Int, name: String)
    /// `sync` and `push` write with statements of one schema version; the database is at another.
    case schemaNotOfThisBuild(database: Int, build: Int)

    public var description: String {
        switch self {
        case .directoryUnreadable(let path): "cannot read migrations from \(path)"
        case .badFileName(let file): "migration file \(file) is not named NNNN_description.sql"
        case .duplicateVersion(let version, let first, let second):
            "migrations \(first) and \(second) share version \(version)"
        case .editedAfterApply(let version, let name):
            "migration \(name) (version \(version)) was edited after it was applied; restore the file and add a new migration instead"
        case .unknownApplied(let version, let name):
            "the database has migration \(name) (version \(version)) that this banksync does not know; run a newer banksync"
        case .schemaNotOfThisBuild(let database, let build) where database > build:
            "the database schema is at version \(database), newer than this banksync's \(build): a newer banksync migrated it; "
                + "run that version (stop older workers before migrating)"
        case .schemaNotOfThisBuild(let database, let build):
            "the database schema is at version \(database), this banksync needs \(build): run `banksync migrate`"
        }
    }
}
