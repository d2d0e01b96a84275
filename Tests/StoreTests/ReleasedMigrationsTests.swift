import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// Released migrations never change (`sql/CHECKSUMS`), and databases that applied a known earlier edit of one
/// (`KnownEarlierEdit`) have a way forward.
@Suite struct ReleasedMigrationsTests {
    static let checksumsFile = MigratorTests.sqlDirectory.appendingPathComponent("CHECKSUMS")

    /// `sha256sum` lines: `<hex>  <file>`.
    static func listed() throws -> [(checksum: String, file: String)] {
        try String(contentsOf: checksumsFile, encoding: .utf8).split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
        }
    }

    @Test func everyListedMigrationIsUnchanged() throws {
        let listed = try Self.listed()
        #expect(listed.count >= 19, "sql/CHECKSUMS lists at least 0001…0019")
        let migrations = try Migration.load(from: MigratorTests.sqlDirectory)
        for (checksum, file) in listed {
            let migration = migrations.first { $0.name + ".sql" == file }
            #expect(migration != nil, "\(file) is listed in sql/CHECKSUMS but missing from sql/")
            #expect(migration?.checksum == checksum, "\(file) changed after it was released: add a new migration instead")
        }
        // The list has no holes: every migration up to the last one listed is listed (it holds released files only).
        let highest = listed.compactMap { Int($0.file.prefix(4)) }.max() ?? 0
        #expect(highest >= 19)
        for migration in migrations where migration.version <= highest {
            #expect(listed.contains { $0.file == migration.name + ".sql" }, "\(migration.name) is not in sql/CHECKSUMS")
        }
    }

    /// The known earlier edits are exactly the committed contents of their files (recomputed from git history,
    /// as `Migration` computes a checksum), none is the current file, and each names a released migration.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: BankSyncProcess.packageRoot.appendingPathComponent(".git").path)))
    func knownEarlierEditsAreCommittedContents() async throws {
        let migrations = try Migration.load(from: MigratorTests.sqlDirectory)
        #expect(Set(KnownEarlierEdit.all.map(\.version)) == [9, 10, 15, 19])
        for earlier in KnownEarlierEdit.all {
            let migration = try #require(migrations.first { $0.version == earlier.version })
            #expect(migration.checksum != earlier.checksum)
            let shown = try await BankSyncProcess.runTool("/usr/bin/git", ["show", "\(earlier.commit):sql/\(migration.name).sql"], environment: [:])
            try #require(shown.status == 0, "git show \(earlier.commit): \(shown.stderr)")
            #expect(Migration(version: earlier.version, name: migration.name, sql: shown.stdout).checksum == earlier.checksum,
                    "\(migration.name) at \(earlier.commit)")
        }
    }

    /// A database whose 0009 was recorded with an earlier edit's checksum migrates onward with a one-line note; an
    /// unknown checksum is still refused (exit 3) and nothing is applied.
    @Test func aKnownEarlierEditIsAcceptedWithANoteAndAnUnknownOneIsRefused() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            defer { connection.close() }
            let all = try Migration.load(from: MigratorTests.sqlDirectory)
            _ = try await Migrator(migrations: Array(all.prefix { $0.version <= 9 })).migrate(connection)
            let earlier = try #require(KnownEarlierEdit.all.first { $0.version == 9 && $0.commit == "dc39a32" })
            try connection.execute("UPDATE schema_migrations SET checksum = $1 WHERE version = 9", [earlier.checksum])
            let environment = ["DATABASE_URL": database.connectionString]

            let status = try await BankSyncProcess.run(["migrate", "--status"], environment: environment)
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("note: migration 0009_identity was applied from an earlier edit of its file (commit dc39a32"),
                    "\(status.stdout)")
            let migrate = try await BankSyncProcess.run(["migrate"], environment: environment)
            #expect(migrate.status == 0, "\(migrate.stderr)")
            let notes = migrate.stdout.split(separator: "\n").filter { $0.hasPrefix("note: ") }
            #expect(notes.count == 1, "\(migrate.stdout)")
            #expect(notes.first?.contains("accepted as a known earlier edit") == true)
            #expect(migrate.stdout.contains("applied 0010_refusals"), "\(migrate.stdout)")
            #expect(try connection.queryValue(Int.self, "SELECT max(version) FROM schema_migrations") == all.last?.version)

            // A checksum nobody committed: refused as before, with no way around it.
            try connection.execute("DELETE FROM schema_migrations WHERE version > 9")
            try connection.execute("UPDATE schema_migrations SET checksum = $1 WHERE version = 9", [String(repeating: "0", count: 64)])
            let refused = try await BankSyncProcess.run(["migrate"], environment: environment)
            #expect(refused.status == 3)
            #expect(refused.stderr.contains("migration 0009_identity (version 9) was edited after it was applied"), "\(refused.stderr)")
            #expect(try connection.queryValue(Int.self, "SELECT max(version) FROM schema_migrations") == 9)
        }
    }
}
